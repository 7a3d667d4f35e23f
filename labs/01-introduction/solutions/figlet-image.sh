#!/usr/bin/env bash
# 01-introduction / figlet-image: the solution Dockerfile where the student's goes
# (labs/01-introduction/figlet/Dockerfile, or under $PYKER_LAB_DIR when grading in batch),
# then the image n01-figlet built from it and run once without and once with a word.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
labs=${PYKER_LAB_DIR:-$(cd "$here/../.." && pwd)}
bash "$here/images.sh"
mkdir -p "$labs/01-introduction/figlet"
cp "$here/figlet/Dockerfile" "$labs/01-introduction/figlet/Dockerfile"
pyker build -q -t n01-figlet "$labs/01-introduction/figlet" > /dev/null
pyker run --rm --network none n01-figlet
pyker run --rm --network none n01-figlet Docker
