#!/usr/bin/env bash
# Vendors the browser libraries the end-to-end browser test loads (tests/web/mqtt-test.html),
# so that test needs no network: MQTT.js's browser bundle from the npm package `mqtt`, at the
# pinned version below, into web/vendor/mqtt/ with its licence, and web/vendor/SHA256SUMS.
#
#   scripts/vendor-web.sh           fetch with `npm pack` and (re)write web/vendor/
#   scripts/vendor-web.sh --check   fetch again and check the committed files are exactly what
#                                   npm gives for the pinned version, and match SHA256SUMS
#
# `npm pack` checks the tarball against the registry's integrity hash; the tarball's sha512 is
# recorded in web/vendor/README.md. To upgrade: change MQTT_VERSION, run without --check, run
# the browser test, commit web/vendor/.
set -euo pipefail
cd "$(dirname "$0")/.."

MQTT_VERSION=5.16.0
VENDOR=web/vendor
# Files taken from the package: <path in the tarball> <path under web/vendor>.
FILES=(
  "package/dist/mqtt.min.js mqtt/mqtt.min.js"
  "package/LICENSE.md mqtt/LICENSE.md"
)

mode=write
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

command -v npm >/dev/null 2>&1 || { echo "npm not found (apt-get install npm)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "mqtt@$MQTT_VERSION" >/dev/null)
tarball="$tmp/mqtt-$MQTT_VERSION.tgz"
[ -f "$tarball" ] || { echo "npm pack did not produce $tarball" >&2; exit 1; }
tar -xzf "$tarball" -C "$tmp"
got_version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$tmp/package/package.json" | head -n1)
[ "$got_version" = "$MQTT_VERSION" ] || {
  echo "package.json says version '$got_version', expected $MQTT_VERSION" >&2; exit 1; }

if [ "$mode" = write ]; then
  for f in "${FILES[@]}"; do
    set -- $f
    mkdir -p "$(dirname "$VENDOR/$2")"
    cp "$tmp/$1" "$VENDOR/$2"
  done
  (cd "$VENDOR" && for f in "${FILES[@]}"; do set -- $f; echo "$2"; done \
    | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
  echo "vendored mqtt@$MQTT_VERSION into $VENDOR (tarball integrity" \
    "sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0))"
else
  status=0
  for f in "${FILES[@]}"; do
    set -- $f
    if ! cmp -s "$tmp/$1" "$VENDOR/$2"; then
      echo "$VENDOR/$2 differs from $1 in mqtt@$MQTT_VERSION" >&2
      status=1
    fi
  done
  (cd "$VENDOR" && sha256sum --check --quiet SHA256SUMS) || status=1
  [ "$status" -eq 0 ] && echo "web/vendor matches mqtt@$MQTT_VERSION from npm and SHA256SUMS"
  exit "$status"
fi
