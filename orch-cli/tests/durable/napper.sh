#!/bin/sh
# Adds ten to `n`. The first call records its process id and naps, long enough to be cut off;
# later calls answer at once.
n=$(sed -n 's/.*"n":\([0-9]*\).*/\1/p')
echo "$ORCH_STATE $ORCH_IDEMPOTENCY_KEY" >> calls.log
if [ ! -e napper.pid ]; then
    echo $$ > napper.pid
    sleep 5
fi
echo $((n + 10))
