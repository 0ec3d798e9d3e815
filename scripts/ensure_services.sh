#!/usr/bin/env bash
# Start (or install) what the test suite needs: PostgreSQL, Mosquitto, NATS, and Debian's Chromium.
# Idempotent: anything already running is left alone.
set -u
log() { echo "[services] $*"; }
have_port() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo -n"

# PostgreSQL
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    log "starting PostgreSQL"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  else
    log "PostgreSQL not installed: installing from Debian"
    $SUDO apt-get install -y -q postgresql >/dev/null && \
      $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && log "PostgreSQL ok" || log "WARNING: PostgreSQL unavailable"

# Mosquitto
if ! have_port 1883; then
  if ! command -v mosquitto >/dev/null 2>&1; then
    log "installing mosquitto"; $SUDO apt-get install -y -q mosquitto >/dev/null || true
  fi
  if [ -f /etc/mosquitto/mosquitto.conf ]; then
    log "starting Mosquitto"; $SUDO mosquitto -d -c /etc/mosquitto/mosquitto.conf || true
  else
    $SUDO mosquitto -d -p 1883 || true
  fi
  for _ in $(seq 1 20); do have_port 1883 && break; sleep 0.5; done
fi
have_port 1883 && log "Mosquitto ok" || log "WARNING: Mosquitto unavailable"

# NATS JetStream (used by scale-out tests when present)
if ! have_port 4222 && [ -x /usr/sbin/nats-server ]; then
  log "starting NATS"
  $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || true
fi

# Chromium for the browser tests (Debian's package; Playwright's own download does not work here)
if ! [ -x /usr/bin/chromium ]; then
  log "installing Debian chromium"
  ($SUDO apt-get install -y -q chromium >/dev/null 2>&1 || \
    ($SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q chromium >/dev/null 2>&1)) || \
    log "WARNING: could not install chromium"
fi
[ -x /usr/bin/chromium ] && log "Chromium ok"
exit 0
