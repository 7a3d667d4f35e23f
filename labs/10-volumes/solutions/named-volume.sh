#!/usr/bin/env bash
# 10-volumes / named-volume: a container that exists only long enough to write message.txt
# into the named volume n10-data (created by this first mount); --rm removes it on exit,
# the volume stays.
set -euo pipefail
pyker run --rm --network none -v n10-data:/data busybox \
    sh -c 'echo "les données restent" > /data/message.txt'
