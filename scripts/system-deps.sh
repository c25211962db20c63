#!/bin/sh
# Installs the system programs the test suite drives (Debian's chromium, redis-server, openssl) when they are missing.
# Uses apt-get as root or through passwordless sudo; otherwise says what to install and lets the tests report it.
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = "0" ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo -n"
elif command -v apt-get >/dev/null 2>&1; then
  echo "falgate: the browser and Redis tests need:$missing (sudo apt-get install -y$missing)" >&2
  exit 0
else
  echo "falgate: the browser and Redis tests need:$missing" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "falgate: the browser and Redis tests need:$missing (no apt-get here)" >&2
  exit 0
fi
echo "falgate: installing$missing with apt"
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
($SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null) \
  || echo "falgate: apt-get install failed; the browser and Redis tests will report it" >&2
exit 0
