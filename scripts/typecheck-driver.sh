#!/usr/bin/env bash
# Type-check and clippy driver/ on Linux against real wdk-sys bindings.
#
# The real wdk-build 0.6.0 / wdk-sys 0.5.2 build scripts run here (bindgen over
# ntddk.h + wdf.h, cc over wdf.c, the driver's own configure_wdk_binary_build()),
# against a WDK content root assembled from public headers:
#   km/ + shared/   Debian's mingw-w64 headers (mingw-w64-common, mingw-w64-x86-64-dev)
#   wdf/kmdf/1.33   Microsoft's KMDF 1.33 public headers (MIT), from $KMDF_HEADERS or
#                   ../shared/wdk-linux/kmdf/1.33 beside the repository
#   libclang 16     Debian's; the nearest to the LLVM 17 windows-drivers-rs tests with
#                   (libclang 19 breaks wdk-sys 0.5.2's own layout tests).
# Then, for x86_64-pc-windows-msvc: `cargo check` of driver/ with default features and
# with `test-hooks`, and `cargo clippy -- -D warnings` with the driver's own lints, both
# feature sets. It proves the driver's Rust is well-typed against the real KMDF 1.33
# declarations and the real wdk-sys generator. It does NOT link, sign or package, and the
# non-WDF NT prototypes (Zw*, Ps*, Ex*) come from mingw-w64, not the WDK:
# docs/DRIVER.md "What the Linux type-check proves" lists every deviation.
#
# Then the kernel stack check: the driver's worst-case stack depth per entry point from
# its own msvc code (scripts/stack_depth.py), release and dev profiles, against the
# budgets in docs/DRIVER.md "Kernel stack".
#
# Usage: scripts/typecheck-driver.sh [--no-apt] [--check-only] [--no-stack]
#   --no-apt      do not apt-get the compilers/headers (they must be installed)
#   --check-only  cargo check only (no clippy, no stack check)
#   --no-stack    skip the stack check
# Env: KMDF_HEADERS (a checkout's src/publicinc/wdf/kmdf/1.33), CACHE (default
# target/wdk-linux), LLVM (default 16).
# Prints "SKIPPED: <why>" and exits 0 when the KMDF headers or the tools cannot be had.
# On success it writes $CACHE/bindings.env: WDK_SYS_OUT, the wdk-sys OUT_DIR holding the
# generated bindings (the Linux driver harness reuses them).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
HERE="$REPO/scripts/wdk-linux"
DO_APT=1; CLIPPY=1; STACK=1
for a in "$@"; do
  case "$a" in
    --no-apt) DO_APT=0;; --check-only) CLIPPY=0; STACK=0;; --no-stack) STACK=0;;
    *) echo "usage: $0 [--no-apt] [--check-only] [--no-stack]" >&2; exit 2;;
  esac
done
CACHE="${CACHE:-$REPO/target/wdk-linux}"
LLVM="${LLVM:-16}"; SDKV=10.0.22621.0; TARGET=x86_64-pc-windows-msvc

skip() {
  echo "SKIPPED: driver type-check: $1"
  echo "         To run it: get Microsoft's KMDF 1.33 public headers (MIT) from a checkout of"
  echo "         microsoft/Windows-Driver-Frameworks (src/publicinc/wdf/kmdf/1.33) and set KMDF_HEADERS to that folder."
  exit 0
}

KMDF="${KMDF_HEADERS:-$REPO/../shared/wdk-linux/kmdf/1.33}"
[ -f "$KMDF/wdf.h" ] || skip "KMDF 1.33 headers not found (no wdf.h in ${KMDF_HEADERS:-../shared/wdk-linux/kmdf/1.33})"

if [ "$DO_APT" = 1 ] && ! { [ -x "/usr/lib/llvm-$LLVM/bin/clang" ] && [ -f /usr/share/mingw-w64/include/ddk/ntddk.h ] && command -v rsync >/dev/null && command -v patch >/dev/null; }; then
  echo "installing clang-$LLVM, libclang-$LLVM-dev, llvm-$LLVM, mingw-w64 headers (Debian)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "clang-$LLVM" "libclang-$LLVM-dev" "llvm-$LLVM" mingw-w64-common mingw-w64-x86-64-dev patch rsync >/dev/null; } \
    || skip "apt-get could not install clang-$LLVM / mingw-w64 headers"
fi
rustup target list --installed 2>/dev/null | grep -qx "$TARGET" || rustup target add "$TARGET" >/dev/null 2>&1 \
  || skip "rustup target add $TARGET failed"
LLVMDIR=/usr/lib/llvm-$LLVM
[ -x "$LLVMDIR/bin/clang" ] || skip "clang-$LLVM not installed"
RESDIR=$(ls -d "$LLVMDIR"/lib/clang/* | head -1)
MINGW=/usr/share/mingw-w64/include
[ -f "$MINGW/ddk/ntddk.h" ] || skip "mingw-w64 DDK headers missing at $MINGW/ddk"

# WDK content root in the layout wdk-build 0.6.0 expects. Rebuilt only when an input
# changes, so wdk-sys's bindgen (minutes) does not rerun on every call.
W="$CACHE/wdk"; INC="$W/Include/$SDKV"
stamp=$( { cat "$HERE"/shim/* "$HERE/casefix.py"; ls -l "$KMDF" "$MINGW/ddk"; echo "$LLVM"; } | sha256sum | cut -c1-16)
if [ "$(cat "$W/.stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$W"
  mkdir -p "$INC/km/crt" "$INC/shared" "$INC/km/ufx/1.1" "$W/Include/wdf/kmdf" "$W/Lib/$SDKV/km/x64" "$W/Lib/wdf/kmdf/x64/1.33"
  cp -r "$MINGW/ddk/." "$INC/km/"
  ( cd "$MINGW" && for e in *; do [ "$e" = ddk ] || cp -r "$e" "$INC/shared/"; done )
  rm -f "$INC/shared/intrin.h"                    # on Windows intrin.h comes from the compiler
  cp -r "$KMDF" "$W/Include/wdf/kmdf/1.33"
  cp "$HERE/shim/setjmp.h" "$INC/km/crt/setjmp.h"
  cp "$HERE/shim/drivercheck_prelude.h" "$HERE/shim/drivercheck_km_post.h" "$INC/km/"
  printf '\n#include "drivercheck_km_post.h"\n' >> "$INC/km/wdm.h"
  python3 "$HERE/casefix.py" "$INC/km/crt" "$INC/km" "$INC/shared" "$W/Include/wdf/kmdf/1.33"
  echo "$stamp" > "$W/.stamp"
fi

# Scratch workspace: driver/ + crates/ + wdk-build patched to run its build logic on a
# Linux host (the generation logic itself is unchanged; see the patch).
WS="$CACHE/ws"; mkdir -p "$WS"
rsync -a --delete --exclude target "$REPO/crates" "$WS/"
rsync -a --delete --exclude target --exclude hostcheck --exclude harness "$REPO/driver" "$WS/"
cp "$REPO/Cargo.toml" "$WS/"; cp "$REPO/Cargo.lock" "$WS/"
( cd "$WS/driver" && cargo fetch -q --locked --target "$TARGET" )
REG=$(dirname "$(cd "$WS/driver" && cargo metadata --format-version 1 -q --filter-platform "$TARGET" \
  | python3 -c 'import json,sys; print([p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]=="wdk-build"][0])')")
PATCHED="$CACHE/patched/wdk-build"
if [ "$(cat "$PATCHED/.stamp" 2>/dev/null)" != "$(sha256sum < "$HERE/wdk-build-0.6.0.patch")" ]; then
  rm -rf "$PATCHED"; mkdir -p "$(dirname "$PATCHED")"; cp -r "$REG" "$PATCHED"
  patch -s --binary -p1 -d "$PATCHED" < "$HERE/wdk-build-0.6.0.patch"
  sha256sum < "$HERE/wdk-build-0.6.0.patch" > "$PATCHED/.stamp"
fi
printf '\n[patch.crates-io]\nwdk-build = { path = "%s" }\n' "$PATCHED" >> "$WS/driver/Cargo.toml"

mkdir -p "$CACHE/bin"
printf '#!/bin/sh\nexec %s/bin/clang --driver-mode=cl "$@"\n' "$LLVMDIR" > "$CACHE/bin/clang-cl"; chmod +x "$CACHE/bin/clang-cl"
export WDKContentRoot="$W" LIBCLANG_PATH="$LLVMDIR/lib"
export BINDGEN_EXTRA_CLANG_ARGS="-resource-dir=$RESDIR -fgnuc-version=4.2.1 -include $INC/km/drivercheck_prelude.h"
export CC_x86_64_pc_windows_msvc="$CACHE/bin/clang-cl" AR_x86_64_pc_windows_msvc="$LLVMDIR/bin/llvm-lib"
export CFLAGS_x86_64_pc_windows_msvc="/clang:-fgnuc-version=4.2.1 /FI$INC/km/drivercheck_prelude.h"
export CHANGUARD_TRUSTED_PUBKEYS="${CHANGUARD_TRUSTED_PUBKEYS:-$REPO/examples/keys/TEST-ONLY-changuard.pub}"

cd "$WS/driver"
for features in "" "test-hooks"; do
  echo "---- cargo check --target $TARGET ${features:+--features $features}"
  cargo check -q --target "$TARGET" ${features:+--features "$features"}
done
if [ "$CLIPPY" = 1 ]; then
  for features in "" "test-hooks"; do
    echo "---- cargo clippy --target $TARGET ${features:+--features $features} -- -D warnings"
    cargo clippy -q --target "$TARGET" ${features:+--features "$features"} -- -D warnings
  done
fi
if [ "$STACK" = 1 ]; then
  # Kernel stack budgets, from the msvc code itself (scripts/stack_depth.py): the driver
  # as a static library (the same LTO'd code as changuard.sys, no link), one .text
  # section per object so every function has a distinct address, for both profiles.
  for profile in release dev; do
    echo "---- stack depth, $profile profile (x86_64-pc-windows-msvc unwind data + call graph)"
    RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$WS/driver/target-stack" \
      RUSTFLAGS="-C target-feature=+crt-static -Zfunction-sections=no" \
      cargo rustc -q --target "$TARGET" --profile "$profile" --lib --crate-type staticlib
    dir=$profile; [ "$profile" = dev ] && dir=debug
    python3 "$REPO/scripts/stack_depth.py" --json \
      --budget DriverEntry=6144 --budget lifecycle::load=6144 --budget lifecycle::promote=6144 \
      --budget evt_io_device_control=6144 --budget evt_promotion_timer=6144 --budget evt_driver_unload=6144 \
      --budget evt_shutdown=6144 --budget lifecycle::end_of_boot=6144 \
      --peak-budget evt_shutdown=12288 --peak-budget lifecycle::end_of_boot=32768 \
      --budget on_process_notify=4096 --peak-budget on_process_notify=4096 \
      --peak-budget lifecycle::load=32768 --peak-budget lifecycle::promote=32768 \
      --peak-budget DriverEntry=12288 --peak-budget evt_io_device_control=12288 \
      --peak-budget evt_promotion_timer=12288 --peak-budget evt_driver_unload=12288 \
      "target-stack/$TARGET/$dir/changuard.lib" > "$CACHE/stack-$profile.json" || stack_rc=1
    python3 - "$CACHE/stack-$profile.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{'entry point':58} {'at-windows':>10} {'budget':>6} {'peak':>6} {'budget':>6}")
for e in sorted(r["entries"], key=lambda e: -e["at_windows"]):
    flag = "  OVER" if e["entry"] in r["over_budget"] + r["over_peak_budget"] else ""
    print(f"{e['entry'][:58]:58} {e['at_windows']:>10} {e['budget'] or '-':>6} {e['peak']:>6} {e['peak_budget'] or '-':>6}{flag}")
for k in r["missing_entry_points"]:
    print(f"no entry point matches '{k}'")
for c in r["recursion"]:
    print(f"recursion: {c}")
PY
  done
  # The check can fail: a budget below DriverEntry's own frame must be reported.
  if python3 "$REPO/scripts/stack_depth.py" --budget DriverEntry=64 "target-stack/$TARGET/release/changuard.lib" >/dev/null; then
    echo "stack_depth.py self-test: a 64-byte budget passed"; exit 1
  fi
  [ "${stack_rc:-0}" = 0 ] || { echo "driver stack: over budget (details: python3 scripts/stack_depth.py -v <lib>)"; exit 1; }
fi
out=$(ls -dt target/$TARGET/debug/build/wdk-sys-*/out 2>/dev/null | while read -r d; do [ -f "$d/types.rs" ] && echo "$d" && break; done)
src=$(cargo metadata --format-version 1 -q --filter-platform "$TARGET" \
  | python3 -c 'import json,sys; print([p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]=="wdk-sys"][0])')
[ -n "$out" ] && printf 'WDK_SYS_OUT=%s\nWDK_SYS_SRC=%s\n' "$WS/driver/$out" "$(dirname "$src")/src" > "$CACHE/bindings.env"
[ "$CLIPPY" = 1 ] && what="check + clippy" || what="check"
[ "$STACK" = 1 ] && what="$what + stack budgets"
echo "driver type-check: ok ($what, both feature sets, $TARGET)"
