#!/usr/bin/env bash
# 02-namespaces / hostname: a container with a UTS namespace of its own, named tp-namespaces.
# -h sets the hostname inside the container's new UTS namespace; the host's is untouched.
set -euo pipefail
pyker rm -f ns-uts > /dev/null 2>&1 || true
pyker run -d --name ns-uts --hostname tp-namespaces busybox sleep 3600
