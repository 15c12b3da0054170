#!/usr/bin/env bash
# Records its process id, then sleeps in a child process until it is killed.
echo $$ > sleeper.pid
sleep 30
echo '"rested"'
