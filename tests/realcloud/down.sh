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

# TERM every process group up.sh created (setsid) at once, wait up to 10 s, then KILL what is left.
pids=()
for s in nova-compute nova-scheduler nova-conductor nova-api placement-api network-standin \
         glance-api cinder-volume cinder-scheduler cinder-api keystone; do
    f="$RUN/$s.pid"
    [ -s "$f" ] || continue
    pid="$(cat "$f")"
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q realcloud; then
        echo "stopping $s (pid $pid)"
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        pids+=("$pid")
    fi
    rm -f "$f"
done
for _ in $(seq 40); do
    left=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
    [ "$left" = 0 ] && break
    sleep 0.25
done
for pid in "${pids[@]}"; do
    # the leader, and children that outlived it (privsep helpers, workers), are in its process group
    kill -0 "$pid" 2>/dev/null && echo "  pid $pid still alive after 10 s: SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || true
done

rm -f "$RC/env"   # the env file means "up": tests skip without it

if [ "$PURGE" = 1 ]; then
    for db in keystone cinder glance nova_api nova_cell0 nova placement; do
        mysql -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS realcloud_$db" 2>/dev/null \
            && echo "dropped database realcloud_$db" || echo "could not drop realcloud_$db (MariaDB down?)"
    done
    for vhost in realcloud realcloud_nova; do
        if command -v rabbitmqctl >/dev/null && rabbitmqctl -q list_vhosts 2>/dev/null | grep -qx "$vhost"; then
            rabbitmqctl -q delete_vhost "$vhost" >/dev/null && echo "deleted RabbitMQ vhost $vhost"
        fi
    done
    rm -rf "$RC/state" "$RC/etc" "$RC/run" "$RC/log" "$RC/env"
    echo "purged $RC (venvs kept: rm -rf $RC/venv $RC/venv-nova to drop them too)"
fi
