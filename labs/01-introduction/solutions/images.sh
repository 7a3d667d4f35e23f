#!/usr/bin/env bash
# The lab images the exercises use (figlet and nginx, from labs/images, built by `make lab`)
# copied from the lab's store into the current one when it lacks them: a test's private store
# (PYKER_DATA_ROOT) starts with busybox only. A student's store has them.
set -euo pipefail
for image in figlet nginx; do
    if ! pyker image inspect "$image" > /dev/null 2>&1; then
        env -u PYKER_DATA_ROOT -u PYKER_RUN_ROOT -u PYKER_DAEMON_CONFIG pyker save "$image" \
            | pyker load -q
    fi
done
