#!/usr/bin/env bash
# Implements the specification in plain shell; each round counts up.
set -euo pipefail
specs=$(sed -n 's/.*"specs":"\([^"]*\)".*/\1/p')
round=$(( $(cat .code-rounds 2>/dev/null || echo 0) + 1 ))
echo "$round" > .code-rounds
echo "{\"outcome\": \"ok\", \"output\": \"<html><!-- $specs --> round $round</html>\"}"
