#!/usr/bin/env bash
# 03-cgroups / memory: -m writes memory.limit_in_bytes (cgroup v1) or memory.max (v2).
set -euo pipefail
pyker rm -f capped > /dev/null 2>&1 || true
pyker run -d --name capped --memory 64m busybox sleep 3600
