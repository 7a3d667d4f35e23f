#!/usr/bin/env bash
# 12-logs-monitoring / log-rotation: n12-logs prints 1..5000 through the json-file driver,
# rotated at 10 kB (10k: decimal, as Docker) with 3 files in all, the current one included.
# About 70 bytes of JSON per line: 5000 lines are ~350 kB, of which ~30 kB are kept.
set -euo pipefail
pyker rm -f n12-logs > /dev/null 2>&1 || true
pyker run -d --name n12-logs --log-driver json-file \
    --log-opt max-size=10k --log-opt max-file=3 busybox seq 5000
pyker wait n12-logs
