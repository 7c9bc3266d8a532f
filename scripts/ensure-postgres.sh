#!/bin/sh
# Make sure a PostgreSQL server (initdb, pg_ctl, postgres) is on this machine.
# Tests and `make demo` start their own throwaway cluster from these binaries.
set -eu
have_pg() {
    command -v initdb >/dev/null 2>&1 && return 0
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && return 0
    done
    return 1
}
have_pg && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "PostgreSQL server binaries not found: installing the Debian package 'postgresql'"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
    have_pg && exit 0
fi
echo "PostgreSQL server binaries (initdb, pg_ctl) not found; install the 'postgresql' package" >&2
echo "or set DATABASE_URL to a server that answers." >&2
# DATABASE_URL alone is enough: let the tests decide whether it answers.
[ -n "${DATABASE_URL:-}" ] && exit 0
exit 1
