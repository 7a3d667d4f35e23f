#!/usr/bin/env bash
# 08-dockerfile / no-secrets: the solution .dockerignore put where the student's goes
# (labs/08-dockerfile/site/.dockerignore, or under $PYKER_LAB_DIR in batch), then the site
# built as n08-site with the Dockerfile given.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
labs=${PYKER_LAB_DIR:-$(cd "$here/../.." && pwd)}
site="$labs/08-dockerfile/site"
if [ ! -f "$site/Dockerfile" ]; then
    mkdir -p "$labs/08-dockerfile"
    cp -r "$here/../site" "$site"
    rm -f "$site/.dockerignore"
fi
cp "$here/dockerignore" "$site/.dockerignore"
pyker build -q -t n08-site "$site"
