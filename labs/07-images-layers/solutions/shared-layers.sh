#!/usr/bin/env bash
# 07-images-layers / shared-layers: put the two solution Dockerfiles where the student's go
# (labs/07-images-layers/partage/, or under $PYKER_LAB_DIR when grading in batch), then
# build n07-base first and n07-app second: the build cache hands n07-app the layers of the
# three lines they have in common, and only its last RUN makes a new layer.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
labs=${PYKER_LAB_DIR:-$(cd "$here/../.." && pwd)}
dir="$labs/07-images-layers/partage"
mkdir -p "$dir"
cp "$here/partage/Dockerfile.base" "$here/partage/Dockerfile.app" "$dir/"
pyker build -q -t n07-base -f "$dir/Dockerfile.base" "$dir"
pyker build -q -t n07-app -f "$dir/Dockerfile.app" "$dir"
pyker history --format '{{.ID}}  {{.CreatedBy}}' n07-app
