#!/usr/bin/env bash
# Requests changes to the first round and approves the second.
set -euo pipefail
request=$(cat)
case "$request" in
    *"round 1<"*) echo '{"outcome": "changes_requested", "output": "add a menu"}' ;;
    *) echo '{"outcome": "approved", "output": {"score": 0.9}}' ;;
esac
