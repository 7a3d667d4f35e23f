#!/usr/bin/env bash
# 13-compose / stack: the solution file where the student's goes
# (labs/13-compose/exercice/compose.yaml, or under $PYKER_LAB_DIR when grading in batch),
# then the project n13 started from it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
labs=${PYKER_LAB_DIR:-$(cd "$here/../.." && pwd)}
bash "$here/images.sh"
mkdir -p "$labs/13-compose/exercice"
# The counter's source, mounted by the file as ../web (present in a labs/ copy already).
[ -f "$labs/13-compose/web/app.py" ] || cp -r "$here/../web" "$labs/13-compose/"
cp "$here/compose.yaml" "$labs/13-compose/exercice/compose.yaml"
pyker compose -f "$labs/13-compose/exercice/compose.yaml" up -d
