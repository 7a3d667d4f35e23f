#!/usr/bin/env bash
# 15-twelve-factor / graceful: the solved worker where the student's goes
# (labs/15-twelve-factor/exercice/worker.py, or under $PYKER_LAB_DIR when grading in batch),
# run as n15-worker in the python image, then stopped by `pyker stop -t 3`: it exits 0.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
labs=${PYKER_LAB_DIR:-$(cd "$here/../.." && pwd)}
bash "$here/../../13-compose/solutions/images.sh"     # busybox, python, redis in this store
mkdir -p "$labs/15-twelve-factor/exercice"
cp "$here/worker.py" "$labs/15-twelve-factor/exercice/worker.py"
pyker rm -f n15-worker > /dev/null 2>&1 || true
pyker run -d --name n15-worker -v "$labs/15-twelve-factor/exercice:/app:ro" python \
    python3 /app/worker.py > /dev/null
# Stop it once it runs its loop (its first line is printed then).
end=$((SECONDS + 30))  # a loaded machine starts python slowly
until pyker logs n15-worker 2>/dev/null | grep -q "worker prêt" || [ "$SECONDS" -ge "$end" ]; do
    sleep 0.1
done
pyker stop -t 3 n15-worker > /dev/null
