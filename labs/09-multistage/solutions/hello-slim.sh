#!/usr/bin/env bash
# 09-multistage / hello-slim: the solution Dockerfile put where the student's goes
# (labs/09-multistage/hello/Dockerfile, or under $PYKER_LAB_DIR when grading in batch), next to
# bonjour.c, then built as n09-hello with the offline Debian depot (apt in the build stage).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
labs=${PYKER_LAB_DIR:-$(cd "$here/../.." && pwd)}
ctx="$labs/09-multistage/hello"
mkdir -p "$ctx"
[ -f "$ctx/bonjour.c" ] || cp "$here/../hello/bonjour.c" "$ctx/bonjour.c"
cp "$here/hello/Dockerfile" "$ctx/Dockerfile"
# A store of its own (the tests' has only busybox) gets debian:bookworm from the lab's store.
if ! pyker image inspect debian:bookworm > /dev/null 2>&1; then
    env -u PYKER_DATA_ROOT -u PYKER_RUN_ROOT -u PYKER_DAEMON_CONFIG pyker save debian:bookworm \
        | pyker load -q
fi
python3 "$here/../paquets.py" construire -q -t n09-hello "$ctx"
