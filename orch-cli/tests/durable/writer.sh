#!/bin/sh
# Drafts a post about the title; logs each call.
title=$(sed -n 's/.*"title":"\([^"]*\)".*/\1/p')
echo "$ORCH_STATE $ORCH_IDEMPOTENCY_KEY" >> calls.log
echo "\"a draft about $title\""
