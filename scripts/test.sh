#!/usr/bin/env bash
# Runs the CEDetect test suite on a fresh Debian/Ubuntu machine or a developer's one.
#
#   ./scripts/test.sh [pytest args...]
#
# Installs what is missing and is quick on a second run:
#   - Python packages into ./.venv (re-installed only when pyproject.toml changes)
#   - PostgreSQL, Mosquitto, Chromium and ChromeDriver from the OS package manager
# then starts a private PostgreSQL and Mosquitto on loopback (reused while they run) and runs pytest.
# Point the tests at services of your own with CEDETECT_TEST_DATABASE_URL (an admin URL, the tests
# create and drop their own databases) and CEDETECT_TEST_MQTT_HOST / CEDETECT_TEST_MQTT_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE=${CEDETECT_TEST_STATE:-${TMPDIR:-/tmp}/cedetect-test-$(id -u)}
PG_PORT=${CEDETECT_TEST_PG_PORT:-55432}
MQTT_PORT_DEFAULT=${CEDETECT_TEST_MQTT_PORT_DEFAULT:-18883}
mkdir -p "$STATE"

log() { printf '[test.sh] %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- OS packages -------------------------------------------------------------------------------
pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
missing=()
[ -n "${CEDETECT_TEST_DATABASE_URL:-}" ] || [ -n "$(pg_bindir)" ] || missing+=(postgresql)
[ -n "${CEDETECT_TEST_MQTT_PORT:-}" ] || command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing OS packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python packages ---------------------------------------------------------------------------
. scripts/venv.sh

# --- PostgreSQL --------------------------------------------------------------------------------
if [ -z "${CEDETECT_TEST_DATABASE_URL:-}" ]; then
  PGDATA="$STATE/pg"
  BIN=$(pg_bindir)
  run_pg() {  # PostgreSQL refuses to run as root: use the postgres account the package created.
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
  }
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    log "initialising a private PostgreSQL cluster in $PGDATA"
    rm -rf "$PGDATA"; mkdir -p "$PGDATA"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$PGDATA" && chmod 755 "$STATE"
    run_pg "$BIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if ! run_pg "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    run_pg "$BIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 start \
      -o "-h 127.0.0.1 -p $PG_PORT -k $PGDATA -c fsync=off -c max_connections=200" >/dev/null
  fi
  export CEDETECT_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
fi

# --- Mosquitto ---------------------------------------------------------------------------------
if [ -z "${CEDETECT_TEST_MQTT_PORT:-}" ]; then
  MQ="$STATE/mosquitto"; mkdir -p "$MQ"
  export CEDETECT_TEST_MQTT_HOST=127.0.0.1 CEDETECT_TEST_MQTT_PORT=$MQTT_PORT_DEFAULT
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$MQTT_PORT_DEFAULT") 2>/dev/null; then
    log "starting Mosquitto on 127.0.0.1:$MQTT_PORT_DEFAULT"
    {
      echo "listener $MQTT_PORT_DEFAULT 127.0.0.1"
      echo "allow_anonymous true"
      echo "persistence true"
      echo "persistence_location $MQ/"
      echo "max_queued_messages 0"
      echo "persistent_client_expiration 2h"
      echo "max_inflight_messages 100"
      echo "log_dest file $MQ/mosquitto.log"
      [ "$(id -u)" -eq 0 ] && echo "user root"
    } > "$MQ/mosquitto.conf"
    MOSQ=$(command -v mosquitto || echo /usr/sbin/mosquitto)
    "$MOSQ" -c "$MQ/mosquitto.conf" -d
    for _ in $(seq 1 100); do
      (exec 3<>"/dev/tcp/127.0.0.1/$MQTT_PORT_DEFAULT") 2>/dev/null && break
      sleep 0.1
    done
  fi
fi

# --- pytest ------------------------------------------------------------------------------------
log "PostgreSQL: ${CEDETECT_TEST_DATABASE_URL}  MQTT: ${CEDETECT_TEST_MQTT_HOST:-127.0.0.1}:${CEDETECT_TEST_MQTT_PORT}"
export CEDETECT_TEST_CHROMIUM=${CEDETECT_TEST_CHROMIUM:-$(command -v chromium || true)}
export CEDETECT_TEST_CHROMEDRIVER=${CEDETECT_TEST_CHROMEDRIVER:-$(command -v chromedriver || true)}
exec .venv/bin/python -m pytest "$@"
