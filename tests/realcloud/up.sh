#!/usr/bin/env bash
# Stand up a real Keystone 30 + Cinder 29 (+ Glance 33, + Nova 34 and Placement 16) from PyPI on loopback, for
# volpanel's tests.
#
#   tests/realcloud/up.sh            start (or keep) everything, wait until healthy, write the env file
#
# Idempotent: a second run while everything is up returns in seconds; after a reboot-like state (processes gone,
# venv kept) it restarts what is missing. Environment knobs:
#   REALCLOUD_GLANCE=0        leave Glance out (no image service; uploads answer 400)
#   REALCLOUD_NOVA=0          leave Nova, Placement and the network stand-in out (no Compute in the catalog)
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
WITH_NOVA="${REALCLOUD_NOVA:-1}"
[ "$WITH_GLANCE" = 1 ] || WITH_NOVA=0   # Nova boots its server from a Glance image
NOVA_VENV="$RC/venv-nova"
PY="${REALCLOUD_PYTHON:-python3}"

HOST=127.0.0.1
KEYSTONE_PORT=5000; CINDER_PORT=8776; GLANCE_PORT=9292; NOVA_PORT=8774; PLACEMENT_PORT=8778; NETWORK_PORT=9696
KEYSTONE_URL="http://$HOST:$KEYSTONE_PORT"; CINDER_URL="http://$HOST:$CINDER_PORT"; GLANCE_URL="http://$HOST:$GLANCE_PORT"
NOVA_URL="http://$HOST:$NOVA_PORT/v2.1"; PLACEMENT_URL="http://$HOST:$PLACEMENT_PORT"; NETWORK_URL="http://$HOST:$NETWORK_PORT"
[ "$WITH_GLANCE" = 1 ] || GLANCE_URL=""
[ "$WITH_NOVA" = 1 ] || { NOVA_URL=""; PLACEMENT_URL=""; NETWORK_URL=""; }
DB_PREFIX=realcloud_
DB_URL_BASE="mysql+pymysql://root@$HOST:3306"
RABBIT_VHOST=realcloud
NOVA_VHOST=realcloud_nova   # Nova's RPC of its own: services of two clouds in one vhost take each other's messages
ADMIN_PASSWORD=demo
SERVICE_PASSWORD=realcloud-service
export REALCLOUD_KEYSTONE_URL="$KEYSTONE_URL" REALCLOUD_CINDER_URL="$CINDER_URL" REALCLOUD_GLANCE_URL="$GLANCE_URL"
export REALCLOUD_NOVA_URL="$NOVA_URL" REALCLOUD_PLACEMENT_URL="$PLACEMENT_URL" REALCLOUD_NETWORK_URL="$NETWORK_URL"
export REALCLOUD_ADMIN_PASSWORD="$ADMIN_PASSWORD" REALCLOUD_SERVICE_PASSWORD="$SERVICE_PASSWORD"

T0=$EPOCHREALTIME
log() { printf '[realcloud %5ss] %s\n' "$(awk -v a="$EPOCHREALTIME" -v b="$T0" 'BEGIN{printf "%.1f", a-b}')" "$*"; }
die() { echo "realcloud: $*" >&2; exit 1; }
mkdir -p "$LOG" "$RUN" "$ETC" "$STATE"
exec 9>"$RC/.up.lock"
flock -w 600 9 || die "another up.sh holds $RC/.up.lock"   # two runs at once would race on ports and pid files

SERVICES=(keystone cinder-api cinder-scheduler cinder-volume)
[ "$WITH_GLANCE" = 1 ] && SERVICES+=(glance-api)
NOVA_SERVICES=(network-standin placement-api nova-api nova-conductor nova-scheduler nova-compute)
[ "$WITH_NOVA" = 1 ] && SERVICES+=("${NOVA_SERVICES[@]}")
MODE="glance=$WITH_GLANCE nova=$WITH_NOVA up.sh=$(sha256sum "$HERE/up.sh" | cut -c1-12)"

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
export REALCLOUD_NOVA_URL=$NOVA_URL
export REALCLOUD_SERVER_NAME=realcloud-server
export REALCLOUD_VOLUME_BACKEND=fake
EOF
    mv "$f.tmp" "$f"
}

print_summary() {
    echo "realcloud is up:"
    echo "  keystone  $KEYSTONE_URL/v3        (log $LOG/keystone.log)"
    echo "  cinder    $CINDER_URL/v3/<project_id>   (logs $LOG/cinder-{api,scheduler,volume}.log)"
    if [ -n "$GLANCE_URL" ]; then echo "  glance    $GLANCE_URL              (log $LOG/glance-api.log)"; fi
    if [ -n "$NOVA_URL" ]; then
        echo "  nova      $NOVA_URL         (logs $LOG/nova-{api,conductor,scheduler,compute}.log; fake virt driver)"
        echo "  placement $PLACEMENT_URL, network stand-in $NETWORK_URL (logs $LOG/placement-api.log, network-standin.out)"
    fi
    echo "  env file  $RC/env   (alice/demo in project demo; admin/demo; bob/demo in other)"
}

# ---------------------------------------------------------------------------------------------------------------
# Fast path: everything already running and healthy.
all_alive=1
for s in "${SERVICES[@]}"; do alive "$s" || all_alive=0; done
[ "$(cat "$RUN/mode" 2>/dev/null)" = "$MODE" ] || all_alive=0
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
# Nova and Placement in a venv of their own (constraints-nova.txt: every package shared with the venv above has
# the same version). nova.virt.fake needs `fixtures`, which nova does not depend on.
NOVA_PKGS=("nova==34.0.0" "openstack-placement==16.0.0" fixtures gunicorn PyMySQL)
nova_stamp="$( (cat "$HERE/constraints-nova.txt"; echo "${NOVA_PKGS[*]}") | sha256sum | cut -c1-16)"
if [ "$WITH_NOVA" = 1 ] && [ "$(cat "$NOVA_VENV/.realcloud-stamp" 2>/dev/null)" != "$nova_stamp" ]; then
    log "pip install ${NOVA_PKGS[*]} into $NOVA_VENV (about 40 s when the venv is new)"
    [ -x "$NOVA_VENV/bin/python" ] || "$PY" -m venv "$NOVA_VENV"
    "$NOVA_VENV/bin/pip" install -q --disable-pip-version-check -c "$HERE/constraints-nova.txt" "${NOVA_PKGS[@]}" \
        >"$LOG/pip-nova.log" 2>&1 || { grep -v 'is ignored: it is neither' "$LOG/pip-nova.log" | tail -20 >&2; die "pip install (nova) failed"; }
    echo "$nova_stamp" > "$NOVA_VENV/.realcloud-stamp"
fi
BN="$NOVA_VENV/bin"
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

# As packaged Cinder: the list filters a non-admin may use from 3.31 (volume and snapshot `name`, snapshot
# `volume_id`, message `resource_uuid`, …), copied from the file Cinder's source ships. Without it every
# non-admin list filter is refused 400 "Invalid filters … are found in query options." (docs/realcloud.md).
cp "$VENV/etc/cinder/resource_filters.json" "$ETC/cinder/resource_filters.json"

cat > "$ETC/cinder/cinder.conf" <<EOF
[DEFAULT]
resource_query_filters_file = $ETC/cinder/resource_filters.json
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
# Cinder tells Nova of an in-use extend (the volume-extended event) as this user; without Nova in the catalog
# (REALCLOUD_NOVA=0) the extend still succeeds and cinder-volume logs that it could not notify Nova.
auth_type = password
auth_url = $KEYSTONE_URL/v3
username = cinder
password = $SERVICE_PASSWORD
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionOne
$(authtoken cinder)
service_token_roles = service
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

service_auth() { # service_auth SECTION USER: password auth of a service user, for one [section]
    cat <<EOF
[$1]
auth_type = password
auth_url = $KEYSTONE_URL/v3
username = $2
password = $SERVICE_PASSWORD
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionOne
EOF
}

if [ "$WITH_NOVA" = 1 ]; then
    mkdir -p "$ETC/nova" "$ETC/placement" "$STATE/nova/instances"
    cp "$NOVA_VENV/etc/nova/api-paste.ini" "$ETC/nova/api-paste.ini"
    # Nova's fake virt driver: servers boot, attach and extend for real in Nova, Cinder and Placement; only the
    # hypervisor is pretend. FakeDriverWithoutFakeNodes keeps one node UUID across restarts (FakeDriver invents
    # one per process, and the second start fails with "Duplicate compute node record").
    cat > "$ETC/nova/nova.conf" <<EOF
[DEFAULT]
host = realcloud
my_ip = $HOST
state_path = $STATE/nova
instances_path = $STATE/nova/instances
log_dir = $LOG
transport_url = rabbit://guest:guest@$HOST:5672/$NOVA_VHOST
compute_driver = fake.FakeDriverWithoutFakeNodes
heal_instance_info_cache_interval = -1
[api]
auth_strategy = keystone
[wsgi]
api_paste_config = $ETC/nova/api-paste.ini
[api_database]
connection = $DB_URL_BASE/${DB_PREFIX}nova_api?charset=utf8
[database]
connection = $DB_URL_BASE/${DB_PREFIX}nova?charset=utf8
[scheduler]
discover_hosts_in_cells_interval = -1
workers = 1
[conductor]
workers = 1
[oslo_concurrency]
lock_path = $STATE/locks
[oslo_messaging_notifications]
driver = noop
[vnc]
enabled = false
[nova_sys_admin]
helper_command = $BN/privsep-helper --config-file $ETC/nova/nova.conf
[privsep_osbrick]
helper_command = $BN/privsep-helper --config-file $ETC/nova/nova.conf
$(authtoken nova)
$(service_auth service_user nova)
send_service_user_token = true
$(service_auth placement placement)
$(service_auth cinder nova)
os_region_name = RegionOne
$(service_auth neutron nova)
EOF
    cat > "$ETC/placement/placement.conf" <<EOF
[DEFAULT]
log_file = $LOG/placement-api.log
[api]
auth_strategy = keystone
[placement_database]
connection = $DB_URL_BASE/${DB_PREFIX}placement?charset=utf8
$(authtoken placement)
EOF
fi

# ---------------------------------------------------------------------------------------------------------------
# Databases and message-queue vhost
mysql_q() { mysql -h "$HOST" -u root -N -B -e "$1"; }
tables_in() { mysql_q "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='${DB_PREFIX}$1'"; }
synced() { [ -f "$STATE/$1.db-synced" ] && [ "$(tables_in "$1")" -gt 0 ]; }
DBS=(keystone cinder); [ "$WITH_GLANCE" = 1 ] && DBS+=(glance)
[ "$WITH_NOVA" = 1 ] && DBS+=(nova_api nova_cell0 nova placement)
if [ "$WITH_NOVA" = 1 ] && [ ! -f "$STATE/nova.db-synced" ]; then
    # Nova's databases belong with this state folder: nova-compute keeps its node's UUID in
    # state/nova/compute_id, and a new folder over an old database would be a "Duplicate compute node record".
    for db in nova_api nova_cell0 nova placement; do mysql_q "DROP DATABASE IF EXISTS ${DB_PREFIX}$db"; done
    rm -f "$STATE/placement.db-synced" "$STATE/nova_api.db-synced"
fi
for db in "${DBS[@]}"; do
    mysql_q "CREATE DATABASE IF NOT EXISTS ${DB_PREFIX}$db CHARACTER SET utf8 COLLATE utf8_general_ci"
done
VHOSTS=("$RABBIT_VHOST"); [ "$WITH_NOVA" = 1 ] && VHOSTS+=("$NOVA_VHOST")
for vhost in "${VHOSTS[@]}"; do
    if ! rabbitmqctl -q list_vhosts 2>/dev/null | grep -qx "$vhost"; then
        log "creating RabbitMQ vhost $vhost"
        rabbitmqctl -q add_vhost "$vhost" >/dev/null
        rabbitmqctl -q set_permissions -p "$vhost" guest '.*' '.*' '.*' >/dev/null
    fi
done

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

NM=("$BN/nova-manage" --config-file "$ETC/nova/nova.conf")
if [ "$WITH_NOVA" = 1 ] && ! synced placement; then
    log "placement db sync"
    "$BN/placement-manage" --config-file "$ETC/placement/placement.conf" db sync >>"$LOG/nova-manage.log" 2>&1 \
        || die "placement db sync failed ($LOG/nova-manage.log)"
    touch "$STATE/placement.db-synced"
fi
if [ "$WITH_NOVA" = 1 ] && ! { synced nova_api && synced nova; }; then
    log "nova api_db sync, cells, db sync"
    { "${NM[@]}" api_db sync && "${NM[@]}" cell_v2 map_cell0 \
      && { "${NM[@]}" cell_v2 list_cells | grep -q ' cell1 ' || "${NM[@]}" cell_v2 create_cell --name cell1; } \
      && "${NM[@]}" db sync; } >>"$LOG/nova-manage.log" 2>&1 || die "nova database setup failed ($LOG/nova-manage.log)"
    touch "$STATE/nova_api.db-synced" "$STATE/nova.db-synced"
fi

# ---------------------------------------------------------------------------------------------------------------
# Processes. Each runs in its own session (setsid), so down.sh can stop its whole process group. A service whose
# configuration file changed since it started is restarted (its config is read once, at start).
declare -A CONF_OF=([keystone]="$ETC/keystone/keystone.conf" [cinder-api]="$ETC/cinder/cinder.conf"
    [cinder-scheduler]="$ETC/cinder/cinder.conf" [cinder-volume]="$ETC/cinder/cinder.conf"
    [glance-api]="$ETC/glance/glance-api.conf" [placement-api]="$ETC/placement/placement.conf"
    [nova-api]="$ETC/nova/nova.conf" [nova-conductor]="$ETC/nova/nova.conf"
    [nova-scheduler]="$ETC/nova/nova.conf" [nova-compute]="$ETC/nova/nova.conf" [network-standin]="$HERE/network_standin.py")
conf_sum() { sha256sum "${CONF_OF[$1]}" 2>/dev/null | cut -c1-16; }
stop() { # stop WHY NAME...: their whole process groups at once, then wait (up to 10 s) until they are gone
    local why="$1" name pid pids=()
    shift
    for name in "$@"; do
        alive "$name" || { rm -f "$RUN/$name.pid"; continue; }
        pid="$(cat "$RUN/$name.pid")"
        log "stopping $name ($why)"
        kill -TERM -- "-$pid" 2>/dev/null || true
        pids+=("$pid")
        rm -f "$RUN/$name.pid"
    done
    for _ in $(seq 40); do
        local left=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left=1; done
        [ "$left" = 0 ] && break
        sleep 0.25
    done
    for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
}
start() { # start NAME PORT CMD...
    local name="$1" port="$2"; shift 2
    if alive "$name" && [ "$(cat "$RUN/$name.sum" 2>/dev/null)" != "$(conf_sum "$name")" ]; then
        stop "its configuration changed" "$name"
    fi
    if alive "$name"; then return 0; fi
    rm -f "$RUN/$name.pid"
    if [ "$port" != - ] && port_open "$port"; then
        die "port $HOST:$port is already taken by a process this script did not start (see: ss -ltnp)"
    fi
    log "starting $name"
    setsid "$@" >"$LOG/$name.out" 2>&1 < /dev/null 9>&- &   # 9>&-: services must not inherit the lock
    echo $! > "$RUN/$name.pid"
    conf_sum "$name" > "$RUN/$name.sum"
}
wait_port() { # wait_port NAME PORT SECONDS
    for _ in $(seq "$3"); do
        port_open "$2" && return 0
        alive "$1" || die "$1 exited; see $LOG/$1.out and $LOG/$1.log"
        sleep 0.5
    done
    die "$1 did not open port $2; see $LOG/$1.out"
}

# What this mode leaves out is stopped (REALCLOUD_GLANCE=0, REALCLOUD_NOVA=0).
left_out=()
for s in glance-api "${NOVA_SERVICES[@]}"; do
    [[ " ${SERVICES[*]} " == *" $s "* ]] || left_out+=("$s")
done
stop "not in this mode: glance=$WITH_GLANCE nova=$WITH_NOVA" "${left_out[@]}"
stale=()   # restarted below: stopped together here rather than one by one
for s in "${SERVICES[@]}"; do
    alive "$s" && [ "$(cat "$RUN/$s.sum" 2>/dev/null)" != "$(conf_sum "$s")" ] && stale+=("$s")
done
stop "its configuration changed" "${stale[@]}"

export PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}"
OS_KEYSTONE_CONFIG_FILES="$ETC/keystone/keystone.conf" \
start keystone "$KEYSTONE_PORT" "$B/gunicorn" --no-control-socket --chdir "$HERE" -b "$HOST:$KEYSTONE_PORT" \
    -w 1 --threads 8 --timeout 120 --name realcloud-keystone keystone_wsgi:application
wait_port keystone "$KEYSTONE_PORT" 120

# Keystone content (idempotent) before the services start: each caches its token together with the catalog, so
# an endpoint created after a service started stays unknown to it. A catalog change restarts what runs.
for _ in $(seq 60); do curl -fsS -o /dev/null "$KEYSTONE_URL/v3" && break; sleep 0.5; done
seeded="$stamp$nova_stamp glance=$WITH_GLANCE nova=$WITH_NOVA"
if [ "$(cat "$STATE/keystone.seeded" 2>/dev/null)" != "$seeded" ]; then
    log "seeding keystone (projects, users, catalog)"
    "$B/python" "$HERE/seed.py" keystone || die "keystone seed failed"
    stop "the catalog changed" "${SERVICES[@]:1}"   # all but keystone (the first)
    echo "$seeded" > "$STATE/keystone.seeded"
fi

CONF=(--config-file "$ETC/cinder/cinder.conf")
CINDER_SINCE=0   # when cinder-scheduler/-volume are (re)started now, wait for rows newer than this
{ alive cinder-scheduler && alive cinder-volume && [ "$(cat "$RUN/cinder-volume.sum" 2>/dev/null)" = "$(conf_sum cinder-volume)" ]; } \
    || CINDER_SINCE="$(date +%s)"
start cinder-api "$CINDER_PORT" "$B/cinder-api" "${CONF[@]}"
start cinder-scheduler - "$B/cinder-scheduler" "${CONF[@]}"
start cinder-volume - "$B/cinder-volume" "${CONF[@]}"
if [ "$WITH_GLANCE" = 1 ]; then
    OS_GLANCE_CONFIG_DIR="$ETC/glance" \
    start glance-api "$GLANCE_PORT" "$B/gunicorn" --no-control-socket -b "$HOST:$GLANCE_PORT" \
        -w 1 --threads 8 --timeout 600 --name realcloud-glance glance.wsgi.api:application
fi
NOVA_SINCE=0
if [ "$WITH_NOVA" = 1 ]; then
    { alive nova-compute && [ "$(cat "$RUN/nova-compute.sum" 2>/dev/null)" = "$(conf_sum nova-compute)" ]; } \
        || NOVA_SINCE="$(date +%s)"
    NCONF=(--config-file "$ETC/nova/nova.conf")
    start network-standin "$NETWORK_PORT" "$BN/python" "$HERE/network_standin.py" "$NETWORK_PORT" realcloud
    OS_PLACEMENT_CONFIG_DIR="$ETC/placement" \
    start placement-api "$PLACEMENT_PORT" "$BN/gunicorn" --no-control-socket --chdir "$HERE" \
        -b "$HOST:$PLACEMENT_PORT" -w 1 --threads 4 --timeout 120 --name realcloud-placement nova_wsgi:placement
    OS_NOVA_CONFIG_DIR="$ETC/nova" \
    start nova-api "$NOVA_PORT" "$BN/gunicorn" --no-control-socket --chdir "$HERE" \
        -b "$HOST:$NOVA_PORT" -w 1 --threads 8 --timeout 120 --name realcloud-nova-api nova_wsgi:compute
    start nova-conductor - "$BN/nova-conductor" "${NCONF[@]}"
    start nova-scheduler - "$BN/nova-scheduler" "${NCONF[@]}"
    wait_port placement-api "$PLACEMENT_PORT" 120   # nova-compute reports its resources there first thing
    start nova-compute - "$BN/nova-compute" "${NCONF[@]}"
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
if [ "$WITH_NOVA" = 1 ]; then
    wait_port nova-api "$NOVA_PORT" 120
    log "waiting for an up nova-compute, then mapping it to cell1"
    "$B/python" "$HERE/seed.py" wait-nova 120 "$NOVA_SINCE" || die "nova is not healthy; logs in $LOG"
    "${NM[@]}" cell_v2 discover_hosts >>"$LOG/nova-manage.log" 2>&1 || die "discover_hosts failed ($LOG/nova-manage.log)"
    log "seeding nova (flavor, boot image, alice's server)"
    "$B/python" "$HERE/seed.py" nova || die "nova seed failed"
fi
echo "$MODE" > "$RUN/mode"
write_env
log "up"
print_summary
