#!/bin/sh
# Bootstraps pinned pnpm from the npm registry (no corepack), installs the workspace, then runs `pnpm "$@"`.
# Every root `npm run` script goes through here, so none of them needs .tools/node_modules/.bin on PATH.
#
#   FALGATE_SKIP_INSTALL=1        do not install (the caller already did)
#   FALGATE_INSTALL_FILTER=<sel>  install only the projects that pnpm selector picks, following their
#                                 `dependencies` (`npm run demo` uses `@falgate/demo...`); a later plain run
#                                 installs the whole workspace again
set -e
cd "$(dirname "$0")/.."
# The version is the one in package.json's "packageManager" field.
PNPM_VERSION=$(node -p 'require("./package.json").packageManager.replace(/^pnpm@/, "")')
TOOLS="$PWD/.tools"
if [ ! -x "$TOOLS/node_modules/.bin/pnpm" ] || [ "$("$TOOLS/node_modules/.bin/pnpm" --version)" != "$PNPM_VERSION" ]; then
  echo "falgate: installing pnpm@$PNPM_VERSION into .tools/ (from the npm registry)"
  npm install --prefix "$TOOLS" --no-save --no-audit --no-fund --loglevel=error "pnpm@$PNPM_VERSION" >/dev/null
fi
export PATH="$TOOLS/node_modules/.bin:$PATH"
# Next.js and turbo announce their telemetry on first use; this project keeps both off unless asked otherwise.
export NEXT_TELEMETRY_DISABLED="${NEXT_TELEMETRY_DISABLED:-1}"
export TURBO_TELEMETRY_DISABLED="${TURBO_TELEMETRY_DISABLED:-1}"
# Switching between a filtered and a full install makes pnpm rebuild node_modules, which it refuses to do without
# a terminal unless told it may.
workspace_install() {
  if [ -n "$FALGATE_INSTALL_FILTER" ]; then
    pnpm install --frozen-lockfile --config.confirmModulesPurge=false --filter-prod "$FALGATE_INSTALL_FILTER" "$@"
  else
    pnpm install --frozen-lockfile --config.confirmModulesPurge=false "$@"
  fi
}
if [ -z "$FALGATE_SKIP_INSTALL" ]; then
  # Quiet when it works; on failure, once more with pnpm's own output.
  workspace_install --prefer-offline --reporter=silent || workspace_install
fi
# Scripts run by this pnpm that come back through here need no second install.
export FALGATE_SKIP_INSTALL=1
exec pnpm "$@"
