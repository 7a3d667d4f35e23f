#!/usr/bin/env bash
# 06-union-fs / hand-overlay: two lower layers, an upper and a work dir under
# labs/06-union-fs/overlay (or $PYKER_LAB_DIR/06-union-fs/overlay when grading in batch),
# the overlay mounted on vue/, then a write and a delete made through vue/ only.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
labs=${PYKER_LAB_DIR:-$(cd "$here/../.." && pwd)}
base="$labs/06-union-fs/overlay"
# A previous attempt may still be mounted (perhaps twice): unmount it all, then start over.
while mountpoint -q "$base/vue" 2> /dev/null; do umount "$base/vue"; done
rm -rf "${base:?}"
mkdir -p "$base"/{couche1,couche2,haut,travail,vue}
echo 1 > "$base/couche1/version.txt"
echo "un fichier de la couche du bas" > "$base/couche1/ancien.txt"
echo 2 > "$base/couche2/version.txt"
mount -t overlay overlay \
    -o "lowerdir=$base/couche2:$base/couche1,upperdir=$base/haut,workdir=$base/travail" \
    "$base/vue"
echo "note du TP 06" > "$base/vue/notes.txt"
rm "$base/vue/ancien.txt"
ls -l "$base/haut"
