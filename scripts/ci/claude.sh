#!/usr/bin/env bash
# Claude Code, for the test that runs `claude -p` through the router (ANTHROPIC_BASE_URL), offline.
# Its native Linux binary straight from the npm registry (the wrapper package's postinstall would
# only copy it), cached so reruns are fast; linked as $cache/bin/claude like tools.sh's tools.
set -euo pipefail

CLAUDE_CODE_VERSION=2.1.197

if [ -n "${FREEMODELS_CI_CACHE:-}" ]; then
  cache="$FREEMODELS_CI_CACHE"
elif [ "$(id -u)" = 0 ]; then
  cache=/var/cache/freemodels-ci
else
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/freemodels-ci"
fi
mkdir -p "$cache/bin"

dir="$cache/claude-code-$CLAUDE_CODE_VERSION"
if [ ! -f "$dir/.done" ]; then
  rm -rf "$dir" && mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "@anthropic-ai/claude-code-linux-x64@$CLAUDE_CODE_VERSION" \
    >/dev/null && tar -xzf ./*.tgz && rm -f ./*.tgz)
  touch "$dir/.done"
fi
chmod +x "$dir/package/claude"
ln -sfn "$dir/package/claude" "$cache/bin/claude"
DISABLE_AUTOUPDATER=1 "$cache/bin/claude" --version >/dev/null
echo "claude in $cache/bin"
