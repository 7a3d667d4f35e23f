#!/usr/bin/env bash
# 14-administration / flaky: a container whose command fails after a second, restarted by
# the engine (unless-stopped) until RestartCount reaches 3, then stopped by hand — which
# unless-stopped honours: it stays exited.
set -euo pipefail
pyker rm -f n14-flaky > /dev/null 2>&1 || true
pyker run -d --name n14-flaky --restart unless-stopped busybox sh -c 'sleep 1; exit 1'
for _ in $(seq 1 150); do
    [ "$(pyker inspect -f '{{.RestartCount}}' n14-flaky)" -ge 3 ] && break
    sleep 0.1
done
pyker stop n14-flaky
pyker inspect -f '{{.State.Status}} RestartCount={{.RestartCount}}' n14-flaky
