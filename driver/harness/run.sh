#!/usr/bin/env bash
# The Linux driver harness: driver/src (unmodified) compiled for the host against
# twins of wdk-sys/wdk/wdk-alloc/wdk-panic and run against a model of Windows.
#
#   driver/harness/run.sh            dev + release profiles, then the test-hooks test
#   driver/harness/run.sh --quick    release profile only
#
# Needs the real wdk-sys bindings generated once by scripts/typecheck-driver.sh
# (target/wdk-linux/bindings.env); this script runs it when they are missing.
# Stack tables: target/stack-report-{dev,release}.txt.
set -euo pipefail
cd "$(dirname "$0")"
REPO=$(cd ../.. && pwd)
if [ ! -f "$REPO/target/wdk-linux/bindings.env" ]; then
  bash "$REPO/scripts/typecheck-driver.sh" --no-apt --check-only
fi
if [ "${1:-}" != "--quick" ]; then
  cargo test
fi
cargo test --release
if [ "${1:-}" != "--quick" ]; then
  cargo test --features test-hooks --test test_hooks
fi
for p in dev release; do
  [ -f "target/stack-report-$p.txt" ] && cat "target/stack-report-$p.txt"
done
