#!/usr/bin/env bash
# 07-images-layers / commit: a busybox container gets a file and loses /home, then
# `pyker commit` turns its upper directory into one layer on top of busybox's, with a
# message, a CMD and a label applied to the new image's config.
set -euo pipefail
pyker rm -f n07-source > /dev/null 2>&1 || true
pyker run -d --name n07-source busybox sleep 3600
pyker exec n07-source sh -c 'mkdir -p /srv && echo "figé par pyker commit" > /srv/message.txt && rm -r /home'
pyker diff n07-source
pyker commit -m "TP 07" -c 'CMD ["cat", "/srv/message.txt"]' -c 'LABEL tp=07' \
    n07-source n07-commit:1.0
pyker run --rm n07-commit:1.0
