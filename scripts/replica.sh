#!/usr/bin/env bash
# A real streaming read replica of the local PostgreSQL for development and CI (run as root):
#   scripts/replica.sh up      # cluster "replica" on port 5433, a hot standby of 127.0.0.1:5432 (pg_basebackup -R)
#   scripts/replica.sh down    # stop and remove it; restore the primary's pg_hba.conf
#   scripts/replica.sh status
# Then: DATABASE_REPLICA_URL=postgres://postgres@127.0.0.1:5433/<same database name as DATABASE_URL>
set -euo pipefail

VERSION="${PG_VERSION:-$(ls /etc/postgresql | sort -n | tail -n1)}"
PRIMARY_CLUSTER="${PRIMARY_CLUSTER:-main}"
PRIMARY_PORT="${PRIMARY_PORT:-5432}"
REPLICA_CLUSTER="${REPLICA_CLUSTER:-replica}"
REPLICA_PORT="${REPLICA_PORT:-5433}"
HBA="/etc/postgresql/$VERSION/$PRIMARY_CLUSTER/pg_hba.conf"
MARK="# activityhub-replica (scripts/replica.sh removes this line)"

psql_primary() { psql -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -XAtqc "$1"; }
psql_replica() { psql -h 127.0.0.1 -p "$REPLICA_PORT" -U postgres -XAtqc "$1"; }
cluster_exists() { pg_lsclusters -h | awk -v v="$VERSION" -v c="$REPLICA_CLUSTER" '$1==v && $2==c {found=1} END {exit !found}'; }

up() {
  pg_isready -q -h 127.0.0.1 -p "$PRIMARY_PORT" || { echo "FATAL: no primary at 127.0.0.1:$PRIMARY_PORT" >&2; exit 1; }
  if cluster_exists; then
    echo "Replica cluster $VERSION/$REPLICA_CLUSTER exists already; recreating it."
    down
  fi
  if [ "$(psql_primary 'SHOW wal_level')" = "minimal" ]; then
    echo "FATAL: the primary has wal_level=minimal; streaming replication needs 'replica' (restart required)." >&2
    exit 1
  fi
  # pg_hba's "all" does not cover replication connections: allow them from loopback while the replica exists.
  if ! grep -qF "$MARK" "$HBA"; then
    printf 'host replication postgres 127.0.0.1/32 trust %s\n' "$MARK" >>"$HBA"
    psql_primary "SELECT pg_reload_conf()" >/dev/null
  fi
  pg_createcluster "$VERSION" "$REPLICA_CLUSTER" --port "$REPLICA_PORT" >/dev/null
  local data="/var/lib/postgresql/$VERSION/$REPLICA_CLUSTER"
  local conf="/etc/postgresql/$VERSION/$REPLICA_CLUSTER/postgresql.conf"
  # A small standby that sends hot_standby_feedback (fewer replay conflicts cancelling its queries).
  cat >>"$conf" <<'EOF'
shared_buffers = 64MB
hot_standby = on
hot_standby_feedback = on
max_standby_streaming_delay = 5s
EOF
  # The same client authentication as the primary (trust on loopback), without the replication line.
  grep -vF "$MARK" "$HBA" >"/etc/postgresql/$VERSION/$REPLICA_CLUSTER/pg_hba.conf"
  find "$data" -mindepth 1 -delete
  runuser -u postgres -- pg_basebackup -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$data" \
    --write-recovery-conf --wal-method=stream --checkpoint=fast --no-sync
  pg_ctlcluster --skip-systemctl-redirect "$VERSION" "$REPLICA_CLUSTER" start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p "$REPLICA_PORT" && break; sleep 0.5; done
  if [ "$(psql_replica 'SELECT pg_is_in_recovery()' 2>/dev/null)" != "t" ]; then
    echo "FATAL: the replica at 127.0.0.1:$REPLICA_PORT did not start as a hot standby" >&2
    tail -n 20 "/var/log/postgresql/postgresql-$VERSION-$REPLICA_CLUSTER.log" >&2 || true
    exit 1
  fi
  echo "Replica up: 127.0.0.1:$REPLICA_PORT streaming from 127.0.0.1:$PRIMARY_PORT ($(psql_primary \
    "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") streaming standby(s) on the primary)."
}

down() {
  if cluster_exists; then
    pg_dropcluster "$VERSION" "$REPLICA_CLUSTER" --stop
    echo "Replica cluster $VERSION/$REPLICA_CLUSTER removed."
  fi
  if grep -qF "$MARK" "$HBA"; then
    local kept
    kept="$(grep -vF "$MARK" "$HBA")"
    printf '%s\n' "$kept" >"$HBA"
    psql_primary "SELECT pg_reload_conf()" >/dev/null || true
    echo "Primary pg_hba.conf restored."
  fi
}

status() {
  if cluster_exists; then pg_lsclusters | awk -v c="$REPLICA_CLUSTER" 'NR==1 || $2==c'; else echo "no replica cluster"; fi
  psql_primary "SELECT application_name, state, replay_lag FROM pg_stat_replication" || true
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
