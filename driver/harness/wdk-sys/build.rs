//! Build script of the host twin of wdk-sys 0.5.2.
//!
//! Input: the bindings the real wdk-sys generated for x86_64-pc-windows-msvc
//! (`scripts/typecheck-driver.sh` runs bindgen over the KMDF 1.33 headers and writes
//! `target/wdk-linux/bindings.env` with `WDK_SYS_OUT` and `WDK_SYS_SRC`). Nothing
//! generated from headers is committed; this script copies the generated files
//! into `OUT_DIR` with host-layout fixes:
//!
//! - `LONG`/`ULONG` are C `long`, 32 bits on Windows (LLP64) but 64 on Linux
//!   (LP64): every `::core::ffi::c_long`/`c_ulong` becomes `i32`/`u32`, so every
//!   struct has its Windows x64 layout (`tests/layout.rs` checks it, and bindgen's
//!   own compile-time layout assertions in types.rs now hold on the host).
//!   `wchar_t` is already `c_ushort` (u16) in the generated file; `c_int`, `c_short`,
//!   `c_char`, `c_longlong` have the same width on both.
//! - The WDF globals (`WdfFunctions`, `WdfDriverGlobals`, `WdfFunctionCount`, ...)
//!   are `extern` statics in the generated constants.rs; they become ordinary
//!   statics of this crate, which the model fills (its function table).
//!
//! It also generates the `call_unsafe_wdf_function_binding!` macro pointing the
//! real wdk-macros proc macro at the host copy of types.rs, the table of WDF
//! function names (from `_WDFFUNCENUM`), and one "unknown WDF function" stub per
//! table slot, so a call through a slot the model does not implement names itself.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    panic!("{msg}");
}

/// Where the real wdk-sys output and sources are.
fn locate() -> (PathBuf, PathBuf) {
    println!("cargo:rerun-if-env-changed=WDK_SYS_OUT");
    println!("cargo:rerun-if-env-changed=WDK_SYS_SRC");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| fail("no CARGO_MANIFEST_DIR")));
    // driver/harness/wdk-sys -> repository root.
    let repo = manifest.join("../../..");
    let env_file = repo.join("target/wdk-linux/bindings.env");
    println!("cargo:rerun-if-changed={}", env_file.display());
    let mut out = std::env::var("WDK_SYS_OUT").ok();
    let mut src = std::env::var("WDK_SYS_SRC").ok();
    if out.is_none() || src.is_none() {
        let text = std::fs::read_to_string(&env_file).unwrap_or_else(|_| {
            fail(&format!(
                "{} not found: run `bash scripts/typecheck-driver.sh --no-apt --check-only` first \
                 (it generates the real wdk-sys bindings this harness compiles against), or set \
                 WDK_SYS_OUT and WDK_SYS_SRC",
                env_file.display()
            ))
        });
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("WDK_SYS_OUT=") {
                out.get_or_insert_with(|| v.trim().to_string());
            }
            if let Some(v) = line.strip_prefix("WDK_SYS_SRC=") {
                src.get_or_insert_with(|| v.trim().to_string());
            }
        }
    }
    let out = PathBuf::from(out.unwrap_or_else(|| fail("bindings.env has no WDK_SYS_OUT")));
    let src = PathBuf::from(src.unwrap_or_else(|| fail("bindings.env has no WDK_SYS_SRC")));
    for f in ["types.rs", "constants.rs", "ntddk.rs", "wdf.rs", "wdf_function_count.rs"] {
        if !out.join(f).is_file() {
            fail(&format!(
                "{} missing: re-run `bash scripts/typecheck-driver.sh --no-apt --check-only`",
                out.join(f).display()
            ));
        }
    }
    if !src.join("constants.rs").is_file() {
        fail(&format!("{} missing (wdk-sys 0.5.2 sources; run `cargo fetch` in driver/)", src.join("constants.rs").display()));
    }
    (out, src)
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Replaces whole-identifier occurrences of `from` (a path ending in an identifier).
fn replace_ident(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(pos) = text[i..].find(from) {
        let at = i + pos;
        let end = at + from.len();
        let before_ok = at == 0 || !is_ident_char(bytes[at - 1]) || from.starts_with("::");
        let after_ok = end >= bytes.len() || !is_ident_char(bytes[end]);
        out.push_str(&text[i..at]);
        out.push_str(if before_ok && after_ok { to } else { from });
        i = end;
    }
    out.push_str(&text[i..]);
    out
}

/// LLP64 -> the host: C `long`/`unsigned long` are 32-bit on Windows.
fn host_layout(text: &str) -> String {
    let t = replace_ident(text, "::core::ffi::c_ulong", "u32");
    let t = replace_ident(&t, "::core::ffi::c_long", "i32");
    let t = replace_ident(&t, "::std::os::raw::c_ulong", "u32");
    replace_ident(&t, "::std::os::raw::c_long", "i32")
}

/// The `unsafe extern "C" { ... }` blocks declaring the WDF globals become
/// definitions in lib.rs: drop them from the generated constants.
const WDF_GLOBALS: &[&str] = &[
    "WdfFunctions",
    "WdfDriverGlobals",
    "WdfFunctionCount",
    "WdfStructureCount",
    "WdfStructures",
    "WdfClientVersionHigherThanFramework",
    "WdfDriverMiniportUnloadOverride",
];

fn drop_wdf_global_externs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut dropped = 0;
    while let Some(pos) = rest.find("unsafe extern \"C\" {") {
        out.push_str(&rest[..pos]);
        let block_start = &rest[pos..];
        let Some(close) = block_start.find("\n}") else {
            out.push_str(block_start);
            rest = "";
            break;
        };
        let block = &block_start[..close + 2];
        let is_global = WDF_GLOBALS.iter().any(|g| block.contains(&format!("pub static mut {g}:")));
        if is_global {
            dropped += 1;
        } else {
            out.push_str(block);
        }
        rest = &block_start[close + 2..];
    }
    out.push_str(rest);
    if dropped != WDF_GLOBALS.len() {
        fail(&format!("expected {} WDF global declarations in constants.rs, found {dropped}", WDF_GLOBALS.len()));
    }
    out
}

/// The hand-written constants.rs of wdk-sys (STATUS_*, POOL_FLAG_*, WDF_NO_*), made
/// includable: inner attributes are dropped (lib.rs wraps it in a module).
fn handwritten_constants(text: &str) -> String {
    text.lines().filter(|l| !l.trim_start().starts_with("#![")).map(|l| format!("{l}\n")).collect()
}

/// `(name, index)` of every `XxxTableIndex` in `_WDFFUNCENUM`, and the entry count.
fn wdf_function_names(types: &str) -> (Vec<(String, usize)>, usize) {
    let start = types.find("pub mod _WDFFUNCENUM {").unwrap_or_else(|| fail("types.rs has no _WDFFUNCENUM"));
    let body = &types[start..];
    let body = &body[..body.find("\n}").unwrap_or(body.len())];
    let mut names = Vec::new();
    let mut count = None;
    for line in body.lines() {
        let l = line.trim();
        let Some(rest) = l.strip_prefix("pub const ") else { continue };
        let Some((name, val)) = rest.split_once(": Type = ") else { continue };
        let Ok(v) = val.trim_end_matches(';').trim().parse::<usize>() else { continue };
        if name == "WdfFunctionTableNumEntries" {
            count = Some(v);
        } else if let Some(n) = name.strip_suffix("TableIndex") {
            names.push((n.to_string(), v));
        }
    }
    let count = count.unwrap_or_else(|| fail("_WDFFUNCENUM has no WdfFunctionTableNumEntries"));
    (names, count)
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap_or_else(|e| fail(&format!("write {name}: {e}")));
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(driver_model__driver_type, values(\"WDM\", \"KMDF\", \"UMDF\"))");
    println!("cargo::rustc-cfg=driver_model__driver_type=\"KMDF\"");
    let (gen_dir, src_dir) = locate();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| fail("no OUT_DIR")));
    let read = |p: PathBuf| {
        println!("cargo:rerun-if-changed={}", p.display());
        std::fs::read_to_string(&p).unwrap_or_else(|e| fail(&format!("read {}: {e}", p.display())))
    };

    let types = host_layout(&read(gen_dir.join("types.rs")));
    write(&out_dir, "types.rs", &types);
    write(&out_dir, "ntddk.rs", &host_layout(&read(gen_dir.join("ntddk.rs"))));
    write(&out_dir, "wdf.rs", &host_layout(&read(gen_dir.join("wdf.rs"))));
    write(&out_dir, "wdf_function_count.rs", &read(gen_dir.join("wdf_function_count.rs")));
    write(&out_dir, "constants.rs", &drop_wdf_global_externs(&host_layout(&read(gen_dir.join("constants.rs")))));
    write(&out_dir, "wdk_constants.rs", &handwritten_constants(&read(src_dir.join("constants.rs"))));

    // The macro the driver calls: the real proc macro, over the host copy of types.rs.
    let types_path = out_dir.join("types.rs");
    let mut mac = String::new();
    let _ = writeln!(mac, "/// `call_unsafe_wdf_function_binding!` of wdk-sys, over the host-layout types.rs:");
    let _ = writeln!(mac, "/// the call goes through `WdfFunctions`, the table the model fills.");
    let _ = writeln!(mac, "#[macro_export]\nmacro_rules! call_unsafe_wdf_function_binding {{");
    let _ = writeln!(mac, "    ( $($tt:tt)* ) => {{");
    let _ = writeln!(mac, "        $crate::__proc_macros::call_unsafe_wdf_function_binding!(");
    let _ = writeln!(mac, "            r\"{}\",", types_path.display());
    let _ = writeln!(mac, "            $($tt)*\n        )\n    }}\n}}");
    write(&out_dir, "call_unsafe_wdf_function_binding.rs", &mac);

    // Names and per-slot stubs.
    let (names, count) = wdf_function_names(&types);
    let mut table = vec![String::new(); count];
    for (n, i) in &names {
        if *i < count {
            table[*i] = n.clone();
        }
    }
    let mut s = String::new();
    let _ = writeln!(s, "/// Number of slots in the KMDF function table these bindings describe.");
    let _ = writeln!(s, "pub const WDF_FUNCTION_TABLE_LEN: usize = {count};");
    let _ = writeln!(s, "/// Name of each slot of the KMDF function table (`_WDFFUNCENUM`).");
    let _ = writeln!(s, "pub static WDF_FUNCTION_NAMES: [&str; {count}] = [");
    for n in &table {
        let _ = writeln!(s, "    {n:?},");
    }
    let _ = writeln!(s, "];");
    for i in 0..count {
        let _ = writeln!(s, "unsafe extern \"C\" fn unknown_wdf_{i}() {{ unknown_wdf_function({i}) }}");
    }
    let _ = writeln!(s, "/// One stub per slot: calling it reports the slot's name (`unknown_wdf_function`).");
    let _ = writeln!(s, "pub static WDF_UNKNOWN_STUBS: [crate::WDFFUNC; {count}] = [");
    for i in 0..count {
        let _ = writeln!(s, "    Some(unknown_wdf_{i}),");
    }
    let _ = writeln!(s, "];");
    write(&out_dir, "wdf_names.rs", &s);
}
