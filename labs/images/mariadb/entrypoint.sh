#!/bin/sh
# First start on an empty data directory: create the system tables, then apply the
# MYSQL_*/MARIADB_* variables with the server running without networking. Later starts
# (same volume) go straight to the server.
set -e
ROOT_PASSWORD="${MARIADB_ROOT_PASSWORD:-$MYSQL_ROOT_PASSWORD}"
if [ ! -d /var/lib/mysql/mysql ]; then
    if [ -z "$ROOT_PASSWORD" ] && [ -z "$MYSQL_ALLOW_EMPTY_PASSWORD" ]; then
        echo "error: database is uninitialized and password option is not specified" >&2
        echo "  You need to specify one of MYSQL_ROOT_PASSWORD or MYSQL_ALLOW_EMPTY_PASSWORD" >&2
        exit 1
    fi
    echo "Initializing database"
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db > /dev/null
    mariadbd --user=mysql --skip-networking --socket=/run/mysqld/init.sock &
    pid=$!
    for _ in $(seq 50); do
        mariadb-admin --socket=/run/mysqld/init.sock ping > /dev/null 2>&1 && break
        sleep 0.2
    done
    {
        echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '${ROOT_PASSWORD}';"
        echo "CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '${ROOT_PASSWORD}';"
        echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
        [ -n "$MYSQL_DATABASE" ] && echo "CREATE DATABASE IF NOT EXISTS \`${MYSQL_DATABASE}\`;"
        if [ -n "$MYSQL_USER" ]; then
            echo "CREATE USER '${MYSQL_USER}'@'%' IDENTIFIED BY '${MYSQL_PASSWORD}';"
            [ -n "$MYSQL_DATABASE" ] && echo "GRANT ALL ON \`${MYSQL_DATABASE}\`.* TO '${MYSQL_USER}'@'%';"
        fi
        echo "FLUSH PRIVILEGES;"
    } | mariadb --socket=/run/mysqld/init.sock -uroot
    kill "$pid"
    wait "$pid" || true
    echo "Database initialized"
fi
exec "$@"
