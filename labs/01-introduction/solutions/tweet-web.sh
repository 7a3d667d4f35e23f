#!/usr/bin/env bash
# 01-introduction / tweet-web: nginx serving labs/01-introduction/tweet-app (bind mount on its
# document root), published on the host's port 8101.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
labs=${PYKER_LAB_DIR:-$(cd "$here/../.." && pwd)}
bash "$here/images.sh"
# The site (given with the lab; absent from a fresh $PYKER_LAB_DIR).
[ -f "$labs/01-introduction/tweet-app/index.html" ] || {
    mkdir -p "$labs/01-introduction"
    cp -r "$here/../tweet-app" "$labs/01-introduction/"
}
pyker rm -f n01-web > /dev/null 2>&1 || true
pyker run -d --name n01-web -p 8101:80 \
    --mount "type=bind,source=$labs/01-introduction/tweet-app,target=/usr/share/nginx/html" nginx
