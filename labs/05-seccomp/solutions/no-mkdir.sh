#!/usr/bin/env bash
# 05-seccomp / no-mkdir: put the solution profile where the student's goes
# (labs/05-seccomp/no-mkdir.json, or under $PYKER_LAB_DIR when grading in batch),
# then show it at work: mkdir refused, the rest fine.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
labs=${PYKER_LAB_DIR:-$(cd "$here/../.." && pwd)}
mkdir -p "$labs/05-seccomp"
cp "$here/no-mkdir.json" "$labs/05-seccomp/no-mkdir.json"
profile="seccomp=$labs/05-seccomp/no-mkdir.json"
if pyker run --rm --network none --security-opt "$profile" busybox mkdir /tmp/d; then
    echo "no-mkdir: mkdir should have failed" >&2
    exit 1
fi
pyker run --rm --network none --security-opt "$profile" busybox ls /
