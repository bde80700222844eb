#!/usr/bin/env bash
# Installs Debian's redis-server (the Celery broker and result backend of scripts/celery.sh) when it
# is missing. Idempotent; says what it did.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
    echo "install_redis: $(redis-server --version | cut -d' ' -f1-3) already present"
elif [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "install_redis: installing Debian's redis-server with apt-get ..."
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends redis-server >/dev/null
    echo "install_redis: installed $(redis-server --version | cut -d' ' -f1-3)"
else
    echo "install_redis: redis-server is missing and cannot be installed here (need root and apt-get)" >&2
    exit 1
fi
