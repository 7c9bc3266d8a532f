#!/bin/sh
# The machine's tools the project needs, installed from Debian's packages when missing:
#   postgresql  - tests and `make demo` start a throwaway cluster from its binaries
#   espeak-ng, sox - `ivr-app prompts build` renders text prompts to WAV
#   openssh-client/-server - `ivr-app dialplan deploy --host` (tests run a throwaway sshd)
set -eu
have_pg() {
    command -v initdb >/dev/null 2>&1 && return 0
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && return 0
    done
    return 1
}
missing=""
have_pg || missing="$missing postgresql"
command -v espeak-ng >/dev/null 2>&1 || missing="$missing espeak-ng"
command -v sox >/dev/null 2>&1 || missing="$missing sox"
command -v ssh >/dev/null 2>&1 || missing="$missing openssh-client"
[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing >/dev/null
    exit 0
fi
echo "missing tools:$missing; install these Debian packages (or set DATABASE_URL for the" >&2
echo "database part)" >&2
exit 1
