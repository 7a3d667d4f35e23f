#!/usr/bin/env bash
# 09-multistage / build-target: n09-hello first (hello-slim.sh), then the same Dockerfile
# stopped at its "build" stage as n09-build; the build cache gives both the same program.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
labs=${PYKER_LAB_DIR:-$(cd "$here/../.." && pwd)}
bash "$here/hello-slim.sh"
python3 "$here/../paquets.py" construire -q --target build -t n09-build "$labs/09-multistage/hello"
