#!/usr/bin/env python3
"""Static checks for changuard's PowerShell test kit (runs on Linux, no PowerShell needed).

What it checks, for every *.ps1 / *.psm1 / *.psd1 in the repository (target dirs excluded):

1. Parsing with TWO tree-sitter PowerShell grammars; any ERROR or MISSING node fails:
   - tree-sitter-powershell (PyPI `tree-sitter-powershell`): its grammar has no PowerShell 7
     operators (`? :`, `??`), so it doubles as a Windows PowerShell 5.1 syntax check;
   - tree-sitter-pwsh (PyPI `tree-sitter-pwsh`): a PowerShell 7 grammar.
2. PowerShell-7-only syntax (ternary, `??`, `??=`, `?.`, `&&`, `||`) found in the pwsh tree.
3. Conventions from issue 6 for scripts/*.ps1: Set-StrictMode -Version Latest,
   $ErrorActionPreference = 'Stop', comment-based help (.SYNOPSIS), [CmdletBinding(...)].
4. A short list of cmdlet parameters / variables that exist only in PowerShell 6+ (or only
   in 5.1, like `-Encoding Byte`), and ambiguous aliases (`sc` is Set-Content in 5.1).
5. Every call to a `Verb-Changuard*` function names a function defined in scripts/, and
   every `-Parameter` passed to it is a declared parameter (or a common parameter).
6. scripts/bootloop-matrix.json: exact schema, the scenario names shared with
   `changuard simulate --scenario`, and every `apply` keyword implemented by
   Invoke-BootLoopTest.ps1.

These are static checks only: a clean run here does NOT mean the scripts work on Windows.
Exit status: 0 clean, 1 findings, 2 self-test failure (the checker itself is broken).
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import tree_sitter
import tree_sitter_powershell
import tree_sitter_pwsh

REPO_SCRIPTS = Path(__file__).resolve().parent
REPO_ROOT = REPO_SCRIPTS.parent
EXCLUDED_DIRS = {".git", "target", "node_modules", ".venv", "venv"}
PS_SUFFIXES = {".ps1", ".psm1", ".psd1"}

SCENARIOS = [
    "first-install",
    "routine-update",
    "corrupt-update",
    "bad-signature",
    "wrong-schema",
    "july-19",
    "poison-update",
    "power-loss-during-update",
    "power-loss-during-promotion",
    "lkg-corrupted",
    "clean-reboot-during-trial",
    "junk-highest-version",
    "twenty-crashing-versions",
    "halt-stops-rollout",
    "revoked-key",
]
APPLY_KEYWORDS = {
    "first-install",
    "deliver-file",
    "truncate",
    "flip-signature",
    "poison",
    "power-off-during-update",
    "power-off-during-promotion",
    "corrupt-lkg",
    "reboot-during-trial",
    "deliver-with-junk",
    "poison-many",
    "deliver-records",
}
# `content` is a list of file names for these keywords (a bare name or null otherwise).
LIST_CONTENT_APPLY = {"poison-many", "deliver-records"}
ACTIVE_SOURCES = {"candidate", "lkg", "golden", "none"}
CASE_KEYS = {"name", "sim_scenario", "description", "apply", "content", "expect"}
# Optional keys, each required by exactly one apply keyword.
OPTIONAL_CASE_KEYS = {"junk": "deliver-with-junk", "requires": "deliver-records", "observe": "deliver-records"}
EXPECT_KEYS = {"active_version", "active_source", "max_crashes", "quarantined", "lkg_version"}
COMMON_PARAMETERS = {
    "verbose", "debug", "erroraction", "warningaction", "informationaction", "errorvariable",
    "warningvariable", "informationvariable", "outvariable", "outbuffer", "pipelinevariable",
    "whatif", "confirm", "progressaction",
}

# (regex, message). Applied to source text with comments stripped.
VERSION_TRAPS = [
    (r"-AsHashtable\b", "ConvertFrom-Json -AsHashtable needs PowerShell 6+"),
    (r"-AsByteStream\b", "-AsByteStream needs PowerShell 6+ (use [IO.File]::ReadAllBytes/WriteAllBytes)"),
    (r"-Encoding\s+Byte\b", "-Encoding Byte is gone in PowerShell 7 (use [IO.File]::ReadAllBytes/WriteAllBytes)"),
    (r"utf8NoBOM", "utf8NoBOM encoding needs PowerShell 6+"),
    (r"ForEach-Object\s+-Parallel\b|\s-Parallel\b", "-Parallel needs PowerShell 7"),
    (r"\$Is(Windows|Linux|MacOS|CoreCLR)\b", "$IsWindows & co. do not exist in 5.1 (and fail under StrictMode)"),
    (r"-AdditionalChildPath\b", "Join-Path -AdditionalChildPath needs PowerShell 6+"),
    (r"ConvertFrom-Json[^\n|]*-Depth\b", "ConvertFrom-Json -Depth needs PowerShell 6.2+"),
    (r"ConvertTo-Json[^\n|]*-AsArray\b", "ConvertTo-Json -AsArray needs PowerShell 6.2+"),
    (r"\bTest-Json\b|\bJoin-String\b|\bGet-Uptime\b|\bGet-Error\b|\$PSStyle\b", "cmdlet/variable needs PowerShell 6+"),
    (r"-SkipCertificateCheck\b|-StatusCodeVariable\b", "web cmdlet parameter needs PowerShell 6+"),
    (r"Get-Date[^\n|]*-AsUTC\b", "Get-Date -AsUTC needs PowerShell 7.1+"),
    (r"(?<![\w.])0x[89a-fA-F][0-9a-fA-F]{7}(?![0-9a-fA-FlLuU])",
     "hex literal >= 0x80000000 is a NEGATIVE Int32 in PowerShell: write it in decimal or with an L suffix"),
]
AMBIGUOUS_COMMANDS = {
    "sc": "`sc` is Set-Content in Windows PowerShell 5.1: call sc.exe",
    "curl": "`curl` is an alias in 5.1 but a real exe elsewhere: use Invoke-WebRequest or curl.exe",
    "wget": "`wget` is an alias in 5.1: use Invoke-WebRequest",
}
PS7_NODE_TYPES = {"ternary_expression", "null_coalesce_expression"}
PS7_TOKENS = {"&&", "||", "??", "??=", "?."}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"


GRAMMARS = {
    "tree-sitter-powershell (5.1-compatible grammar)": tree_sitter.Language(tree_sitter_powershell.language()),
    "tree-sitter-pwsh (PowerShell 7 grammar)": tree_sitter.Language(tree_sitter_pwsh.language()),
}
PWSH_GRAMMAR = "tree-sitter-pwsh (PowerShell 7 grammar)"


def walk(node):
    """Iterative pre-order walk (no recursion: deep ASTs are fine)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def parse_all(src: bytes):
    trees = {}
    for name, lang in GRAMMARS.items():
        trees[name] = tree_sitter.Parser(lang).parse(src)
    return trees


def syntax_findings(rel: str, trees) -> list[Finding]:
    out: list[Finding] = []
    for name, tree in trees.items():
        if not tree.root_node.has_error:
            continue
        reported = 0
        for n in walk(tree.root_node):
            if n.type == "ERROR" or n.is_missing:
                what = "ERROR node" if n.type == "ERROR" else f"MISSING {n.type!r}"
                snippet = n.text.decode("utf-8", "replace").splitlines()[0][:60] if n.text else ""
                out.append(Finding(rel, n.start_point[0] + 1, n.start_point[1] + 1,
                                   f"syntax: {what} under {name}: {snippet!r}"))
                reported += 1
                if reported >= 20:
                    break
        if reported == 0:
            out.append(Finding(rel, 1, 1, f"syntax: tree has errors under {name}"))
    return out


def ps7_findings(rel: str, tree) -> list[Finding]:
    out: list[Finding] = []
    for n in walk(tree.root_node):
        if n.type in PS7_NODE_TYPES or (n.child_count == 0 and n.type in PS7_TOKENS):
            out.append(Finding(rel, n.start_point[0] + 1, n.start_point[1] + 1,
                               f"PowerShell 7-only syntax ({n.type}); Windows PowerShell 5.1 cannot run it"))
    return out


def strip_comments(text: str) -> str:
    text = re.sub(r"<#.*?#>", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines())


def line_of(text: str, idx: int) -> int:
    return text.count("\n", 0, idx) + 1


def convention_findings(rel: str, path: Path, text: str) -> list[Finding]:
    out: list[Finding] = []
    code = strip_comments(text)
    for pattern, message in VERSION_TRAPS:
        for m in re.finditer(pattern, code):
            out.append(Finding(rel, line_of(code, m.start()), 1, f"compat: {message}"))
    if path.suffix == ".ps1" and path.parent == REPO_SCRIPTS:
        if not re.search(r"^\s*Set-StrictMode\s+-Version\s+Latest\s*$", code, re.M):
            out.append(Finding(rel, 1, 1, "convention: missing `Set-StrictMode -Version Latest`"))
        if not re.search(r"^\s*\$ErrorActionPreference\s*=\s*'Stop'\s*$", code, re.M):
            out.append(Finding(rel, 1, 1, "convention: missing `$ErrorActionPreference = 'Stop'`"))
        if not re.search(r"<#.*?\.SYNOPSIS.*?#>", text, re.S):
            out.append(Finding(rel, 1, 1, "convention: missing comment-based help (.SYNOPSIS)"))
        if not re.search(r"\[CmdletBinding\(", code):
            out.append(Finding(rel, 1, 1, "convention: missing [CmdletBinding(...)]"))
    return out


def function_defs(tree, src: bytes) -> dict[str, set[str]]:
    """function name -> declared parameter names (lower case)."""
    defs: dict[str, set[str]] = {}
    for n in walk(tree.root_node):
        if n.type != "function_statement":
            continue
        name_node = next((c for c in n.children if c.type == "function_name"), None)
        if name_node is None:
            continue
        params: set[str] = set()
        # The function's own param block is the first param_block below it that is not
        # inside a nested function or script block literal.
        stack = list(n.children)
        while stack:
            c = stack.pop()
            if c.type in ("function_statement", "script_block_expression"):
                continue
            if c.type == "param_block":
                for v in walk(c):
                    if v.type == "script_parameter":
                        var = next((x for x in v.children if x.type == "variable"), None)
                        if var is not None:
                            params.add(var.text.decode().lstrip("$").lower())
                break
            stack.extend(c.children)
        defs[name_node.text.decode().lower()] = params
    return defs


def call_findings(rel: str, tree, defs: dict[str, set[str]]) -> list[Finding]:
    out: list[Finding] = []
    for n in walk(tree.root_node):
        if n.type != "command":
            continue
        name_node = next((c for c in walk(n) if c.type == "command_name"), None)
        if name_node is None:
            continue
        name = name_node.text.decode()
        low = name.lower()
        if low in AMBIGUOUS_COMMANDS:
            out.append(Finding(rel, name_node.start_point[0] + 1, name_node.start_point[1] + 1,
                               f"compat: {AMBIGUOUS_COMMANDS[low]}"))
        if not re.match(r"^[A-Za-z]+-Changuard", name):
            continue
        if low not in defs:
            out.append(Finding(rel, name_node.start_point[0] + 1, name_node.start_point[1] + 1,
                               f"calls: {name} is not defined in scripts/"))
            continue
        elements = next((c for c in n.children if c.type == "command_elements"), None)
        if elements is None:
            continue
        for p in elements.children:
            if p.type != "command_parameter":
                continue
            pname = p.text.decode().lstrip("-").rstrip(":").lower()
            if pname in defs[low] or pname in COMMON_PARAMETERS:
                continue
            out.append(Finding(rel, p.start_point[0] + 1, p.start_point[1] + 1,
                               f"calls: {name} has no parameter -{pname}"))
    return out


def _bare(x: object) -> bool:
    """A non-empty file name with no directory part."""
    return isinstance(x, str) and bool(x) and "/" not in x and "\\" not in x


def check_matrix(matrix_path: Path, bootloop_script: Path) -> list[Finding]:
    rel = str(matrix_path.relative_to(REPO_ROOT))
    out: list[Finding] = []

    def bad(msg: str) -> None:
        out.append(Finding(rel, 1, 1, f"matrix: {msg}"))

    try:
        doc = json.loads(matrix_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        bad(f"cannot read JSON: {e}")
        return out
    if not isinstance(doc, dict):
        bad("top level must be an object")
        return out
    for key in ("about", "channel", "baseline", "cases"):
        if key not in doc:
            bad(f"top level lacks {key!r}")
    if not isinstance(doc.get("about"), str) or not doc.get("about"):
        bad("'about' must be a non-empty string")
    if not isinstance(doc.get("channel"), int) or isinstance(doc.get("channel"), bool):
        bad("'channel' must be an integer")
    base = doc.get("baseline")
    if not isinstance(base, dict) or not isinstance(base.get("content"), list) or not all(
            isinstance(x, str) for x in base.get("content", [])):
        bad("'baseline' must be an object with 'content': [file names]")
    rooted = doc.get("baseline_rooted")
    if rooted is not None and (not isinstance(rooted, dict) or not isinstance(rooted.get("content"), list) or not all(
            isinstance(x, str) for x in rooted.get("content", []))):
        bad("'baseline_rooted' must be an object with 'content': [file names]")
    cases = doc.get("cases")
    if not isinstance(cases, list):
        bad("'cases' must be a list")
        return out
    script_text = bootloop_script.read_text(encoding="utf-8") if bootloop_script.exists() else ""
    seen_names: set[str] = set()
    seen_scenarios: list[str] = []
    for i, case in enumerate(cases):
        where = f"cases[{i}]"
        if not isinstance(case, dict):
            bad(f"{where} must be an object")
            continue
        optional = {k for k, a in OPTIONAL_CASE_KEYS.items() if case.get("apply") == a}
        if set(case) != CASE_KEYS | optional:
            bad(f"{where} keys {sorted(case)} != {sorted(CASE_KEYS | optional)}")
        name = case.get("name")
        where = f"cases[{i}] ({name})"
        if not isinstance(name, str) or not re.match(r"^[a-z0-9][a-z0-9-]*$", name or ""):
            bad(f"{where}: name must be lower-case kebab")
        elif name in seen_names:
            bad(f"{where}: duplicate name")
        else:
            seen_names.add(name)
        scen = case.get("sim_scenario")
        if scen not in SCENARIOS:
            bad(f"{where}: sim_scenario {scen!r} is not one of {SCENARIOS}")
        else:
            seen_scenarios.append(scen)
        if not isinstance(case.get("description"), str) or not case.get("description"):
            bad(f"{where}: description must be a non-empty string")
        apply = case.get("apply")
        if apply not in APPLY_KEYWORDS:
            bad(f"{where}: apply {apply!r} is not one of {sorted(APPLY_KEYWORDS)}")
        elif script_text and not re.search(r"^\s*'" + re.escape(apply) + r"'\s*\{", script_text, re.M):
            bad(f"{where}: apply {apply!r} has no `'{apply}' {{` switch arm in {bootloop_script.name}")
        content = case.get("content")
        if apply in LIST_CONTENT_APPLY:
            if not isinstance(content, list) or not content or not all(_bare(x) for x in content):
                bad(f"{where}: content must be a non-empty list of bare file names")
        elif content is not None and not _bare(content):
            bad(f"{where}: content must be a bare file name or null")
        if "junk" in optional and not _bare(case.get("junk")):
            bad(f"{where}: junk must be a bare file name")
        exp = case.get("expect")
        if not isinstance(exp, dict):
            bad(f"{where}: expect must be an object")
            continue
        if set(exp) != EXPECT_KEYS:
            bad(f"{where}: expect keys {sorted(exp)} != {sorted(EXPECT_KEYS)}")
        for k in ("active_version", "lkg_version"):
            v = exp.get(k)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                bad(f"{where}: expect.{k} must be a non-negative int or null")
        if exp.get("active_source") not in ACTIVE_SOURCES:
            bad(f"{where}: expect.active_source must be one of {sorted(ACTIVE_SOURCES)}")
        if (exp.get("active_source") == "none") != (exp.get("active_version") is None):
            bad(f"{where}: active_version is null exactly when active_source is 'none'")
        mc = exp.get("max_crashes")
        if not isinstance(mc, int) or isinstance(mc, bool) or mc < 0:
            bad(f"{where}: expect.max_crashes must be a non-negative int")
        q = exp.get("quarantined")
        if not isinstance(q, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in q):
            bad(f"{where}: expect.quarantined must be a list of ints")
    if sorted(seen_scenarios) != sorted(SCENARIOS):
        bad(f"cases must cover each simulator scenario exactly once; got {sorted(seen_scenarios)}")
    return out


def rel_of(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def check_files(files: list[Path]) -> list[Finding]:
    findings: list[Finding] = []
    parsed = {}
    defs: dict[str, set[str]] = {}
    for path in files:
        src = path.read_bytes()
        rel = rel_of(path)
        trees = parse_all(src)
        parsed[path] = (rel, src, trees)
        findings += syntax_findings(rel, trees)
        if not trees[PWSH_GRAMMAR].root_node.has_error:
            findings += ps7_findings(rel, trees[PWSH_GRAMMAR])
        findings += convention_findings(rel, path, src.decode("utf-8", "replace"))
        for k, v in function_defs(trees[PWSH_GRAMMAR], src).items():
            defs.setdefault(k, set()).update(v)
    for path, (rel, src, trees) in parsed.items():
        findings += call_findings(rel, trees[PWSH_GRAMMAR], defs)
    return findings


def discover() -> list[Path]:
    files: list[Path] = []
    for root, dirs, names in os.walk(REPO_ROOT):
        dirs[:] = sorted(d for d in dirs if d not in EXCLUDED_DIRS and not d.startswith("target"))
        for n in sorted(names):
            if Path(n).suffix.lower() in PS_SUFFIXES:
                files.append(Path(root) / n)
    return files


SELF_TEST_GOOD = b"""<#
.SYNOPSIS
    Self-test sample.
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    [Parameter(Mandatory = $true)][ValidateRange(1, 10)][int]$Count
)
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
function Get-ChanguardSelfTest {
    [CmdletBinding()]
    param([string]$Name = 'x')
    $h = @{ Name = $Name; Items = @(1, 2, 3) }
    if ($h.Items.Count -gt 2) { "ok $($h.Name)" } else { 'no' }
}
Get-ChanguardSelfTest -Name 'a' -Verbose | Out-Null
& sc.exe query changuard | Out-Null
"""

SELF_TEST_BAD = {
    "unclosed brace": b"function Foo {\n    if ($true) {\n        'x'\n}\n",
    "unterminated string": b"Write-Output \"abc\n",
    "broken hashtable": b"$a = @{ a = 1; b = \n",
    "missing paren": b"if ($x -eq 1 { 'y' }\n",
}
SELF_TEST_PS7 = b"$a = $x ? 1 : 2\n"


def self_test() -> list[str]:
    """Prove the checker catches what it claims to; returns a list of failures."""
    failures: list[str] = []
    good = check_files_from_bytes("selftest-good.ps1", SELF_TEST_GOOD)
    if good:
        failures.append("known-good sample was flagged: " + "; ".join(map(str, good)))
    for label, src in SELF_TEST_BAD.items():
        if not check_files_from_bytes(f"selftest-{label.replace(' ', '-')}.ps1", src):
            failures.append(f"syntax error not caught: {label}")
    ps7 = check_files_from_bytes("selftest-ps7.ps1", SELF_TEST_PS7)
    if not ps7:
        failures.append("PowerShell 7-only ternary not caught")
    bad_call = SELF_TEST_GOOD.replace(b"-Name 'a'", b"-Nmae 'a'")
    if not any("no parameter -nmae" in str(f) for f in check_files_from_bytes("selftest-call.ps1", bad_call)):
        failures.append("misspelled parameter of a Changuard function not caught")
    return failures


def check_files_from_bytes(name: str, src: bytes) -> list[Finding]:
    with tempfile.TemporaryDirectory(prefix="check-ps-") as d:
        p = Path(d) / name
        p.write_bytes(src)
        return check_files([p])


def main(argv: list[str]) -> int:
    failures = self_test()
    if failures:
        for f in failures:
            print(f"check-ps: SELF-TEST FAILED: {f}", file=sys.stderr)
        return 2
    print("check-ps: self-test ok (a broken temp file is rejected, a good one accepted)")
    files = [Path(a).resolve() for a in argv] if argv else discover()
    findings = check_files(files)
    matrix = REPO_SCRIPTS / "bootloop-matrix.json"
    if not argv and matrix.exists():
        findings += check_matrix(matrix, REPO_SCRIPTS / "Invoke-BootLoopTest.ps1")
    elif not argv:
        findings.append(Finding("scripts/bootloop-matrix.json", 1, 1, "matrix: file missing"))
    for f in findings:
        print(f)
    bad_files = {f.path for f in findings}
    rels = {rel_of(p) for p in files}
    units = rels | bad_files  # the matrix counts as one more checked unit when present
    if not argv:
        units.add("scripts/bootloop-matrix.json")
    print(f"check-ps: {len(files)} PowerShell files, {len(findings)} findings")
    print(f"check-ps: {len(units - bad_files)} passed, {len(units & bad_files)} failed")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
