#!/usr/bin/env bash
# 11-network / user-network: a bridge network n11-net on 10.11.0.0/24, n11-api at 10.11.0.10
# with the network alias "api", and n11-client; the embedded DNS resolves both names.
set -euo pipefail
pyker rm -f n11-api n11-client > /dev/null 2>&1 || true
pyker network rm n11-net > /dev/null 2>&1 || true
pyker network create --subnet 10.11.0.0/24 n11-net
pyker run -d --name n11-api --network n11-net --ip 10.11.0.10 --network-alias api \
    busybox sleep 3600
pyker run -d --name n11-client --network n11-net busybox sleep 3600
pyker exec n11-client ping -c 1 api
