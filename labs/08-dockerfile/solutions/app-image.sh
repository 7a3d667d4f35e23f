#!/usr/bin/env bash
# 08-dockerfile / app-image: the solution Dockerfile put where the student's goes
# (labs/08-dockerfile/app/Dockerfile, or under $PYKER_LAB_DIR when grading in batch), next to
# the site it serves, then built as n08-app.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
labs=${PYKER_LAB_DIR:-$(cd "$here/../.." && pwd)}
app="$labs/08-dockerfile/app"
mkdir -p "$app"
if [ ! -d "$app/www" ]; then
    cp -r "$here/../app/www" "$app/www"
fi
cp "$here/app/Dockerfile" "$app/Dockerfile"
pyker build -q -t n08-app "$app"
