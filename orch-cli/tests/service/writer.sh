#!/bin/sh
# Drafts a post about the title.
title=$(sed -n 's/.*"title":"\([^"]*\)".*/\1/p')
echo "\"a draft about $title\""
