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
source "$(dirname "$0")/apt-lib.sh"
# The package's own cluster is not wanted: tests make their own.
as_root mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" | as_root tee /etc/postgresql-common/createcluster.d/durable.conf >/dev/null
apt_install postgresql
