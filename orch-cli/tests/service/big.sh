#!/bin/sh
# Answers with a string of 5,000 characters.
cat > /dev/null
printf '"%s"\n' "$(head -c 5000 /dev/zero | tr '\0' x)"
