#!/usr/bin/env bash
# 03-cgroups / pids: --pids-limit writes pids.max of the container's cgroup.
set -euo pipefail
pyker rm -f limited > /dev/null 2>&1 || true
pyker run -d --name limited --pids-limit 50 busybox sleep 3600
