#!/usr/bin/env bash
# 12-logs-monitoring / cpu-limit: a busy loop that the CFS bandwidth controller holds to half
# a CPU (--cpus 0.5: a 50 ms quota every 100 ms period).
set -euo pipefail
pyker rm -f n12-limited > /dev/null 2>&1 || true
pyker run -d --name n12-limited --cpus 0.5 busybox sh -c 'while :; do :; done'
