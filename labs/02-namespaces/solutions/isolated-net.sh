#!/usr/bin/env bash
# 02-namespaces / isolated-net: a network namespace with nothing but the loopback interface.
# --network none creates the namespace and plugs no veth into it.
set -euo pipefail
pyker rm -f ns-none > /dev/null 2>&1 || true
pyker run -d --name ns-none --network none busybox sleep 3600
