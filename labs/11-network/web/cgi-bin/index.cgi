#!/bin/sh
# La « web » du cours (chrch/web) en miniature, en CGI pour le httpd de busybox : elle
# demande sa page à la « base », dont le nom arrive par la variable d'environnement DB
# (pyker run -e DB=...), et rend la réponse. Le nom est résolu par le DNS du réseau.
echo "Content-Type: text/plain; charset=utf-8"
echo
echo "web a demandé à $DB, qui répond : $(wget -qO- "http://$DB/" 2>&1)"
