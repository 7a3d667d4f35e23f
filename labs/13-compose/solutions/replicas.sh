#!/usr/bin/env bash
# 13-compose / replicas: both solution files where the student's go, then the project n13
# started from the two merged (web, cache and the three whoami replicas).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
labs=${PYKER_LAB_DIR:-$(cd "$here/../.." && pwd)}
bash "$here/images.sh"
mkdir -p "$labs/13-compose/exercice"
[ -f "$labs/13-compose/web/app.py" ] || cp -r "$here/../web" "$labs/13-compose/"
cp "$here/compose.yaml" "$here/replicas.yaml" "$labs/13-compose/exercice/"
exercice="$labs/13-compose/exercice"
pyker compose -f "$exercice/compose.yaml" -f "$exercice/replicas.yaml" up -d
