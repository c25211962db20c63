#!/bin/sh
# `npm run demo`: installs only the demo and the workspace packages it depends on, builds them with the build
# output kept in a log (shown only if something fails), then starts the demo, which prints its URL.
# PORT (3000) and HOST (127.0.0.1) pick the address; `npm run demo -- --dev` runs `next dev` instead.
set -e
cd "$(dirname "$0")/.."

# A taken port is found before the build, not after it.
if ! node -e '
  const server = require("node:net").createServer();
  server.once("error", (error) => process.exit(error.code === "EADDRINUSE" ? 1 : 0));
  server.listen(Number(process.env.PORT || 3000), process.env.HOST || "127.0.0.1", () => server.close());
'; then
  echo "falgate demo: port ${PORT:-3000} is already in use (another demo still running?)." >&2
  echo "Stop it, or pick another port: PORT=3001 npm run demo" >&2
  exit 1
fi

mkdir -p .turbo
LOG=.turbo/demo-build.log
echo "falgate demo: installing and building (a few minutes the first time)..."
if ! FALGATE_INSTALL_FILTER='@falgate/demo...' sh scripts/pnpm.sh exec \
  turbo run build --filter='@falgate/demo...' --output-logs=errors-only >"$LOG" 2>&1; then
  cat "$LOG" >&2
  echo "falgate demo: the install or the build failed (output above, also in $LOG)." >&2
  exit 1
fi
export NEXT_TELEMETRY_DISABLED="${NEXT_TELEMETRY_DISABLED:-1}"
exec node apps/demo/server.mjs "$@"
