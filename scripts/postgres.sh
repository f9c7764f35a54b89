#!/usr/bin/env bash
# Makes sure PostgreSQL's server binaries are here for the tests (they start throw-away
# clusters of their own: nothing is started or configured system-wide). On Debian it installs
# the `postgresql` package when missing (as root, or through sudo); elsewhere it says what to do.
set -euo pipefail
if [ -n "${PG_BIN:-}" ] && [ -x "$PG_BIN/initdb" ]; then exit 0; fi
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then exit 0; fi

echo "setup: PostgreSQL's server binaries are missing (the PostgreSQL store's tests need them)" >&2
if ! command -v apt-get >/dev/null; then
    echo "setup: install PostgreSQL (14 or later) and set PG_BIN to its bin directory" >&2
    exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
        echo "setup: run as root (or install sudo) to install: postgresql" >&2
        exit 1
    fi
    sudo=(sudo)
fi
"${sudo[@]}" apt-get update -qq
# The package's own cluster is not wanted: tests make their own.
"${sudo[@]}" mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" | "${sudo[@]}" tee /etc/postgresql-common/createcluster.d/durable.conf >/dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
