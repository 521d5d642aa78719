#!/usr/bin/env bash
# Validate the example content and check that every file in examples/bad/ is
# rejected with exactly the rule and offset documented in examples/bad/EXPECTED.json.
# Uses the release `changuard` binary (built if needed).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p changuard-cli
BIN=target/release/changuard
PUB=examples/keys/TEST-ONLY-changuard.pub

echo "== good content (with the publishing pipeline's --deep: each DFA is its shown source's)"
"$BIN" validate --deep examples/content/*.chan --pubkey "$PUB"

echo
echo "== the 19 July 2024 replay, as an operator sees it"
"$BIN" validate examples/bad/channel-291-replay.C-00000291-00000002.chan --pubkey "$PUB" || true

echo
echo "== every bad example against examples/bad/EXPECTED.json"
set +e
"$BIN" validate examples/bad/*.chan --pubkey "$PUB" --json > target/bad.jsonl
code=$?
set -e
if [ "$code" -ne 1 ]; then
  echo "FAIL: validate exited $code on examples/bad (expected 1: rejected)"; exit 1
fi
python3 - target/bad.jsonl examples/bad/EXPECTED.json <<'PY'
import json, os, sys
got = {os.path.basename(o["file"]): o for o in map(json.loads, open(sys.argv[1]))}
want = json.load(open(sys.argv[2]))
bad = 0
for name, w in sorted(want.items()):
    g = got.get(name)
    if g is None or g["valid"] or g["rule"] != w["rule"] or g["offset"] != w["offset"]:
        bad += 1
        print(f"FAIL {name}: expected {w['rule']} at {w['offset']:#x}, got {g and (g.get('rule'), g.get('offset'))}")
    else:
        print(f"ok   {name}: {g['rule']} at {g['offset']:#x}")
extra = set(got) - set(want)
for name in sorted(extra):
    bad += 1
    print(f"FAIL {name}: not in EXPECTED.json")
print(f"examples: {len(want) - bad} passed, {bad} failed")
sys.exit(1 if bad else 0)
PY
