#!/usr/bin/env bash
# Stop the realcloud processes that up.sh started (by their pid files); keep databases, state and venv.
#
#   tests/realcloud/down.sh            stop
#   tests/realcloud/down.sh --purge    stop, drop the realcloud_* databases and the RabbitMQ vhost, delete
#                                      state, config, logs and the env file (the venv is kept)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/../.." && pwd))"
RC="${REALCLOUD_DIR:-$ROOT/.cache/realcloud}"
RUN="$RC/run"
PURGE=0
case "${1:-}" in
    --purge) PURGE=1 ;;
    "") ;;
    *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
esac

stop() { # stop NAME: TERM the process group up.sh created (setsid), then KILL what is left
    local f="$RUN/$1.pid" pid
    [ -s "$f" ] || return 0
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null; then
        echo "stopping $1 (pid $pid)"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "  $1 still alive after 10 s: SIGKILL"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    # children that outlived the leader (e.g. privsep helpers) are still in the group
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$f"
}

for s in glance-api cinder-volume cinder-scheduler cinder-api keystone; do
    stop "$s"
done

if [ "$PURGE" = 1 ]; then
    for db in keystone cinder glance; do
        mysql -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS realcloud_$db" 2>/dev/null \
            && echo "dropped database realcloud_$db" || echo "could not drop realcloud_$db (MariaDB down?)"
    done
    if command -v rabbitmqctl >/dev/null && rabbitmqctl -q list_vhosts 2>/dev/null | grep -qx realcloud; then
        rabbitmqctl -q delete_vhost realcloud >/dev/null && echo "deleted RabbitMQ vhost realcloud"
    fi
    rm -rf "$RC/state" "$RC/etc" "$RC/run" "$RC/log" "$RC/env"
    echo "purged $RC (venv kept: rm -rf $RC/venv to drop it too)"
fi
