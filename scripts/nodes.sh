#!/usr/bin/env bash
# Several web nodes on one machine, as they would run on several: N gunicorn nodes (2 workers each) behind haproxy,
# sharing PostgreSQL (sessions, idempotency keys, data) and Redis (cache: rate limits, login attempts, content gaps).
#   DATABASE_URL=postgres://… scripts/nodes.sh up      # haproxy on 127.0.0.1:8700 → nodes on 8701, 8702
#   scripts/nodes.sh status | scripts/nodes.sh down
#   scripts/nodes.sh kill 2                             # SIGKILL node 2 (master and workers): a crashed machine
# Environment: DATABASE_URL (required), REDIS_URL (default redis://127.0.0.1:6379/14; set but empty: no Redis, the
# live pages then fan out through PostgreSQL LISTEN/NOTIFY), NODES (2), WORKERS (2), SERVER (wsgi: sync workers;
# asgi: the Procfile's uvicorn workers, which hold the live pages' streams), LB_PORT (8700), first node port NODE_PORT
# (8701), SECRET_KEY (else one is generated and kept in the run directory), RUN_DIR (/tmp/activityhub-nodes);
# anything else (DATABASE_REPLICA_URL, API_RATE_LIMIT, …) is passed to the nodes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

RUN_DIR="${RUN_DIR:-/tmp/activityhub-nodes}"
NODES="${NODES:-2}"
WORKERS="${WORKERS:-2}"
LB_PORT="${LB_PORT:-8700}"
NODE_PORT="${NODE_PORT:-8701}"
SERVER="${SERVER:-wsgi}"
export REDIS_URL="${REDIS_URL-redis://127.0.0.1:6379/14}"

node_pid() { cat "$RUN_DIR/node$1.pid" 2>/dev/null || true; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

wait_http() {  # wait_http PORT: until /healthz answers 200 (30 s at most)
  for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$1/healthz" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  return 1
}

up() {
  [ -n "${DATABASE_URL:-}" ] || { echo "FATAL: set DATABASE_URL (the nodes share one database)" >&2; exit 1; }
  "$ROOT/tools/ensure-debian-package" haproxy haproxy "the load balancer in front of the nodes" || exit 1
  if [ -n "$REDIS_URL" ]; then
    redis-cli -u "$REDIS_URL" ping >/dev/null || { echo "FATAL: no Redis at $REDIS_URL" >&2; exit 1; }
  fi
  local app
  case "$SERVER" in
    wsgi) app=(activityhub.wsgi) ;;
    asgi) app=(activityhub.asgi -k uvicorn_worker.UvicornWorker) ;;  # as the Procfile's web role
    *) echo "FATAL: SERVER=$SERVER: choose wsgi or asgi" >&2; exit 1 ;;
  esac
  down >/dev/null 2>&1 || true
  mkdir -p "$RUN_DIR"
  if [ -z "${SECRET_KEY:-}" ]; then
    [ -s "$RUN_DIR/secret" ] || "$ROOT/.venv/bin/python" -c "import secrets; print(secrets.token_urlsafe(50))" >"$RUN_DIR/secret"
    SECRET_KEY="$(cat "$RUN_DIR/secret")"
  fi
  # Every node: the same secret (sessions, API key hashes), database and Redis; nothing kept per node.
  export SECRET_KEY PRODUCTION="${PRODUCTION:-1}" SECURE_SSL_REDIRECT="${SECURE_SSL_REDIRECT:-0}" \
    ALLOWED_HOSTS="${ALLOWED_HOSTS:-127.0.0.1,localhost}" CONN_MAX_AGE="${CONN_MAX_AGE:-60}" LOG_LEVEL="${LOG_LEVEL:-WARNING}" \
    TRUSTED_PROXY_COUNT="${TRUSTED_PROXY_COUNT:-1}"  # haproxy appends the client to X-Forwarded-For
  local servers=""
  for n in $(seq 1 "$NODES"); do
    local port=$((NODE_PORT + n - 1))
    "$ROOT/.venv/bin/gunicorn" "${app[@]}" --chdir "$ROOT" --workers "$WORKERS" --bind "127.0.0.1:$port" \
      --daemon --pid "$RUN_DIR/node$n.pid" --error-logfile "$RUN_DIR/node$n.log" --log-level warning \
      --graceful-timeout 5 --backlog 2048
    servers+="    server node$n 127.0.0.1:$port check"$'\n'
  done
  cat >"$RUN_DIR/haproxy.cfg" <<EOF
global
    maxconn 4096
    pidfile $RUN_DIR/haproxy.pid
    daemon

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # A live page's stream is a plain HTTP response (server-sent events), kept alive by the stream's comment line
    # every 15 s, well inside the 60 s above; an upgraded connection (WebSocket) would be under this instead.
    timeout tunnel 1h
    # Send each small piece of a response at once: by default haproxy hints the kernel that more is coming
    # (MSG_MORE), which held every server-sent event back ~200 ms (bench/live_push.py --nodes 2: p50 250 → 45–58 ms).
    option http-no-delay
    # A connection refused by a dead node is retried on another one; a request already sent is not
    # (a POST may have been applied): the client retries it with the same Idempotency-Key.
    retries 2
    option redispatch
    option forwardfor

frontend web
    bind 127.0.0.1:$LB_PORT
    default_backend nodes

backend nodes
    balance roundrobin
    # Which node answered (bench/live_push.py splits deliveries by it).
    http-response set-header X-Served-By %[srv_name]
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1
    http-check expect status 200
    default-server inter 1s fall 2 rise 2
$servers
EOF
  haproxy -c -q -f "$RUN_DIR/haproxy.cfg"
  haproxy -f "$RUN_DIR/haproxy.cfg"
  for n in $(seq 1 "$NODES"); do
    wait_http $((NODE_PORT + n - 1)) || { echo "FATAL: node $n did not start; see $RUN_DIR/node$n.log" >&2; tail -n 20 "$RUN_DIR/node$n.log" >&2; exit 1; }
  done
  wait_http "$LB_PORT" || { echo "FATAL: haproxy on $LB_PORT does not answer" >&2; exit 1; }
  echo "Up: haproxy 127.0.0.1:$LB_PORT → $NODES node(s) × $WORKERS workers on 127.0.0.1:$NODE_PORT…$((NODE_PORT + NODES - 1)); Redis ${REDIS_URL:-none}; logs in $RUN_DIR"
}

kill_node() {
  local pid
  pid="$(node_pid "$1")"
  alive "$pid" || { echo "node $1 is not running" >&2; return 1; }
  local workers
  workers="$(pgrep -P "$pid" || true)"
  kill -KILL "$pid" $workers
  echo "node $1 killed (master $pid, workers $(echo $workers))"
}

down() {
  local pid
  pid="$(cat "$RUN_DIR/haproxy.pid" 2>/dev/null || true)"
  if alive "$pid"; then kill "$pid"; fi
  for file in "$RUN_DIR"/node*.pid; do
    [ -e "$file" ] || continue
    pid="$(cat "$file")"
    if alive "$pid"; then
      kill -TERM "$pid"
      for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
    fi
    rm -f "$file"
  done
  rm -f "$RUN_DIR/haproxy.pid"
  echo "Down."
}

status() {
  local pid
  pid="$(cat "$RUN_DIR/haproxy.pid" 2>/dev/null || true)"
  if alive "$pid"; then echo "haproxy: running (pid $pid) on 127.0.0.1:$LB_PORT"; else echo "haproxy: stopped"; fi
  for file in "$RUN_DIR"/node*.pid; do
    [ -e "$file" ] || continue
    pid="$(cat "$file")"
    if alive "$pid"; then echo "$(basename "$file" .pid): running (pid $pid)"; else echo "$(basename "$file" .pid): dead"; fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  kill) kill_node "${2:?node number}" ;;
  *) echo "usage: $0 up|down|status|kill N" >&2; exit 2 ;;
esac
