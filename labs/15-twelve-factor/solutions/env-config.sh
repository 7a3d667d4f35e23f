#!/usr/bin/env bash
# 15-twelve-factor / env-config: the message API of TP 13 (labs/13-compose/messages) built
# as n15-message-app:v1, run as n15-config beside the Redis n15-cache on the user network
# n15-ex, with its whole configuration in its environment (an env file here).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
labs=${PYKER_LAB_DIR:-$(cd "$here/../.." && pwd)}
bash "$here/../../13-compose/solutions/images.sh"     # busybox, python, redis in this store
pyker build -q -t n15-message-app:v1 "$here/../../13-compose/messages" > /dev/null
pyker network inspect n15-ex > /dev/null 2>&1 || pyker network create n15-ex > /dev/null
pyker run -d --name n15-cache --network n15-ex redis > /dev/null
mkdir -p "$labs/15-twelve-factor/exercice"
printf 'REDIS_URL=redis://n15-cache:6379/0\nPORT=8000\n' \
    > "$labs/15-twelve-factor/exercice/config.env"
pyker run -d --name n15-config --init --network n15-ex \
    --env-file "$labs/15-twelve-factor/exercice/config.env" n15-message-app:v1 > /dev/null
