#!/usr/bin/env bash
# Vendors the browser libraries the dashboard (web/dashboard) and the end-to-end browser test
# (tests/web/mqtt-test.html) load, so neither needs a network: MQTT.js's browser bundle from
# the npm package `mqtt` and uPlot's from `uplot`, at the pinned versions below, into
# web/vendor/<dir>/ with their licences, and web/vendor/SHA256SUMS.
#
#   scripts/vendor-web.sh           fetch with `npm pack` and (re)write web/vendor/
#   scripts/vendor-web.sh --check   fetch again and check the committed files are exactly what
#                                   npm gives for the pinned versions, and match SHA256SUMS
#
# `npm pack` checks each tarball against the registry's integrity hash; the tarballs' sha512
# are recorded in web/vendor/README.md. To upgrade: change a version, run without --check, run
# the browser tests (test_browser.py, test_dashboard.py), commit web/vendor/.
set -euo pipefail
cd "$(dirname "$0")/.."

VENDOR=web/vendor
# Packages: <npm name> <version>.
PACKAGES=(
  "mqtt 5.16.0"
  "uplot 1.6.32"
)
# Files taken from the packages: <package> <path in its tarball> <path under web/vendor>.
FILES=(
  "mqtt package/dist/mqtt.min.js mqtt/mqtt.min.js"
  "mqtt package/LICENSE.md mqtt/LICENSE.md"
  "uplot package/dist/uPlot.esm.js uplot/uPlot.esm.js"
  "uplot package/dist/uPlot.min.css uplot/uPlot.min.css"
  "uplot package/LICENSE uplot/LICENSE"
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

for p in "${PACKAGES[@]}"; do
  set -- $p
  name=$1 version=$2
  mkdir -p "$tmp/$name"
  (cd "$tmp/$name" && npm pack --silent "$name@$version" >/dev/null)
  tarball="$tmp/$name/$name-$version.tgz"
  [ -f "$tarball" ] || { echo "npm pack did not produce $tarball" >&2; exit 1; }
  tar -xzf "$tarball" -C "$tmp/$name"
  got_version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$tmp/$name/package/package.json" | head -n1)
  [ "$got_version" = "$version" ] || {
    echo "$name: package.json says version '$got_version', expected $version" >&2; exit 1; }
  if [ "$mode" = write ]; then
    echo "$name@$version: tarball integrity" \
      "sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
  fi
done

if [ "$mode" = write ]; then
  for f in "${FILES[@]}"; do
    set -- $f
    mkdir -p "$(dirname "$VENDOR/$3")"
    cp "$tmp/$1/$2" "$VENDOR/$3"
  done
  (cd "$VENDOR" && for f in "${FILES[@]}"; do set -- $f; echo "$3"; done \
    | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
  echo "vendored ${PACKAGES[*]} into $VENDOR"
else
  status=0
  for f in "${FILES[@]}"; do
    set -- $f
    if ! cmp -s "$tmp/$1/$2" "$VENDOR/$3"; then
      echo "$VENDOR/$3 differs from $2 in the pinned $1" >&2
      status=1
    fi
  done
  (cd "$VENDOR" && sha256sum --check --quiet SHA256SUMS) || status=1
  [ "$status" -eq 0 ] && echo "web/vendor matches ${PACKAGES[*]} from npm and SHA256SUMS"
  exit "$status"
fi
