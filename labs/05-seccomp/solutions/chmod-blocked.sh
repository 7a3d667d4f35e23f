#!/usr/bin/env bash
# 05-seccomp / chmod-blocked: a container whose seccomp filter answers EPERM to the chmod
# family (chmod, fchmod, fchmodat, fchmodat2) and allows everything else.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pyker rm -f nochmod > /dev/null 2>&1 || true
pyker run -d --name nochmod --security-opt "seccomp=$here/chmod-blocked.json" busybox sleep 3600
