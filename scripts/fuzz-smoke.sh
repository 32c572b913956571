#!/usr/bin/env bash
# A short, time-boxed run of every fuzz target (decoders, topic validation, config parser),
# starting from the committed seed corpus. Installs cargo-fuzz if missing. Only stable Rust is
# available, so the nightly flags cargo-fuzz needs are unlocked with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-15}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --quiet
fi
export RUSTC_BOOTSTRAP=1
targets=$(cargo fuzz list)
cargo fuzz build -O $targets >/dev/null 2>&1 || cargo fuzz build -O
for target in $targets; do
  echo "== fuzz $target for ${seconds}s"
  # A scratch copy of the seeds, so new corpus entries never dirty the checkout.
  work=$(mktemp -d)
  cp -r "corpus/$target/." "$work/" 2>/dev/null || true
  cargo fuzz run -O "$target" "$work" -- -max_total_time="$seconds" -rss_limit_mb=2048 2>&1 | tail -n 3
  rm -rf "$work"
done
echo "fuzz smoke: all targets ran without a crash"
