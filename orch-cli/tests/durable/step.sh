#!/bin/sh
# Adds one to `n`; logs each call.
n=$(sed -n 's/.*"n":\([0-9]*\).*/\1/p')
echo "$ORCH_STATE $ORCH_IDEMPOTENCY_KEY" >> calls.log
echo $((n + 1))
