#!/usr/bin/env bash
# The Celery scale-out on one machine: a local Redis (broker and result backend) and dagster-celery
# workers. Runs use them when the definitions load with AUGMENT_EXECUTOR=celery
# (augment_assets/defs/executors.py); the workers' app (augment_assets/celery_app.py) is built from the
# same settings and the same AUGMENT_CELERY_BROKER / AUGMENT_CELERY_BACKEND.
#
#   bash scripts/celery.sh start [N]   Redis on 127.0.0.1:$REDIS_PORT (default 6379) unless one answers
#                                      there already, then N workers (default 2), one task each
#   bash scripts/celery.sh stop        the workers, then the Redis this script started
#   bash scripts/celery.sh status
#
# Workers run from the repository root with this shell's environment: DAGSTER_HOME, AUGMENT_WAREHOUSE,
# AUGMENT_MODELS_DIR, DATA_SIZES, ... must be the ones the runs are launched with (a worker loads the
# same definitions). Logs and pid files: $CELERY_RUN_DIR (default data/celery).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="${BIN:-$ROOT/.venv/bin}"
export PATH="$BIN:$PATH"  # dagster-celery starts `celery` by name
RUN_DIR="${CELERY_RUN_DIR:-$ROOT/data/celery}"
REDIS_PORT="${REDIS_PORT:-6379}"
export AUGMENT_CELERY_BROKER="${AUGMENT_CELERY_BROKER:-redis://127.0.0.1:$REDIS_PORT/0}"
export AUGMENT_CELERY_BACKEND="${AUGMENT_CELERY_BACKEND:-$AUGMENT_CELERY_BROKER}"
export DAGSTER_HOME="${DAGSTER_HOME:-$ROOT/dagster_home}"
mkdir -p "$RUN_DIR"

redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; }

start() {
    local n="${1:-2}"
    if ! command -v redis-server >/dev/null; then
        echo "celery.sh: redis-server is missing: apt-get install redis-server (Debian's package)" >&2
        exit 1
    fi
    if redis_up; then
        echo "celery.sh: a Redis already answers on 127.0.0.1:$REDIS_PORT; using it"
    else
        redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --save '' --appendonly no \
            --pidfile "$RUN_DIR/redis.pid" --logfile "$RUN_DIR/redis.log" --dir "$RUN_DIR"
        for _ in $(seq 50); do redis_up && break; sleep 0.2; done
        redis_up || { echo "celery.sh: Redis did not start; see $RUN_DIR/redis.log" >&2; exit 1; }
        echo "celery.sh: Redis on 127.0.0.1:$REDIS_PORT (pid $(cat "$RUN_DIR/redis.pid"))"
    fi
    for i in $(seq "$n"); do
        # --concurrency=1: one step per worker at a time (a model step saturates the cores; the pools
        # decide what may run together). --detach: the worker outlives this script.
        "$BIN/dagster-celery" worker start -A augment_assets.celery_app -n "augment-$i" \
            -- --concurrency=1 --detach --pidfile="$RUN_DIR/worker-$i.pid" --logfile="$RUN_DIR/worker-$i.log"
    done
    # A worker is ready when it answers a ping over the broker.
    for _ in $(seq 60); do
        local ready
        ready=$("$BIN/celery" -A augment_assets.celery_app -b "$AUGMENT_CELERY_BROKER" inspect ping --timeout 1 2>/dev/null | grep -c "pong" || true)
        [ "$ready" -ge "$n" ] && { echo "celery.sh: $ready worker(s) ready; logs in $RUN_DIR"; return 0; }
        sleep 1
    done
    echo "celery.sh: the workers did not answer within a minute; see $RUN_DIR/worker-*.log" >&2
    exit 1
}

stop() {
    for pidfile in "$RUN_DIR"/worker-*.pid; do
        [ -e "$pidfile" ] || continue
        kill -TERM "$(cat "$pidfile")" 2>/dev/null || true
    done
    for _ in $(seq 30); do
        ls "$RUN_DIR"/worker-*.pid >/dev/null 2>&1 || break  # a worker removes its pid file on exit
        sleep 1
    done
    for pidfile in "$RUN_DIR"/worker-*.pid; do
        [ -e "$pidfile" ] || continue
        kill -KILL "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
    done
    if [ -e "$RUN_DIR/redis.pid" ]; then
        kill -TERM "$(cat "$RUN_DIR/redis.pid")" 2>/dev/null || true
        for _ in $(seq 50); do redis_up || break; sleep 0.2; done
        rm -f "$RUN_DIR/redis.pid"
    fi
    echo "celery.sh: stopped"
}

status() {
    redis_up && echo "Redis: up on 127.0.0.1:$REDIS_PORT" || echo "Redis: down"
    "$BIN/celery" -A augment_assets.celery_app -b "$AUGMENT_CELERY_BROKER" inspect ping --timeout 2 2>/dev/null || echo "workers: none answer"
}

case "${1:-}" in
    start) start "${2:-2}" ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: bash scripts/celery.sh start [N] | stop | status" >&2; exit 2 ;;
esac
