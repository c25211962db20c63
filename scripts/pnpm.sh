#!/bin/sh
# Bootstraps pinned pnpm from the npm registry (no corepack), installs the workspace, then runs `pnpm "$@"`.
set -e
cd "$(dirname "$0")/.."
PNPM_VERSION=10.34.9
TOOLS="$PWD/.tools"
if [ ! -x "$TOOLS/node_modules/.bin/pnpm" ] || [ "$("$TOOLS/node_modules/.bin/pnpm" --version)" != "$PNPM_VERSION" ]; then
  echo "falgate: installing pnpm@$PNPM_VERSION into .tools/ (from the npm registry)"
  npm install --prefix "$TOOLS" --no-save --no-audit --no-fund --loglevel=error "pnpm@$PNPM_VERSION" >/dev/null
fi
export PATH="$TOOLS/node_modules/.bin:$PATH"
if [ -z "$FALGATE_SKIP_INSTALL" ]; then
  pnpm install --frozen-lockfile --prefer-offline --reporter=silent || pnpm install --frozen-lockfile
fi
exec pnpm "$@"
