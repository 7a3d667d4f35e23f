#!/usr/bin/env bash
# 14-administration / daemon-json: a daemon.json that moves the store to
# labs/14-administration/donnees (and its run directory beside it) and gives the default
# bridge 10.14.0.1/24; then the container n14-ailleurs created in that store, from a busybox
# copied there with save | load (a new data root starts empty).
# Under batch grading the labs/ directory is $PYKER_LAB_DIR.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
labs=${PYKER_LAB_DIR:-$(cd "$here/../.." && pwd)}
lab="$labs/14-administration"
mkdir -p "$lab"
cat > "$lab/daemon.json" <<JSON
{
  "data-root": "$lab/donnees",
  "exec-root": "$lab/donnees-run",
  "bip": "10.14.0.1/24"
}
JSON
# The store variables pass before the file: without them, data-root and exec-root count.
other() { env -u PYKER_DATA_ROOT -u PYKER_RUN_ROOT PYKER_DAEMON_CONFIG="$lab/daemon.json" pyker "$@"; }
other rm -f n14-ailleurs > /dev/null 2>&1 || true
pyker save busybox | other load
other create --name n14-ailleurs busybox echo "je vis ailleurs"
other info | grep -E 'Docker Root Dir|Config File'
