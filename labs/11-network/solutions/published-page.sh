#!/usr/bin/env bash
# 11-network / published-page: busybox httpd serving a page on port 80 of n11-site,
# published on the host's port 8011 at 127.0.0.1 only (a DNAT rule with -d 127.0.0.1/32).
set -euo pipefail
pyker rm -f n11-site > /dev/null 2>&1 || true
pyker run -d --name n11-site -p 127.0.0.1:8011:80 busybox \
    sh -c 'mkdir -p /www && echo "<h1>Bienvenue sur le site n11</h1>" > /www/index.html &&
           exec httpd -f -p 80 -h /www'
