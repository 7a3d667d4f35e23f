#!/usr/bin/env bash
# 04-capabilities / no-chown: Docker's default set minus CAP_CHOWN, for a root process.
# --cap-drop removes it from the bounding set too, so no execve can bring it back.
set -euo pipefail
pyker rm -f nochown > /dev/null 2>&1 || true
pyker run -d --name nochown --cap-drop CHOWN busybox sleep 3600
