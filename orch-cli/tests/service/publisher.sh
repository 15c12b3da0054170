#!/bin/sh
# Publishes the draft, naming the editor.
request=$(cat)
draft=$(echo "$request" | sed -n 's/.*"draft":"\([^"]*\)".*/\1/p')
editor=$(echo "$request" | sed -n 's/.*"editor":"\([^"]*\)".*/\1/p')
echo "{\"outcome\": \"ok\", \"output\": \"published $draft, approved by $editor\"}"
