#!/usr/bin/env bash
# Writes a specification; the first call fails with exit 75 (try again later).
set -euo pipefail
request=$(cat)
if [ ! -e .specs-busy ]; then
    touch .specs-busy
    echo "the product manager is busy" >&2
    exit 75
fi
printf '%s' "$request" | python3 -c '
import json, sys
request = json.load(sys.stdin)
goal = request["input"]["goal"]
pages = request["input"]["pages"]
attempt = request["attempt"]
print(json.dumps(f"spec: {goal}; {pages} pages (attempt {attempt})"))
'
