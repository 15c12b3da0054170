#!/bin/sh
# Answers with the request itself: its output is the request.
cat
