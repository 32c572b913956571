#!/usr/bin/env bash
# Runs every test: Rust unit, property and black-box tests (nextest), doc tests, then the
# end-to-end tests that drive the release binary with paho-mqtt and mosquitto_pub/sub.
# Installs what it needs when missing: mosquitto-clients, mosquitto, openssl and chromium from
# Debian (the TLS end-to-end test runs Debian's mosquitto with certificates made by openssl; the
# browser test drives chromium), Python packages (paho-mqtt, playwright, pytest, requests,
# schemathesis, PyJWT, scramp) from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

need_root() { if [ "$(id -u)" -ne 0 ]; then echo "sudo"; fi; }

if ! command -v mosquitto_sub >/dev/null 2>&1; then
  echo "== installing mosquitto-clients"
  $(need_root) apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $(need_root) apt-get install -y -qq mosquitto-clients >/dev/null
fi
if { ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; } \
  || ! command -v openssl >/dev/null 2>&1; then
  echo "== installing mosquitto and openssl"
  $(need_root) apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $(need_root) apt-get install -y -qq mosquitto openssl >/dev/null
fi
# The browser end-to-end test drives Debian's Chromium with Playwright (pip); `playwright install`
# is never run: it would download a browser build of its own.
if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium"
  $(need_root) apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $(need_root) apt-get install -y -qq chromium >/dev/null
fi
if ! python3 -c 'import paho.mqtt, pytest, playwright.sync_api, requests, schemathesis, jwt, scramp' >/dev/null 2>&1; then
  echo "== installing Python test packages"
  python3 -m pip install -q -r tests/e2e/requirements.txt
fi

echo "== doc tests"
cargo test --workspace --doc

echo "== cargo nextest (unit, property, black-box)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

echo "== end-to-end (release binary, paho-mqtt, mosquitto clients)"
cargo build --release -p starling
STARLING_BIN="$PWD/target/release/starling" python3 -m pytest tests/e2e -q
