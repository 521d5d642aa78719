#!/usr/bin/env bash
# Per-function stack frame sizes of the kernel crates, as compiled for the driver.
#
# The x64 Windows kernel stack is 24 KiB: one large frame in kernel code is a
# bugcheck waiting for a deep call chain. This builds changuard-format
# (--no-default-features, as the driver uses it), changuard-interp,
# changuard-release, changuard-loader, changuard-control and changuard-sensor for x86_64-pc-windows-msvc as release
# objects (-C codegen-units=1 -C panic=abort, no linking) and reads every
# function's fixed frame from its Windows x64 unwind data (.pdata/.xdata):
#
#   frame = 8 * PUSH_NONVOL + ALLOC_SMALL/ALLOC_LARGE + 8 (return address)
#
# (SAVE_XMM128/SAVE_NONVOL slots lie inside the ALLOC area, so they are counted
# there; functions with no unwind info are leaves without a frame.) A frame of
# 4 KiB or more is probed by a __chkstk call; its ALLOC still states the size,
# and the table marks such functions "chkstk" (from the object's relocations).
#
# Generic code is compiled in the crate that instantiates it: interp's object
# holds the regex-automata search code it uses, and the loader's generic boot /
# promote paths (over Platform) are instantiated by
# crates/loader/examples/frame_probe.rs, whose object counts as the loader's.
#
# Fails (exit 1) when a function's frame exceeds FRAME_LIMIT bytes (default
# 2048) and no entry of scripts/frame-allowlist.txt covers it, or when a crate
# yields no functions (the check must not pass by measuring nothing).
# Prints "SKIPPED: <why>" and exits 0 when the rustup target or llvm-readobj
# cannot be had.
#
#   scripts/check-frames.sh           table of the FRAME_TOP (15) largest frames per crate
#   scripts/check-frames.sh --json    the same as JSON on stdout (build output on stderr)
#   FRAME_LIMIT=64 scripts/check-frames.sh    self-test: must exit 1 (proves the check can fail)
#   LLVM_READOBJ=/nonexistent scripts/check-frames.sh    must print SKIPPED and exit 0
#   env: FRAME_LIMIT (bytes, default 2048), FRAME_TOP (rows per crate, default 15),
#        LLVM_READOBJ (llvm-readobj to use; default llvm-readobj-16, llvm-readobj,
#        then rustup's llvm-tools)
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-pc-windows-msvc
LIMIT="${FRAME_LIMIT:-2048}"
TOP="${FRAME_TOP:-15}"
ALLOWLIST=scripts/frame-allowlist.txt
OUT=target/frames
JSON=0
for a in "$@"; do
  case "$a" in
    --json) JSON=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "unknown argument: $a" >&2; exit 2 ;;
  esac
done
case "$LIMIT" in ''|*[!0-9]*) echo "FRAME_LIMIT must be a number of bytes: $LIMIT" >&2; exit 2 ;; esac

# ---- tools (a stage that cannot get a tool skips loudly) ----
if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET" \
   && ! rustup target add "$TARGET" >/dev/null 2>&1; then
  echo "SKIPPED: frame check: rustup target add $TARGET failed"
  exit 0
fi
# LLVM_READOBJ overrides the search (and, pointed at nothing, tests the skip).
READOBJ=""
if [ -n "${LLVM_READOBJ:-}" ]; then
  CANDIDATES=("$LLVM_READOBJ")
else
  CANDIDATES=(llvm-readobj-16 llvm-readobj
    "$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/llvm-readobj")
fi
for c in "${CANDIDATES[@]}"; do
  if command -v "$c" >/dev/null 2>&1; then READOBJ="$c"; break; fi
done
if [ -z "$READOBJ" ]; then
  echo "SKIPPED: frame check: llvm-readobj not found (apt-get install -y llvm-16)"
  exit 0
fi
# Demangler for Rust legacy and v0 symbols; without one, names stay mangled.
DEMANGLE=""
for c in rustfilt llvm-cxxfilt-16 llvm-cxxfilt; do
  if command -v "$c" >/dev/null 2>&1; then DEMANGLE="$c"; break; fi
done

# ---- build: one object per unit, codegen-units=1 so each is a single file ----
mkdir -p "$OUT"
rm -f "$OUT"/*.o "$OUT"/*.unwind "$OUT"/*.relsym
RUSTC_ARGS=(-C codegen-units=1 -C panic=abort)
# unit name | crate it is counted for | cargo selection
UNITS=(
  "format|changuard-format|-p changuard-format --no-default-features --lib"
  "release|changuard-release|-p changuard-release --lib"
  "interp|changuard-interp|-p changuard-interp --lib"
  "loader|changuard-loader|-p changuard-loader --lib"
  "loader-probe|changuard-loader|-p changuard-loader --example frame_probe"
  "control|changuard-control|-p changuard-control --lib"
  "sensor|changuard-sensor|-p changuard-sensor --lib"
)
# A fresh object path per run: cargo fingerprints the extra rustc arguments, so
# this always recompiles the measured crate (never a stale or missing object).
RUN="$(date +%s%N)"
PYUNITS=()
for u in "${UNITS[@]}"; do
  IFS='|' read -r name crate sel <<<"$u"
  # shellcheck disable=SC2086 # $sel is a list of cargo arguments
  cargo rustc --release --locked --target "$TARGET" $sel -- \
    --emit=obj="$OUT/$name-$RUN.o" "${RUSTC_ARGS[@]}" >&2
  [ -s "$OUT/$name-$RUN.o" ] || { echo "no object produced for $name" >&2; exit 1; }
  mv "$OUT/$name-$RUN.o" "$OUT/$name.o"
  "$READOBJ" --unwind "$OUT/$name.o" >"$OUT/$name.unwind"
  "$READOBJ" --relocations --symbols "$OUT/$name.o" >"$OUT/$name.relsym"
  PYUNITS+=("$crate=$OUT/$name")
done

# ---- parse, demangle, report ----
python3 - "$LIMIT" "$TOP" "$JSON" "$ALLOWLIST" "$DEMANGLE" "${PYUNITS[@]}" <<'PY'
import json, re, subprocess, sys

limit, top, as_json, allow_path, demangler = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4], sys.argv[5]
units = [a.split("=", 1) for a in sys.argv[6:]]

def parse_unwind(path):
    """{symbol: (frame, alloc, pushes, xmm)} from `llvm-readobj --unwind`."""
    funcs, cur = {}, None
    def close():
        if cur is not None:
            name, alloc, pushes, xmm = cur
            frame = pushes * 8 + alloc + 8
            if name not in funcs or funcs[name][0] < frame:
                funcs[name] = (frame, alloc, pushes, xmm)
    for line in open(path):
        s = line.strip()
        m = re.match(r"StartAddress: (\S+)", s)
        if m:
            close()
            cur = [m.group(1), 0, 0, 0]
            continue
        if cur is None:
            continue
        m = re.search(r"\b(ALLOC_SMALL|ALLOC_LARGE) size=(\d+)", s)
        if m:
            cur[1] += int(m.group(2))
        elif re.search(r"\bPUSH_NONVOL\b", s):
            cur[2] += 1
        elif re.search(r"\bSAVE_XMM128", s):
            cur[3] += 1
        elif re.search(r"\bPUSH_MACHFRAME\b", s):
            cur[1] += 48  # machine frame (+ error code): only in trap handlers
    close()
    return funcs

def chkstk_callers(path):
    """Function symbols whose section has a relocation against __chkstk."""
    text = open(path).read()
    sections = set()
    for m in re.finditer(r"Section \((\d+)\) \S+ \{(.*?)\n\s*\}", text, re.S):
        if re.search(r"\b__chkstk\b", m.group(2)):
            sections.add(m.group(1))
    names = set()
    for m in re.finditer(r"Symbol \{(.*?)\n\s*\}", text, re.S):
        body = m.group(1)
        n = re.search(r"Name: (\S+)", body)
        sec = re.search(r"Section: \S+ \((\d+)\)", body)
        if n and sec and sec.group(1) in sections and "Function" in body:
            names.add(n.group(1))
    return names

def demangle(names):
    names = list(names)
    out = names
    if demangler and names:
        try:
            r = subprocess.run([demangler], input="\n".join(names) + "\n", capture_output=True, text=True, check=True)
            lines = r.stdout.split("\n")
            if len(lines) >= len(names):
                out = lines[: len(names)]
        except (OSError, subprocess.CalledProcessError):
            pass
    return {n: legacy(d) for n, d in zip(names, out)}

LEGACY = {"$SP$": "@", "$BP$": "*", "$RF$": "&", "$LT$": "<", "$GT$": ">", "$LP$": "(", "$RP$": ")", "$C$": ","}

def legacy(d):
    """Finish Rust legacy names an Itanium demangler leaves escaped; drop the hash."""
    d = re.sub(r"::h[0-9a-f]{16}$", "", d)
    d = re.sub(r"(^|::)_\$", r"\1$", d)
    d = re.sub(r"\$u([0-9a-f]{2,6})\$", lambda m: chr(int(m.group(1), 16)), d)
    for k, v in LEGACY.items():
        d = d.replace(k, v)
    return d.replace("..", "::")

allow = []
for i, line in enumerate(open(allow_path), 1):
    s = line.strip()
    if not s or s.startswith("#"):
        continue
    parts = [p.strip() for p in s.split("|")]
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit() or not parts[2]:
        sys.exit(f"{allow_path}:{i}: want 'substring | max bytes | reason', got: {s}")
    allow.append({"substring": parts[0], "max": int(parts[1]), "reason": parts[2], "used": False})

crates = {}
for crate, base in units:
    funcs = parse_unwind(base + ".unwind")
    chk = chkstk_callers(base + ".relsym")
    dm = demangle(funcs)
    c = crates.setdefault(crate, {})
    for sym, (frame, alloc, pushes, xmm) in funcs.items():
        name = dm.get(sym, sym)
        e = {"name": name, "frame": frame, "alloc": alloc, "pushes": pushes, "xmm_saves": xmm, "chkstk": sym in chk}
        if name not in c or c[name]["frame"] < frame:
            c[name] = e

failures, allowed, empty = [], [], []
for crate, funcs in crates.items():
    if not funcs:
        empty.append(crate)
    for e in funcs.values():
        if e["frame"] <= limit:
            continue
        a = next((a for a in allow if a["substring"] in e["name"] and e["frame"] <= a["max"]), None)
        if a:
            a["used"] = True
            allowed.append((crate, e, a))
        else:
            failures.append((crate, e))

if as_json:
    print(json.dumps({
        "target": "x86_64-pc-windows-msvc",
        "limit": limit,
        "crates": {k: {"functions": len(v), "largest": sorted(v.values(), key=lambda e: -e["frame"])[:top]} for k, v in crates.items()},
        "over_limit": [{"crate": c, **e} for c, e in failures],
        "allowlisted": [{"crate": c, **e, "reason": a["reason"]} for c, e, a in allowed],
        "empty_crates": empty,
    }, indent=2))
else:
    for crate, funcs in crates.items():
        print(f"\n== {crate}: {len(funcs)} functions with unwind info; largest frames (limit {limit} bytes)")
        print(f"{'frame':>7} {'alloc':>7} {'push':>4} {'xmm':>3}  function")
        for e in sorted(funcs.values(), key=lambda e: -e["frame"])[:top]:
            flag = " [chkstk]" if e["chkstk"] else ""
            mark = "!" if e["frame"] > limit else " "
            print(f"{e['frame']:>7}{mark}{e['alloc']:>7} {e['pushes']:>4} {e['xmm_saves']:>3}  {e['name']}{flag}")
    for c, e, a in allowed:
        print(f"allowlisted: {c}: {e['frame']} bytes: {e['name']} ({a['reason']})")
for a in allow:
    if not a["used"]:
        print(f"note: allowlist entry matches nothing over the limit (remove it?): {a['substring']}", file=sys.stderr)
for crate in empty:
    print(f"FAIL: {crate}: no functions found in its object (the check would measure nothing)", file=sys.stderr)
for c, e in failures:
    print(f"FAIL: {c}: {e['frame']} bytes > {limit}: {e['name']}", file=sys.stderr)
if failures or empty:
    sys.exit(1)
print(f"ok: every frame in {', '.join(crates)} is <= {limit} bytes (or allowlisted)", file=sys.stderr)
PY
