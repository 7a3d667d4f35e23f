#!/usr/bin/env bash
# 10-volumes / readonly-site: busybox httpd serving the lab's site/ directory, bind-mounted
# read-only on /www. The directory is the one under $PYKER_LAB_DIR when grading in batch
# (filled from this lab's site/ if it is not there yet), else the repository's labs/.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
labs=${PYKER_LAB_DIR:-$(cd "$here/../.." && pwd)}
site="$labs/10-volumes/site"
if [ ! -f "$site/index.html" ]; then
    mkdir -p "$site"
    cp "$here/../site/index.html" "$site/index.html"
fi
pyker rm -f n10-web > /dev/null 2>&1 || true
pyker run -d --name n10-web -v "$site:/www:ro" busybox httpd -f -p 80 -h /www
