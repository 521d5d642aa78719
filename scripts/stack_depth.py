#!/usr/bin/env python3
"""Worst-case kernel stack depth of the driver, from its x86_64-pc-windows-msvc code.

Reads every object of the driver built as a static library (the same LTO'd code
as changuard.sys, without the link), takes each function's fixed frame from its
Windows x64 unwind data (return address + pushes + ALLOC_SMALL/ALLOC_LARGE, which
includes SAVE_XMM128 areas) and its direct calls from the relocations of its
call/jmp instructions, then walks the call graph from every entry point Windows
calls: DriverEntry and every function whose address the driver takes (callbacks).

For each entry point it reports:
  at-windows  the deepest our frames reach at a call into Windows (an external
              symbol that is not a CRT helper, or an indirect call: WDF's function
              table, which is how every Wdf* call is made). The budget applies here.
  peak        the deepest our frames reach anywhere (leaves included).
KeExpandKernelStackAndCallout switches stacks, so its callout is its own entry point
and the walk does not continue through it.

Not followed: calls through function pointers and trait objects (their targets are
unknown statically; each is counted as a call into Windows at its site, which is
conservative for at-windows). Recursion is reported, not followed.

Usage: stack_depth.py [--json] [--budget ROOT_SUBSTRING=BYTES ...] LIB_OR_OBJ...
Exit 1 when an entry point exceeds its budget, or when recursion is found.
"""
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

LLVM = "16"
CRT = {"memcpy", "memset", "memmove", "memcmp", "bcmp", "__chkstk", "__CxxFrameHandler3", "_fltused", "strlen"}
STACK_SWITCH = {"KeExpandKernelStackAndCallout", "KeExpandKernelStackAndCalloutEx"}
# A panic ends in KeBugCheckEx (wdk-panic): that path is a crash whatever the stack,
# so it is neither followed nor counted as a call into Windows. Sites are counted.
PANIC = re.compile(r"panicking|rust_begin_unwind|panic_bounds_check|slice_\w*fail|unwrap_failed|expect_failed|"
                   r"handle_alloc_error|capacity_overflow|core..panic|kernel_panic_handler|str_index_overflow_fail")
# pdqsort recurses at most 2*log2(n) levels (core::slice::sort): bounded, reported, not failed.
BOUNDED_RECURSION = re.compile(r"4core5slice4sort")


def run(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def objects(paths, tmp):
    out = []
    for p in paths:
        p = Path(p)
        if p.suffix == ".lib" or p.suffix == ".a":
            d = Path(tmp) / p.stem
            d.mkdir(parents=True, exist_ok=True)
            subprocess.run([f"llvm-ar-{LLVM}", "x", str(p.resolve())], cwd=d, check=True)
            out += sorted(d.glob("*.o")) + sorted(d.glob("*.obj"))
        else:
            out.append(p)
    return out


def frames(obj):
    """name -> bytes of the fixed frame, from .pdata/.xdata."""
    res, name, size = {}, None, 0
    for line in run(f"llvm-readobj-{LLVM}", "--unwind", str(obj)).splitlines():
        line = line.strip()
        m = re.match(r"StartAddress: (\S+) \(", line)
        if m:
            if name:
                res[name] = max(res.get(name, 0), size)
            name, size = m.group(1), 8  # return address
            continue
        if "PUSH_NONVOL" in line or "PUSH_MACHFRAME" in line:
            size += 8
        m = re.search(r"ALLOC_(?:LARGE|SMALL) size=(\d+)", line)
        if m:
            size += int(m.group(1))
    if name:
        res[name] = max(res.get(name, 0), size)
    return res


def calls(obj):
    """name -> list of (kind, target): kind 'direct' | 'indirect'; also address-taken set, defined set."""
    graph, taken, defined = {}, set(), set()
    cur, last_insn = None, ""
    for line in run(f"llvm-objdump-{LLVM}", "-d", "-r", "--no-show-raw-insn", str(obj)).splitlines():
        m = re.match(r"^[0-9a-f]+ <(.+)>:$", line)
        if m:
            cur = m.group(1)
            defined.add(cur)
            graph.setdefault(cur, [])
            continue
        if cur is None:
            continue
        m = re.search(r"IMAGE_REL_AMD64_(?:REL32|ADDR64|ADDR32NB)\s+(\S+)", line)
        if m:
            target = m.group(1)
            if re.search(r"\b(callq|jmp)\b", last_insn):
                graph[cur].append(("direct", target))
            elif re.search(r"\blea", last_insn):
                taken.add(target)
            continue
        if re.search(r"\t(callq|jmpq?)\s", line):
            last_insn = line
            if re.search(r"\tcallq\s+\*", line) and "(%rip)" not in line:
                graph[cur].append(("indirect", None))
            continue
        if line.strip():
            last_insn = line
    return graph, taken, defined


def aliases(obj):
    """Functions that share an address (identical code folded into one body):
    every name -> the group of names at that (section, address)."""
    groups = {}
    for line in run(f"llvm-objdump-{LLVM}", "-t", str(obj)).splitlines():
        m = re.match(r"\[\s*\d+\]\(sec\s+(\d+)\)\(fl 0x..\)\(ty\s+20\)\(scl\s+\d+\) \(nx \d\) 0x([0-9a-f]+) (\S+)", line)
        if m:
            groups.setdefault((m.group(1), m.group(2)), []).append(m.group(3))
    return [g for g in groups.values() if len(g) > 1]


def demangle(names):
    if not names:
        return {}
    out = subprocess.run([f"llvm-cxxfilt-{LLVM}"], input="\n".join(names), capture_output=True, text=True).stdout.splitlines()
    short = {}
    for n, d in zip(names, out):
        m = re.search(r"::h([0-9a-f]{16})$", d)
        d = re.sub(r"::h[0-9a-f]{16}$", "", d)
        if m and ("callout" in d or "{{closure}}" in d):
            d += f" [{m.group(1)[:6]}]"  # monomorphizations: keep them apart
        short[n] = d
    return short


def main():  # noqa: C901 (one walk, kept in one place)
    args = sys.argv[1:]
    as_json = "--json" in args
    verbose = "-v" in args
    args = [a for a in args if a not in ("--json", "-v")]
    budgets, peak_budgets = [], []
    for flag, into in (("--budget", budgets), ("--peak-budget", peak_budgets)):
        while flag in args:
            i = args.index(flag)
            key, val = args[i + 1].split("=")
            into.append((key, int(val)))
            del args[i : i + 2]
    frame, graph, taken, defined, alias = {}, {}, set(), set(), {}
    with tempfile.TemporaryDirectory() as tmp:
        for o in objects(args, tmp):
            for k, v in frames(o).items():
                frame[k] = max(frame.get(k, 0), v)
            g, t, d = calls(o)
            for k, v in g.items():
                graph.setdefault(k, []).extend(v)
            taken |= t
            defined |= d
            for group in aliases(o):
                body = next((n for n in group if n in g), None)
                if body is None:
                    continue
                for n in group:
                    if n != body:
                        alias[n] = body
                        defined.add(n)
                        frame[body] = max(frame.get(body, 0), frame.get(n, 0))
    taken = {alias.get(n, n) for n in taken}
    roots = ["DriverEntry"] + sorted(n for n in taken if n in defined and n != "DriverEntry")
    # Only the driver's own callbacks (not vtable slots of core/alloc taken for fmt).
    roots = [r for r in roots if r == "DriverEntry" or re.match(r"_ZN9changuard|_R.*9changuard[0-9]", r)]

    def is_windows(kind, target):
        if kind == "indirect":
            return True
        return target not in defined and target not in CRT and not target.startswith("anon.")

    memo, cycles, bounded, panics = {}, [], [], set()

    def walk(f, stack):
        """(at_windows, peak, path_at_windows, path_peak) below and including f."""
        if f in memo:
            return memo[f]
        if f in stack:
            cycle = " -> ".join(stack[stack.index(f):] + [f])
            (bounded if BOUNDED_RECURSION.search(f) else cycles).append(cycle)
            return (0, 0, [], [])
        stack.append(f)
        own = frame.get(f, 8)
        best_w, best_p, path_w, path_p = -1, own, [], [f]
        for kind, target in graph.get(f, []):
            if target and PANIC.search(target):
                panics.add(f)
                continue
            if is_windows(kind, target):
                if own > best_w:
                    best_w, path_w = own, [f, f"<{target or 'indirect'}>"]
                continue
            if target in STACK_SWITCH or target not in defined:
                continue
            w, p, pw, pp = walk(alias.get(target, target), stack)
            if w >= 0 and own + w > best_w:
                best_w, path_w = own + w, [f] + pw
            if own + p > best_p:
                best_p, path_p = own + p, [f] + pp
        stack.pop()
        memo[f] = (best_w, best_p, path_w, path_p)
        return memo[f]

    report = []
    for r in roots:
        w, p, pw, pp = walk(r, [])
        report.append({"entry": r, "at_windows": max(w, 0), "peak": p, "path_at_windows": pw, "path_peak": pp})
    names = sorted({n for e in report for n in [e["entry"]] + e["path_at_windows"] + e["path_peak"] if not n.startswith("<")})
    short = demangle(names)
    for e in report:
        e["entry"] = short.get(e["entry"], e["entry"])
        e["path_at_windows"] = [short.get(n, n) for n in e["path_at_windows"]]
        e["path_peak"] = [short.get(n, n) for n in e["path_peak"]]
        e["budget"] = next((b for k, b in budgets if k in e["entry"]), None)
        e["peak_budget"] = next((b for k, b in peak_budgets if k in e["entry"]), None)
    missing = sorted({k for k, _ in budgets + peak_budgets if not any(k in e["entry"] for e in report)})
    over = [e for e in report if e["budget"] is not None and e["at_windows"] > e["budget"]]
    over_peak = [e for e in report if e["peak_budget"] is not None and e["peak"] > e["peak_budget"]]
    if as_json:
        print(json.dumps({"entries": report, "recursion": sorted(set(cycles)), "bounded_recursion": len(set(bounded)),
                          "functions_with_panic_paths": len(panics), "over_budget": [e["entry"] for e in over], "missing_entry_points": missing,
                          "over_peak_budget": [e["entry"] for e in over_peak]}, indent=2))
    else:
        print(f"{'entry point':60} {'at-windows':>10} {'budget':>7} {'peak':>7} {'budget':>7}")
        for e in sorted(report, key=lambda e: -e["at_windows"]):
            b = "-" if e["budget"] is None else str(e["budget"])
            pb = "-" if e["peak_budget"] is None else str(e["peak_budget"])
            flag = "  OVER" if e in over or e in over_peak else ""
            print(f"{e['entry'][:60]:60} {e['at_windows']:>10} {b:>7} {e['peak']:>7} {pb:>7}{flag}")
        for e in report if verbose else over + [e for e in over_peak if e not in over]:
            print(f"\n{e['entry']}: {e['at_windows']} bytes at a call into Windows (budget {e['budget']}), via:")
            for n in e["path_at_windows"]:
                print(f"    {frame_of(n, short, frame):>6}  {n}")
            if verbose:
                print(f"  peak {e['peak']} bytes, via:")
                for n in e["path_peak"]:
                    print(f"    {frame_of(n, short, frame):>6}  {n}")
        for c in sorted(set(cycles)):
            print(f"recursion (not followed): {c}")
        for k in missing:
            print(f"no entry point matches '{k}' (renamed? the budget would check nothing)")
        print(f"{len(set(bounded))} bounded pdqsort recursions (core::slice::sort, depth <= 2*log2 n) not followed; "
              f"{len(panics)} functions reach a panic (= bugcheck) path, not followed")
    return 1 if over or over_peak or cycles or missing else 0


def frame_of(n, short, frame):
    for k, v in short.items():
        if v == n:
            return frame.get(k, 8)
    return ""


if __name__ == "__main__":
    sys.exit(main())
