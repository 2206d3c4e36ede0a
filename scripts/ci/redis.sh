#!/usr/bin/env bash
# The shared-ledger tests (tests/test_ledger_*.py) start their own redis-server from Debian's
# package on a free port, with a temp dir and no persistence. Idempotent.
set -euo pipefail
if ! command -v redis-server >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi
# The package enables a system service on 6379; the tests never use it.
if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
  systemctl disable --now redis-server >/dev/null 2>&1 || true
elif command -v service >/dev/null && service redis-server status >/dev/null 2>&1; then
  service redis-server stop >/dev/null 2>&1 || true
fi
