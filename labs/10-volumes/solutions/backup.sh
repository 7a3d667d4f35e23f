#!/usr/bin/env bash
# 10-volumes / backup: the course's tar backup, with the volume n10-data mounted on /data
# and the lab directory on /backup, in a container removed on exit. The volume is made by
# the named-volume solution first if it is missing.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
labs=${PYKER_LAB_DIR:-$(cd "$here/../.." && pwd)}
mkdir -p "$labs/10-volumes"
if ! pyker volume inspect n10-data > /dev/null 2>&1; then
    bash "$here/named-volume.sh"
fi
pyker run --rm --network none -v n10-data:/data -v "$labs/10-volumes:/backup" busybox \
    tar cvf /backup/backup.tar /data
tar tvf "$labs/10-volumes/backup.tar"
