#!/usr/bin/env bash
# Run the commands the docs tell people to type, and fail on the first one
# that does not work, naming the doc and line.
#
#   bash scripts/check-doc-commands.sh [DOC.md ...]
#   (default: README.md docs/RUNBOOK.md docs/CONTENT.md)
#
# What runs: every ```sh fenced block, command by command, in document order,
# in a fresh scratch directory per doc (state such as `cd` and variables carries
# over from one block to the next), with the release `changuard` binary on
# PATH (built here unless CHANGUARD_BIN names one). `cargo build --release -p
# changuard-cli` is a no-op and `cargo run --release -p changuard-cli -- ARGS`
# runs `changuard ARGS`; any other cargo line is an error.
#
# Markers, in the docs:
#   ```sh windows            Windows-only block: skipped.
#   ```sh skip: REASON       skipped; REASON is printed (needs the repository,
#                            takes minutes, placeholders...).
#   CMD  # expect-fail: TEXT CMD must exit non-zero (a documented refusal) and
#                            print TEXT (to stdout or stderr), so it fails for
#                            the documented reason; `# expect-fail` alone
#                            checks only the exit status.
#   ```LANG file=NAME        (any language) the block's text is written to NAME
#                            in the current directory at that point, so docs can
#                            show a spec or an events file and then use it.
# Any other word after ```sh is an error (a misspelt marker must not silently
# run or skip a block). Blocks in other languages (text, toml, powershell...)
# are not run.
#
# Exit: 0 every command behaved, 1 a command failed (or succeeded while marked
# expect-fail), 2 usage error.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

docs=("$@")
[ ${#docs[@]} -eq 0 ] && docs=(README.md docs/RUNBOOK.md docs/CONTENT.md)

if [ -n "${CHANGUARD_BIN:-}" ]; then
  BIN=$(cd "$(dirname "$CHANGUARD_BIN")" && pwd)/$(basename "$CHANGUARD_BIN")
else
  cargo build --release --locked -q -p changuard-cli || { echo "FAIL: cargo build of changuard-cli"; exit 1; }
  BIN=$ROOT/target/release/changuard
fi
[ -x "$BIN" ] || { echo "check-doc-commands: no executable $BIN" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/changuard-doc-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin"
ln -s "$BIN" "$WORK/bin/changuard"

fence_re='^```(.*)$'
heredoc_re="<<-?[\"']?([A-Za-z_][A-Za-z0-9_]*)[\"']?"
file_re='(^|[[:space:]])file=([^[:space:]]+)'
blank_re='^[[:space:]]*(#.*)?$'

# Translate one doc into a bash script ($1 doc, $2 dir for the script and its
# staged files). Prints the number of runnable commands.
translate() {
  local doc=$1 dir=$2 n=0 line in_fence=0 info="" mode="" file="" start=0
  local cmd="" cmd_line=0 heredoc="" ncmd=0 nfile=0
  local script=$dir/run.sh
  mkdir -p "$dir/cmd" "$dir/files"
  {
    echo 'set -o pipefail'
    echo 'cargo() {'
    echo '  case "$*" in'
    echo '    "build --release -p changuard-cli"|"build --release --locked -p changuard-cli") return 0 ;;'
    echo '    "run --release -p changuard-cli -- "*) shift 5; changuard "$@" ;;'
    echo '    *) echo "check-doc-commands: unsupported cargo line: cargo $*" >&2; return 127 ;;'
    echo '  esac'
    echo '}'
    printf '__doc=%q\n__dir=%q\n' "$doc" "$dir"
    cat <<'EOF'
# __fail LINE WHY N: report command N (first line LINE) and its output, stop.
__fail() {
  echo "FAIL $__doc:$1: $2"
  sed 's/^/  $ /' "$__dir/cmd/$3"
  sed 's/^/  | /' "$__dir/out"
  exit 1
}
EOF
  } >"$script"

  emit_cmd() { # text in $cmd, first line $cmd_line
    ncmd=$((ncmd + 1))
    printf '%s\n' "$cmd" >"$dir/cmd/$ncmd"
    local expect_fail=0
    [[ $cmd == *"# expect-fail"* ]] && expect_fail=1
    {
      printf '{\n%s\n} >"%s/out" 2>&1 </dev/null\n__rc=$?\n' "$cmd" "$dir"
      if [ $expect_fail -eq 1 ]; then
        printf '[ $__rc -ne 0 ] || __fail %d "succeeded, but the doc marks it expect-fail" %d\n' "$cmd_line" "$ncmd"
        local want=${cmd##*# expect-fail}
        want=${want#:}
        want=${want# }
        if [ -n "$want" ]; then
          printf '%s' "$want" >"$dir/cmd/$ncmd.want"
          printf 'grep -qF -- "$(cat "%s/cmd/%d.want")" "%s/out" || __fail %d "failed, but its output does not say: $(cat "%s/cmd/%d.want")" %d\n' \
            "$dir" "$ncmd" "$dir" "$cmd_line" "$dir" "$ncmd" "$ncmd"
        fi
      else
        printf '[ $__rc -eq 0 ] || __fail %d "exit $__rc" %d\n' "$cmd_line" "$ncmd"
      fi
      printf 'echo "ok   %s:%d  %s"\n' "$doc" "$cmd_line" "$(head -n1 <<<"$cmd" | cut -c1-100 | sed 's/[\\"$`]/\\&/g')"
    } >>"$script"
    cmd=""
  }

  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    if [ $in_fence -eq 0 ]; then
      if [[ $line =~ $fence_re ]]; then
        in_fence=1 start=$n info=${BASH_REMATCH[1]} mode=other file=""
        if [[ $info =~ $file_re ]]; then
          file=${BASH_REMATCH[2]} nfile=$((nfile + 1))
          : >"$dir/files/$nfile"
        fi
        local lang=${info%% *} rest=""
        [[ $info == *" "* ]] && rest=${info#* }
        if [ "$lang" = sh ]; then
          if [ -z "$rest" ]; then
            mode=run
          elif [ "$rest" = windows ]; then
            mode=skip
            echo "echo \"SKIPPED $doc:$n (block): Windows only\"" >>"$script"
          elif [[ $rest == skip:* ]]; then
            mode=skip
            local why=${rest#skip:}
            why=${why# }
            printf 'echo "SKIPPED %s:%d (block): %s"\n' "$doc" "$n" "$(sed 's/[\\"$`]/\\&/g' <<<"$why")" >>"$script"
          else
            echo "FAIL $doc:$n: unknown marker after \`\`\`sh: '$rest' (use 'windows' or 'skip: REASON')" >&2
            return 1
          fi
        fi
      fi
      continue
    fi
    # Inside a fence.
    if [ "$line" = '```' ] && [ -z "$heredoc" ]; then
      in_fence=0
      if [ -n "$cmd" ]; then
        echo "FAIL $doc:$cmd_line: command continues past the end of its block" >&2
        return 1
      fi
      if [ -n "$file" ]; then
        printf 'cp "%s/files/%d" %q\n' "$dir" "$nfile" "$file" >>"$script"
        printf 'echo "file %s:%d  %s"\n' "$doc" "$start" "$file" >>"$script"
      fi
      continue
    fi
    if [ -n "$file" ]; then
      printf '%s\n' "$line" >>"$dir/files/$nfile"
    fi
    [ "$mode" = run ] || continue
    if [ -n "$heredoc" ]; then
      cmd+=$'\n'$line
      if [ "$line" = "$heredoc" ]; then heredoc=""; emit_cmd; fi
      continue
    fi
    if [ -z "$cmd" ]; then
      [[ $line =~ $blank_re ]] && continue
      cmd=$line cmd_line=$n
    else
      cmd+=$'\n'$line
    fi
    if [[ $line == *\\ ]]; then continue; fi
    if [[ $line =~ $heredoc_re ]]; then heredoc=${BASH_REMATCH[1]}; continue; fi
    emit_cmd
  done <"$doc"
  if [ $in_fence -eq 1 ]; then
    echo "FAIL $doc:$start: unterminated code block" >&2
    return 1
  fi
  echo "$ncmd"
}

total_start=$SECONDS
for doc in "${docs[@]}"; do
  [ -f "$doc" ] || { echo "check-doc-commands: no such doc: $doc" >&2; exit 2; }
  echo "== $doc"
  d=$WORK/$(echo "$doc" | tr '/' '_')
  mkdir -p "$d/scratch"
  count=$(translate "$doc" "$d") || exit 1
  start=$SECONDS
  (cd "$d/scratch" && PATH="$WORK/bin:$PATH" bash "$d/run.sh") || exit 1
  echo "   $doc: $count command(s) ok in $((SECONDS - start)) s"
done
echo "doc commands: all ok in $((SECONDS - total_start)) s"
