#!/usr/bin/env bash
# Fails if any `unsafe { ... }` block or `unsafe impl` in the given Rust files
# (default: driver/**/*.rs) lacks a `// SAFETY:` comment immediately above it.
#
# "Immediately above" = the nearest preceding non-blank line is part of a
# contiguous run of `//` comment lines that contains `SAFETY:`; attribute lines
# (`#[...]`) between the comment and the item are allowed. An `unsafe` block that
# starts mid-statement (`let x = unsafe { ... }`, or an argument spread over
# several lines) is checked against the comment above the statement's first line.
# Comments and string literals are stripped first, so `unsafe` inside them is ignored.
# Exit 0 when clean, 1 listing file:line for each offender, 2 on usage errors.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ "$#" -eq 0 ]; then
  mapfile -t files < <(find "$root/driver" -name '*.rs' -not -path '*/target/*' | sort)
else
  files=("$@")
fi
[ "${#files[@]}" -gt 0 ] || { echo "check-unsafe-safety: no files" >&2; exit 2; }
exec python3 - "${files[@]}" <<'PY'
import re, sys

def strip_code(src):
    """Blank out comments and string/char literals, keeping line structure."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith('//', i):
            j = src.find('\n', i)
            j = n if j < 0 else j
            out.append(' ' * (j - i)); i = j
        elif src.startswith('/*', i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith('/*', j): depth += 1; j += 2
                elif src.startswith('*/', j): depth -= 1; j += 2
                else: j += 1
            out.append(re.sub(r'[^\n]', ' ', src[i:j])); i = j
        elif re.match(r'b?r#*"', src[i:i+4] or ''):
            m = re.match(r'(b?r)(#*)"', src[i:])
            end = '"' + m.group(2)
            j = src.find(end, i + len(m.group(0)))
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r'[^\n]', ' ', src[i:j])); i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == '\\' else 1
            j = min(j + 1, n)
            out.append(re.sub(r'[^\n]', ' ', src[i:j])); i = j
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", src[i:i+4] or '') or src.startswith("'\\u{", i):
            j = src.find("'", i + 1) + 1
            out.append(' ' * (j - i)); i = j
        else:
            out.append(c); i += 1
    return ''.join(out)

def statement_start(code_lines, idx):
    """Walk up from idx while the previous code line does not end a statement/block."""
    k = idx
    while k > 0:
        prev = code_lines[k - 1].rstrip()
        if prev == '' or prev.endswith((';', '{', '}', ',')) and not prev.endswith('=') or prev.lstrip().startswith('#['):
            break
        k -= 1
    return k

def has_safety_above(raw_lines, k):
    j = k - 1
    while j >= 0 and raw_lines[j].strip().startswith('#['):
        j -= 1
    found = False
    while j >= 0 and raw_lines[j].strip().startswith('//'):
        if 'SAFETY:' in raw_lines[j]:
            found = True
        j -= 1
    return found

bad = []
for path in sys.argv[1:]:
    src = open(path, encoding='utf-8').read()
    raw = src.split('\n')
    code = strip_code(src).split('\n')
    for idx, line in enumerate(code):
        for m in re.finditer(r'\bunsafe\b', line):
            rest = line[m.end():].lstrip()
            if rest.startswith('{') or rest.startswith('impl'):
                kind = 'impl' if rest.startswith('impl') else 'block'
            elif rest == '' and idx + 1 < len(code) and code[idx + 1].lstrip().startswith('{'):
                kind = 'block'
            else:
                continue  # unsafe fn / unsafe extern / unsafe trait: documented by `# Safety`
            ok = has_safety_above(raw, idx) or has_safety_above(raw, statement_start(code, idx))
            if not ok:
                bad.append(f"{path}:{idx + 1}: unsafe {kind} without a // SAFETY: comment immediately above")
if bad:
    print('\n'.join(bad))
    print(f"check-unsafe-safety: {len(bad)} offender(s)", file=sys.stderr)
    sys.exit(1)
print(f"check-unsafe-safety: ok ({len(sys.argv) - 1} files)")
PY
