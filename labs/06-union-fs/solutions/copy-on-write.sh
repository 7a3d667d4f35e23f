#!/usr/bin/env bash
# 06-union-fs / copy-on-write: a busybox container in which /etc/passwd gets a user appended
# (overlay copies the whole file up into the upper dir, then the line is added) and
# /etc/network is deleted with its contents (overlay leaves one whiteout, a 0:0 character
# device, in its place in the upper dir).
set -euo pipefail
pyker rm -f n06-cow > /dev/null 2>&1 || true
pyker run -d --name n06-cow busybox sleep 3600
pyker exec n06-cow sh -c 'echo "tp06:x:1006:100:TP 06:/tmp:/bin/sh" >> /etc/passwd && rm -r /etc/network'
pyker diff n06-cow
