#!/usr/bin/env bash
# 04-capabilities / bind-80: busybox httpd on port 80 as uid 1000, with CAP_NET_BIND_SERVICE
# as its only capability.
#
# For a non-root uid, --cap-add only fills the bounding set: the kernel computes the
# effective set at execve from the *file's* capabilities (capabilities(7)). So the httpd
# binary carries cap_net_bind_service=+ep (the security.capability xattr), and
# --cap-drop ALL --cap-add NET_BIND_SERVICE leaves that capability as the only one the
# bounding set lets through.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"; pyker rm -f web80-build > /dev/null 2>&1 || true' EXIT
pyker rm -f web80 web80-build > /dev/null 2>&1 || true

# The image's own busybox, copied out, given the file capability, copied back in.
pyker create --name web80-build busybox true > /dev/null
mkdir "$work/web"
pyker cp web80-build:/bin/busybox "$work/web/httpd"
if command -v setcap > /dev/null; then
    setcap cap_net_bind_service=+ep "$work/web/httpd"
else
    # What setcap writes: struct vfs_cap_data, revision 2, effective flag, permitted bit 10.
    python3 -c 'import os, struct, sys
os.setxattr(sys.argv[1], "security.capability", struct.pack("<5I", 0x02000001, 1 << 10, 0, 0, 0))' \
        "$work/web/httpd"
fi
# Copied as a directory: pyker keeps the xattrs of a directory's files, not yet those of a
# single file given to cp or COPY.
pyker cp "$work/web" web80-build:/web
pyker commit web80-build web80-cap > /dev/null

# busybox picks the applet from its name: /web/httpd is httpd.
pyker run -d --name web80 --user 1000:1000 --cap-drop ALL --cap-add NET_BIND_SERVICE \
    web80-cap /web/httpd -f -p 80
