#!/bin/sh
# Publishes the draft, naming the editor; logs each call.
request=$(cat)
draft=$(echo "$request" | sed -n 's/.*"draft":"\([^"]*\)".*/\1/p')
editor=$(echo "$request" | sed -n 's/.*"editor":"\([^"]*\)".*/\1/p')
echo "$ORCH_STATE $ORCH_IDEMPOTENCY_KEY" >> calls.log
echo "{\"outcome\": \"ok\", \"output\": \"published $draft, approved by $editor\"}"
