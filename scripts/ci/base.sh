#!/usr/bin/env bash
# tmux drives the real `freemodels` dashboard in the end-to-end tests.
set -euo pipefail
command -v tmux >/dev/null || apt-get install -y -qq tmux >/dev/null
