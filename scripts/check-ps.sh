#!/usr/bin/env bash
# Static checks for the PowerShell test kit in scripts/ (see scripts/check_ps.py for the list).
#
#   bash scripts/check-ps.sh            # check every .ps1/.psm1/.psd1 in the repo + the matrix
#   bash scripts/check-ps.sh FILE...    # check only these files (no matrix check)
#
# Installs its Python dependencies (tree-sitter + two PowerShell grammars, pinned) into a
# cache venv on first use; later runs reuse it. Override the location with
# CHANGUARD_PS_CHECK_CACHE. Exits 0 with a loud "SKIPPED:" line ONLY when the grammar
# packages cannot be installed (no python3, no pip, registry unreachable); every other
# problem, including a parse error in any script, exits non-zero.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${CHANGUARD_PS_CHECK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/changuard-check-ps}"
# Pinned: a grammar update may change what parses; bump deliberately and re-run.
pkgs=(tree-sitter==0.26.1 tree-sitter-powershell==0.26.4 tree-sitter-pwsh==0.38.1)
stamp_want="${pkgs[*]}"

skip() {
  echo "SKIPPED: PowerShell syntax check not run: $*" >&2
  echo "SKIPPED: PowerShell syntax check not run: $*"
  exit 0
}

py=""
for cand in python3 python; do
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' 2>/dev/null; then
    py="$cand"
    break
  fi
done
[ -n "$py" ] || skip "no python3 (>= 3.9) on PATH"

mkdir -p "$cache"
venv="$cache/venv"
site="$cache/site"
runner=()

have_deps() { # $@ = interpreter command (+ env); succeeds if the pinned set imports
  "$@" -c 'import tree_sitter, tree_sitter_powershell, tree_sitter_pwsh' >/dev/null 2>&1
}

if [ -f "$cache/stamp" ] && [ "$(cat "$cache/stamp")" = "$stamp_want" ]; then
  if [ -x "$venv/bin/python" ] && have_deps "$venv/bin/python"; then
    runner=("$venv/bin/python")
  elif [ -d "$site" ] && have_deps env PYTHONPATH="$site" "$py"; then
    runner=(env PYTHONPATH="$site" "$py")
  fi
fi

if [ ${#runner[@]} -eq 0 ]; then
  rm -f "$cache/stamp"
  log="$cache/install.log"
  : >"$log"
  # Preferred: a venv. Debian/Ubuntu without python3-venv cannot make one, so fall back to
  # `pip install --target` into a private directory.
  if "$py" -m venv --clear "$venv" >>"$log" 2>&1 && [ -x "$venv/bin/python" ] \
     && "$venv/bin/python" -m pip install --disable-pip-version-check -q "${pkgs[@]}" >>"$log" 2>&1 \
     && have_deps "$venv/bin/python"; then
    runner=("$venv/bin/python")
  elif "$py" -m pip --version >>"$log" 2>&1 \
     && rm -rf "$site" \
     && "$py" -m pip install --disable-pip-version-check -q --target "$site" "${pkgs[@]}" >>"$log" 2>&1 \
     && have_deps env PYTHONPATH="$site" "$py"; then
    runner=(env PYTHONPATH="$site" "$py")
  else
    tail -n 5 "$log" >&2 || true
    skip "could not install ${pkgs[*]} (see $log)"
  fi
  echo "$stamp_want" >"$cache/stamp"
fi

exec "${runner[@]}" "$here/check_ps.py" "$@"
