#!/bin/sh
# jekyll build --destination=DIR : /data/_config.yml (ligne « title: ») et les billets
# /data/_posts/*.txt (1re ligne : le titre, la suite : le texte) deviennent DIR/index.html.
# Les messages imitent ceux de jekyll 2.5, que le cours montre avec `docker logs`.
set -eu
dest=/var/www/html
for arg in "$@"; do
    case "$arg" in
        --destination=*) dest=${arg#--destination=} ;;
    esac
done
echo "Configuration file: /data/_config.yml"
echo "            Source: /data"
echo "       Destination: $dest"
echo "      Generating..."
title=$(sed -n 's/^title: *//p' /data/_config.yml)
{
    echo "<html><head><meta charset=\"utf-8\"><title>$title</title></head><body>"
    echo "<h1>$title</h1>"
    for post in /data/_posts/*.txt; do
        [ -f "$post" ] || continue
        echo "<h2>$(head -n 1 "$post")</h2>"
        echo "<p>$(tail -n +2 "$post")</p>"
    done
    echo "</body></html>"
} > "$dest/index.html"
echo "                    done."
echo " Auto-regeneration: disabled. Use --watch to enable."
