#!/usr/bin/env bash
# Stand up a real Keystone 30 + Cinder 29 (+ Glance 33) from PyPI on loopback, for volpanel's tests.
#
#   tests/realcloud/up.sh            start (or keep) everything, wait until healthy, write the env file
#
# Idempotent: a second run while everything is up returns in seconds; after a reboot-like state (processes gone,
# venv kept) it restarts what is missing. Environment knobs:
#   REALCLOUD_GLANCE=0        leave Glance out (no image service; uploads answer 400)
#   REALCLOUD_DIR=...         state folder (default <repo>/.cache/realcloud)
#   REALCLOUD_PYTHON=...      interpreter for the venv (default python3)
#   REALCLOUD_INSTALL_ONLY=1  install the packages and the venv, start nothing (`make test` does this early)
# See docs/realcloud.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/../.." && pwd))"
RC="${REALCLOUD_DIR:-$ROOT/.cache/realcloud}"
VENV="$RC/venv"; LOG="$RC/log"; RUN="$RC/run"; ETC="$RC/etc"; STATE="$RC/state"
WITH_GLANCE="${REALCLOUD_GLANCE:-1}"
PY="${REALCLOUD_PYTHON:-python3}"

HOST=127.0.0.1
KEYSTONE_PORT=5000; CINDER_PORT=8776; GLANCE_PORT=9292
KEYSTONE_URL="http://$HOST:$KEYSTONE_PORT"; CINDER_URL="http://$HOST:$CINDER_PORT"; GLANCE_URL="http://$HOST:$GLANCE_PORT"
[ "$WITH_GLANCE" = 1 ] || GLANCE_URL=""
DB_PREFIX=realcloud_
DB_URL_BASE="mysql+pymysql://root@$HOST:3306"
RABBIT_VHOST=realcloud
ADMIN_PASSWORD=demo
SERVICE_PASSWORD=realcloud-service
export REALCLOUD_KEYSTONE_URL="$KEYSTONE_URL" REALCLOUD_CINDER_URL="$CINDER_URL" REALCLOUD_GLANCE_URL="$GLANCE_URL"
export REALCLOUD_ADMIN_PASSWORD="$ADMIN_PASSWORD" REALCLOUD_SERVICE_PASSWORD="$SERVICE_PASSWORD"

T0=$EPOCHREALTIME
log() { printf '[realcloud %5ss] %s\n' "$(awk -v a="$EPOCHREALTIME" -v b="$T0" 'BEGIN{printf "%.1f", a-b}')" "$*"; }
die() { echo "realcloud: $*" >&2; exit 1; }
mkdir -p "$LOG" "$RUN" "$ETC" "$STATE"
exec 9>"$RC/.up.lock"
flock -w 600 9 || die "another up.sh holds $RC/.up.lock"   # two runs at once would race on ports and pid files

SERVICES=(keystone cinder-api cinder-scheduler cinder-volume)
[ "$WITH_GLANCE" = 1 ] && SERVICES+=(glance-api)

alive() { # alive NAME: pid file exists and that process lives and is ours (pids are reused after a reboot)
    local f="$RUN/$1.pid" pid
    [ -s "$f" ] || return 1
    pid="$(cat "$f")"
    kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q realcloud
}
port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

write_env() {
    local f="$RC/env"
    cat > "$f.tmp" <<EOF
# written by tests/realcloud/up.sh — source it: . $f
export OS_AUTH_URL=$KEYSTONE_URL/v3
export OS_AUTH_TYPE=password
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=alice
export OS_PASSWORD=demo
export OS_PROJECT_NAME=demo
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
export OS_INTERFACE=public
export OS_VOLUME_API_VERSION=3
export REALCLOUD_ADMIN_USERNAME=admin
export REALCLOUD_ADMIN_PASSWORD=$ADMIN_PASSWORD
export REALCLOUD_ADMIN_PROJECT_NAME=admin
export REALCLOUD_ADMIN_USER_DOMAIN_NAME=Default
export REALCLOUD_ADMIN_PROJECT_DOMAIN_NAME=Default
export REALCLOUD_BOB_USERNAME=bob
export REALCLOUD_BOB_PASSWORD=demo
export REALCLOUD_BOB_PROJECT_NAME=other
export REALCLOUD_KEYSTONE_URL=$KEYSTONE_URL
export REALCLOUD_CINDER_URL=$CINDER_URL
export REALCLOUD_GLANCE_URL=$GLANCE_URL
export REALCLOUD_VOLUME_BACKEND=fake
EOF
    mv "$f.tmp" "$f"
}

print_summary() {
    echo "realcloud is up:"
    echo "  keystone  $KEYSTONE_URL/v3        (log $LOG/keystone.log)"
    echo "  cinder    $CINDER_URL/v3/<project_id>   (logs $LOG/cinder-{api,scheduler,volume}.log)"
    if [ -n "$GLANCE_URL" ]; then echo "  glance    $GLANCE_URL              (log $LOG/glance-api.log)"; fi
    echo "  env file  $RC/env   (alice/demo in project demo; admin/demo; bob/demo in other)"
}

# ---------------------------------------------------------------------------------------------------------------
# Fast path: everything already running and healthy.
all_alive=1
for s in "${SERVICES[@]}"; do alive "$s" || all_alive=0; done
[ "$(cat "$RUN/mode" 2>/dev/null)" = "glance=$WITH_GLANCE" ] || all_alive=0
if [ "$all_alive" = 1 ] && [ -x "$VENV/bin/python" ] && "$VENV/bin/python" "$HERE/seed.py" health 2>/dev/null; then
    write_env
    log "already up"
    print_summary
    exit 0
fi

# ---------------------------------------------------------------------------------------------------------------
# Debian packages (only what is missing; apt-get update only when something is).
need=()
command -v qemu-img >/dev/null || need+=(qemu-utils)          # image conversion for uploads/downloads
command -v mysql >/dev/null || need+=(mariadb-client)
[ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v rabbitmq-server >/dev/null || need+=(rabbitmq-server)
command -v curl >/dev/null || need+=(curl)
if [ "${#need[@]}" -gt 0 ]; then
    log "installing Debian packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >"$LOG/apt.log" 2>&1
    apt-get install -y -qq --no-install-recommends "${need[@]}" >>"$LOG/apt.log" 2>&1 \
        || die "apt-get install failed, see $LOG/apt.log"
fi

# MariaDB and RabbitMQ (this machine kind normally runs both already).
if ! mysqladmin -h "$HOST" -u root ping >/dev/null 2>&1; then
    log "starting MariaDB"
    install -d -o mysql -g mysql /run/mysqld 2>/dev/null || true   # /run is empty after a reboot
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql >/dev/null 2>&1 9>&- || true
    for _ in $(seq 60); do mysqladmin -h "$HOST" -u root ping >/dev/null 2>&1 && break; sleep 1; done
    mysqladmin -h "$HOST" -u root ping >/dev/null 2>&1 || die "MariaDB does not answer on $HOST:3306"
fi
if ! port_open 5672; then
    log "starting RabbitMQ"
    rabbitmq-server -detached >/dev/null 2>&1 9>&- || true
    for _ in $(seq 90); do port_open 5672 && break; sleep 1; done
    port_open 5672 || die "RabbitMQ does not answer on $HOST:5672"
fi

# ---------------------------------------------------------------------------------------------------------------
# venv (kept between runs; reinstalled only when the constraints or the package list change)
PKGS=("keystone==30.*" "cinder==29.*" fixtures gunicorn PyMySQL)
[ "$WITH_GLANCE" = 1 ] && PKGS+=("glance==33.*")
stamp="$( (cat "$HERE/constraints-keystone-cinder.txt" "$HERE/constraints-glance.txt"; echo "${PKGS[*]}") | sha256sum | cut -c1-16)"
if [ "$(cat "$VENV/.realcloud-stamp" 2>/dev/null)" != "$stamp" ]; then
    log "pip install ${PKGS[*]} into $VENV (about a minute when the venv is new)"
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check \
        -c "$HERE/constraints-keystone-cinder.txt" -c "$HERE/constraints-glance.txt" "${PKGS[@]}" \
        >"$LOG/pip.log" 2>&1 || { grep -v 'is ignored: it is neither' "$LOG/pip.log" | tail -20 >&2; die "pip install failed"; }
    echo "$stamp" > "$VENV/.realcloud-stamp"
fi
B="$VENV/bin"
if [ "${REALCLOUD_INSTALL_ONLY:-0}" = 1 ]; then
    log "installed; not started (REALCLOUD_INSTALL_ONLY=1)"
    exit 0
fi

# ---------------------------------------------------------------------------------------------------------------
# Configuration (rewritten every start; cheap)
mkdir -p "$ETC/keystone" "$ETC/cinder" "$ETC/glance" "$STATE/keystone" "$STATE/cinder" "$STATE/glance/images" \
         "$STATE/glance/staging" "$STATE/glance/tasks" "$STATE/locks"

authtoken() { # authtoken USER
    cat <<EOF
[keystone_authtoken]
www_authenticate_uri = $KEYSTONE_URL/v3
auth_url = $KEYSTONE_URL/v3
auth_type = password
username = $1
password = $SERVICE_PASSWORD
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionOne
service_token_roles_required = true
EOF
}

cat > "$ETC/keystone/keystone.conf" <<EOF
[DEFAULT]
log_file = $LOG/keystone.log
[database]
connection = $DB_URL_BASE/${DB_PREFIX}keystone?charset=utf8
[token]
provider = fernet
expiration = 14400
[fernet_tokens]
key_repository = $STATE/keystone/fernet-keys
[fernet_receipts]
key_repository = $STATE/keystone/fernet-keys
[credential]
key_repository = $STATE/keystone/credential-keys
EOF

cat > "$ETC/cinder/cinder.conf" <<EOF
[DEFAULT]
host = realcloud
my_ip = $HOST
state_path = $STATE/cinder
log_dir = $LOG
transport_url = rabbit://guest:guest@$HOST:5672/$RABBIT_VHOST
auth_strategy = keystone
api_paste_config = $VENV/etc/cinder/api-paste.ini
osapi_volume_listen = $HOST
osapi_volume_listen_port = $CINDER_PORT
osapi_volume_workers = 1
enabled_backends = fake
default_volume_type = default
enable_force_upload = true
glance_api_servers = ${GLANCE_URL:-http://$HOST:$GLANCE_PORT}
glance_api_version = 2
rootwrap_config = $ETC/cinder/rootwrap.conf
report_interval = 5
service_down_time = 30
periodic_interval = 30
[database]
connection = $DB_URL_BASE/${DB_PREFIX}cinder?charset=utf8
[oslo_concurrency]
lock_path = $STATE/locks
[coordination]
backend_url = file://$STATE/locks
[oslo_messaging_notifications]
driver = noop
[privsep_osbrick]
helper_command = $B/privsep-helper --config-file $ETC/cinder/cinder.conf
[cinder_sys_admin]
helper_command = $B/privsep-helper --config-file $ETC/cinder/cinder.conf
[nova]
# no Nova here: in-use extend still succeeds, cinder-volume logs that it could not notify Nova
auth_type = password
auth_url = $KEYSTONE_URL/v3
username = cinder
password = $SERVICE_PASSWORD
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionOne
$(authtoken cinder)
[fake]
volume_driver = realcloud_driver.SparseFileVolumeDriver
volume_backend_name = fake
EOF
sed -e "s#^filters_path=.*#filters_path=$VENV/etc/cinder/rootwrap.d#" \
    -e "s#^exec_dirs=.*#exec_dirs=$VENV/bin,/sbin,/usr/sbin,/bin,/usr/bin#" \
    "$VENV/etc/cinder/rootwrap.conf" > "$ETC/cinder/rootwrap.conf"

if [ "$WITH_GLANCE" = 1 ]; then
    cp "$VENV/etc/glance/glance-api-paste.ini" "$ETC/glance/glance-api-paste.ini"
    cat > "$ETC/glance/glance-api.conf" <<EOF
[DEFAULT]
log_file = $LOG/glance-api.log
bind_host = $HOST
bind_port = $GLANCE_PORT
workers = 1
enabled_backends = fs:file
public_endpoint = $GLANCE_URL
[database]
connection = $DB_URL_BASE/${DB_PREFIX}glance?charset=utf8
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $STATE/glance/images
[os_glance_staging_store]
filesystem_store_datadir = $STATE/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = $STATE/glance/tasks
[paste_deploy]
flavor = keystone
config_file = $ETC/glance/glance-api-paste.ini
[oslo_concurrency]
lock_path = $STATE/locks
$(authtoken glance)
EOF
fi

# ---------------------------------------------------------------------------------------------------------------
# Databases and message-queue vhost
mysql_q() { mysql -h "$HOST" -u root -N -B -e "$1"; }
tables_in() { mysql_q "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='${DB_PREFIX}$1'"; }
synced() { [ -f "$STATE/$1.db-synced" ] && [ "$(tables_in "$1")" -gt 0 ]; }
DBS=(keystone cinder); [ "$WITH_GLANCE" = 1 ] && DBS+=(glance)
for db in "${DBS[@]}"; do
    mysql_q "CREATE DATABASE IF NOT EXISTS ${DB_PREFIX}$db CHARACTER SET utf8 COLLATE utf8_general_ci"
done
if ! rabbitmqctl -q list_vhosts 2>/dev/null | grep -qx "$RABBIT_VHOST"; then
    log "creating RabbitMQ vhost $RABBIT_VHOST"
    rabbitmqctl -q add_vhost "$RABBIT_VHOST" >/dev/null
    rabbitmqctl -q set_permissions -p "$RABBIT_VHOST" guest '.*' '.*' '.*' >/dev/null
fi

KS=("$B/keystone-manage" --config-file "$ETC/keystone/keystone.conf")
if ! synced keystone; then
    log "keystone db_sync"
    "${KS[@]}" db_sync >>"$LOG/keystone-manage.log" 2>&1 || die "keystone db_sync failed ($LOG/keystone-manage.log)"
    rm -f "$STATE/keystone.bootstrapped"
    touch "$STATE/keystone.db-synced"
fi
if [ ! -e "$STATE/keystone/fernet-keys/0" ]; then
    "${KS[@]}" fernet_setup --keystone-user root --keystone-group root >>"$LOG/keystone-manage.log" 2>&1
fi
if [ ! -e "$STATE/keystone/credential-keys/0" ]; then
    "${KS[@]}" credential_setup --keystone-user root --keystone-group root >>"$LOG/keystone-manage.log" 2>&1
fi
if [ ! -e "$STATE/keystone.bootstrapped" ]; then
    log "keystone bootstrap"
    "${KS[@]}" bootstrap --bootstrap-password "$ADMIN_PASSWORD" --bootstrap-username admin \
        --bootstrap-project-name admin --bootstrap-role-name admin \
        --bootstrap-region-id RegionOne \
        --bootstrap-admin-url "$KEYSTONE_URL/v3" --bootstrap-internal-url "$KEYSTONE_URL/v3" \
        --bootstrap-public-url "$KEYSTONE_URL/v3" >>"$LOG/keystone-manage.log" 2>&1 \
        || die "keystone bootstrap failed ($LOG/keystone-manage.log)"
    touch "$STATE/keystone.bootstrapped"
fi
if ! synced cinder; then
    log "cinder db sync"
    "$B/cinder-manage" --config-file "$ETC/cinder/cinder.conf" db sync >>"$LOG/cinder-manage.log" 2>&1 \
        || die "cinder db sync failed ($LOG/cinder-manage.log)"
    touch "$STATE/cinder.db-synced"
fi
if [ "$WITH_GLANCE" = 1 ] && ! synced glance; then
    log "glance db_sync"
    "$B/glance-manage" --config-file "$ETC/glance/glance-api.conf" db_sync >>"$LOG/glance-manage.log" 2>&1 \
        || die "glance db_sync failed ($LOG/glance-manage.log)"
    touch "$STATE/glance.db-synced"
fi

# ---------------------------------------------------------------------------------------------------------------
# Processes. Each runs in its own session (setsid), so down.sh can stop its whole process group.
start() { # start NAME PORT CMD...
    local name="$1" port="$2"; shift 2
    if alive "$name"; then return 0; fi
    rm -f "$RUN/$name.pid"
    if [ "$port" != - ] && port_open "$port"; then
        die "port $HOST:$port is already taken by a process this script did not start (see: ss -ltnp)"
    fi
    log "starting $name"
    setsid "$@" >"$LOG/$name.out" 2>&1 < /dev/null 9>&- &   # 9>&-: services must not inherit the lock
    echo $! > "$RUN/$name.pid"
}
wait_port() { # wait_port NAME PORT SECONDS
    for _ in $(seq "$3"); do
        port_open "$2" && return 0
        alive "$1" || die "$1 exited; see $LOG/$1.out and $LOG/$1.log"
        sleep 0.5
    done
    die "$1 did not open port $2; see $LOG/$1.out"
}

export PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}"
OS_KEYSTONE_CONFIG_FILES="$ETC/keystone/keystone.conf" \
start keystone "$KEYSTONE_PORT" "$B/gunicorn" --no-control-socket --chdir "$HERE" -b "$HOST:$KEYSTONE_PORT" \
    -w 1 --threads 8 --timeout 120 --name realcloud-keystone keystone_wsgi:application
wait_port keystone "$KEYSTONE_PORT" 120

CONF=(--config-file "$ETC/cinder/cinder.conf")
CINDER_SINCE=0   # when cinder-scheduler/-volume are (re)started now, wait for rows newer than this
{ alive cinder-scheduler && alive cinder-volume; } || CINDER_SINCE="$(date +%s)"
start cinder-api "$CINDER_PORT" "$B/cinder-api" "${CONF[@]}"
start cinder-scheduler - "$B/cinder-scheduler" "${CONF[@]}"
start cinder-volume - "$B/cinder-volume" "${CONF[@]}"
if [ "$WITH_GLANCE" != 1 ] && alive glance-api; then
    log "stopping glance-api (REALCLOUD_GLANCE=$WITH_GLANCE)"
    kill -TERM -- "-$(cat "$RUN/glance-api.pid")" 2>/dev/null || true
    rm -f "$RUN/glance-api.pid"
fi
if [ "$WITH_GLANCE" = 1 ]; then
    OS_GLANCE_CONFIG_DIR="$ETC/glance" \
    start glance-api "$GLANCE_PORT" "$B/gunicorn" --no-control-socket -b "$HOST:$GLANCE_PORT" \
        -w 1 --threads 8 --timeout 600 --name realcloud-glance glance.wsgi.api:application
fi

# Keystone content (idempotent) while the others boot.
for _ in $(seq 60); do curl -fsS -o /dev/null "$KEYSTONE_URL/v3" && break; sleep 0.5; done
if [ ! -e "$STATE/keystone.seeded" ] || [ "$(cat "$STATE/keystone.seeded")" != "$stamp$GLANCE_URL" ]; then
    log "seeding keystone (projects, users, catalog)"
    "$B/python" "$HERE/seed.py" keystone || die "keystone seed failed"
    echo "$stamp$GLANCE_URL" > "$STATE/keystone.seeded"
fi

wait_port cinder-api "$CINDER_PORT" 120
[ "$WITH_GLANCE" = 1 ] && wait_port glance-api "$GLANCE_PORT" 120
if [ ! -e "$STATE/cinder.seeded" ]; then
    log "seeding cinder (volume types)"
    "$B/python" "$HERE/seed.py" cinder || die "cinder seed failed"
    touch "$STATE/cinder.seeded"
fi

log "waiting for a token, cinder GET /v3/ and an up cinder-volume"
"$B/python" "$HERE/seed.py" wait 120 "$CINDER_SINCE" || die "not healthy; logs in $LOG"
echo "glance=$WITH_GLANCE" > "$RUN/mode"
write_env
log "up"
print_summary
