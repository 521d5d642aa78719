#!/usr/bin/env bash
# Model versus Wine: the harness model's NT file and registry calls checked against an
# implementation nobody here wrote. One pattern script (driver/harness/wine/src/script/:
# every call pattern of driver/src/platform.rs, nt.rs and params.rs, and the edge cases the
# model claims) runs against the model (driver/harness/tests/wine_diff.rs, the Zw* names)
# and against Wine's ntdll (driver/harness/wine, built for x86_64-pc-windows-gnu, run under
# wine64 in a scratch prefix). Every difference must be a row of
# driver/harness/wine/departures.txt (also in docs/DRIVER.md "Model versus Wine").
#
# Usage: scripts/wine-diff.sh [--no-apt] [--record]
#   --no-apt   do not apt-get wine64 / gcc-mingw-w64-x86-64 (they must be installed)
#   --record   copy Wine's trace over driver/harness/wine/wine-8.0.trace (the recorded
#              trace the harness's own `cargo test` compares the model with)
# Prints "SKIPPED: <why>" and exits 0 when a tool cannot be had; exits non-zero on a
# difference that is not a documented departure, or when the recorded trace is stale.
# Env: WINE_DIFF_DIR (default target/wine-diff: the prefix, build and traces).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"
DO_APT=1; RECORD=0
for a in "$@"; do
  case "$a" in
    --no-apt) DO_APT=0;; --record) RECORD=1;;
    *) echo "usage: $0 [--no-apt] [--record]" >&2; exit 2;;
  esac
done
OUT="${WINE_DIFF_DIR:-$REPO/target/wine-diff}"
TARGET=x86_64-pc-windows-gnu
RECORDED=driver/harness/wine/wine-8.0.trace
skip() { echo "SKIPPED: model vs Wine: $1"; exit 0; }
t0=$(date +%s)

[ -f target/wdk-linux/bindings.env ] || skip "no generated wdk-sys bindings (run scripts/typecheck-driver.sh --no-apt --check-only)"

# Debian's wine64 puts its loader in /usr/lib/wine (no /usr/bin/wine64 without the
# `wine` wrapper package, which would pull in 32-bit Wine).
WINE=$(command -v wine64 || echo /usr/lib/wine/wine64)
WINESERVER=$(command -v wineserver || echo /usr/lib/wine/wineserver)
if [ "$DO_APT" = 1 ] && ! { [ -x "$WINE" ] && command -v x86_64-w64-mingw32-gcc >/dev/null; }; then
  echo "installing wine64 and gcc-mingw-w64-x86-64 (Debian)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      wine64 gcc-mingw-w64-x86-64 >/dev/null; } || skip "apt-get could not install wine64 / gcc-mingw-w64-x86-64"
fi
[ -x "$WINE" ] || skip "wine64 not installed"
[ -x "$WINESERVER" ] || skip "wineserver not installed"
command -v x86_64-w64-mingw32-gcc >/dev/null || skip "x86_64-w64-mingw32-gcc not installed"
rustup target list --installed 2>/dev/null | grep -qx "$TARGET" || rustup target add "$TARGET" >/dev/null 2>&1 \
  || skip "rustup target add $TARGET failed"
WINE_VERSION=$("$WINE" --version 2>/dev/null || echo unknown)
echo "wine: $WINE_VERSION"
# The departures table and the recorded trace are Wine 8.0's (Debian 12's wine64).
case "$WINE_VERSION" in
  wine-8.0|wine-8.0[!.0-9]*) ;;
  *) skip "Wine is $WINE_VERSION; the known departures are recorded for wine-8.0 (Debian 12's wine64)";;
esac

# The Windows side. Rust's std (windows-gnu) imports ProcessPrng from
# bcryptprimitives.dll, which Wine 8 lacks: a stub beside the exe forwards it.
mkdir -p "$OUT/bin"
STUB=driver/harness/wine/stub/bcryptprimitives.c
if [ ! "$OUT/bin/bcryptprimitives.dll" -nt "$STUB" ]; then
  x86_64-w64-mingw32-gcc -shared -O2 -s -o "$OUT/bin/bcryptprimitives.dll" "$STUB" -ladvapi32
fi
(cd driver/harness/wine && CARGO_TARGET_DIR="$OUT/cargo" cargo build --locked -q --target "$TARGET")
cp "$OUT/cargo/$TARGET/debug/changuard-wine-diff.exe" "$OUT/bin/"
echo "windows-gnu build: $(( $(date +%s) - t0 ))s"

# Wine, headless, in a scratch prefix kept between runs (creating one takes seconds);
# output to files (a pipe can keep wine waiting), wineserver -k at the end.
export WINEPREFIX="$OUT/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" DISPLAY=
trap '"$WINESERVER" -k >/dev/null 2>&1 || true' EXIT
rm -rf "$WINEPREFIX/drive_c/changuard-diff" "$WINEPREFIX/drive_c/changuard-wine.trace"
t1=$(date +%s)
rc=0
timeout 300 "$WINE" "$OUT/bin/changuard-wine-diff.exe" 'C:\changuard-wine.trace' \
  >"$OUT/wine.stdout" 2>"$OUT/wine.stderr" </dev/null || rc=$?
"$WINESERVER" -k >/dev/null 2>&1 || true
if [ "$rc" != 0 ] || [ ! -s "$WINEPREFIX/drive_c/changuard-wine.trace" ]; then
  echo "wine run failed (exit $rc); its stderr:"; tail -n 20 "$OUT/wine.stderr"; exit 1
fi
cp "$WINEPREFIX/drive_c/changuard-wine.trace" "$OUT/wine.trace"
echo "wine run: $(( $(date +%s) - t1 ))s, $(wc -l <"$OUT/wine.trace") calls"

# The model side and the comparison (the harness test reads the departures table).
t2=$(date +%s)
(cd driver/harness && CHANGUARD_WINE_TRACE="$OUT/wine.trace" \
   cargo test --locked --release -q --test wine_diff -- --nocapture)
echo "model side and comparison: $(( $(date +%s) - t2 ))s"

if [ "$RECORD" = 1 ]; then
  cp "$OUT/wine.trace" "$RECORDED"
  echo "recorded $RECORDED"
elif ! cmp -s "$OUT/wine.trace" "$RECORDED"; then
  diff "$RECORDED" "$OUT/wine.trace" | head -n 20
  echo "FAILED: Wine's trace differs from the recorded $RECORDED (run scripts/wine-diff.sh --record)"
  exit 1
fi
echo "model vs Wine: ok ($(( $(date +%s) - t0 ))s)"
