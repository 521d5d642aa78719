//! Model versus Wine: the pattern script (wine/src/script/: every file and
//! registry call pattern of the driver, and the edge cases the model claims) runs
//! against the model in a boot, and its trace is compared line by line with the
//! trace of the same script run against Wine's ntdll. Every difference must be a
//! row of wine/departures.txt with both results exactly, and every row must also be
//! in docs/DRIVER.md "Model versus Wine" (with both results); anything else fails.
//!
//! The Wine trace is `$CHANGUARD_WINE_TRACE` (scripts/wine-diff.sh runs Wine and sets
//! it), or else the recorded wine/wine-8.0.trace, so the comparison runs without Wine.
#[path = "../wine/src/script/mod.rs"]
mod script;

use core::ffi::c_void;
use std::collections::BTreeMap;

use changuard_kmodel::Machine;
use script::{Handle, IoStatusBlock, Nt, ObjectAttributes, UnicodeString};
use wdk_sys::ntddk;

const WINE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/wine");
const DRIVER_MD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/DRIVER.md");

/// The model's `Zw*` functions, called exactly as the driver calls them.
struct Model;

impl Nt for Model {
    fn volume(&self) -> String {
        changuard_kmodel::fs::VOLUME.to_string()
    }
    unsafe fn create_file(
        &self,
        h: *mut Handle,
        access: u32,
        oa: *mut ObjectAttributes,
        iosb: *mut IoStatusBlock,
        allocation: *mut i64,
        attributes: u32,
        share: u32,
        disposition: u32,
        options: u32,
        ea: *mut c_void,
        ea_len: u32,
    ) -> i32 {
        // SAFETY: forwarded; the script's structures have the bindings' x64 layouts.
        unsafe {
            ntddk::ZwCreateFile(
                h,
                access,
                oa.cast(),
                iosb.cast(),
                allocation.cast(),
                attributes,
                share,
                disposition,
                options,
                ea,
                ea_len,
            )
        }
    }
    unsafe fn read_file(
        &self,
        h: Handle,
        iosb: *mut IoStatusBlock,
        buf: *mut c_void,
        len: u32,
        offset: *mut i64,
    ) -> i32 {
        // SAFETY: forwarded.
        unsafe {
            ntddk::ZwReadFile(
                h,
                core::ptr::null_mut(),
                None,
                core::ptr::null_mut(),
                iosb.cast(),
                buf,
                len,
                offset.cast(),
                core::ptr::null_mut(),
            )
        }
    }
    unsafe fn write_file(
        &self,
        h: Handle,
        iosb: *mut IoStatusBlock,
        buf: *mut c_void,
        len: u32,
        offset: *mut i64,
    ) -> i32 {
        // SAFETY: forwarded.
        unsafe {
            ntddk::ZwWriteFile(
                h,
                core::ptr::null_mut(),
                None,
                core::ptr::null_mut(),
                iosb.cast(),
                buf,
                len,
                offset.cast(),
                core::ptr::null_mut(),
            )
        }
    }
    unsafe fn query_information_file(
        &self,
        h: Handle,
        iosb: *mut IoStatusBlock,
        info: *mut c_void,
        len: u32,
        class: u32,
    ) -> i32 {
        // SAFETY: forwarded.
        unsafe { ntddk::ZwQueryInformationFile(h, iosb.cast(), info, len, class as _) }
    }
    unsafe fn set_information_file(
        &self,
        h: Handle,
        iosb: *mut IoStatusBlock,
        info: *mut c_void,
        len: u32,
        class: u32,
    ) -> i32 {
        // SAFETY: forwarded.
        unsafe { ntddk::ZwSetInformationFile(h, iosb.cast(), info, len, class as _) }
    }
    unsafe fn flush_buffers_file(&self, h: Handle, iosb: *mut IoStatusBlock) -> i32 {
        // SAFETY: forwarded.
        unsafe { ntddk::ZwFlushBuffersFile(h, iosb.cast()) }
    }
    unsafe fn delete_file(&self, oa: *mut ObjectAttributes) -> i32 {
        // SAFETY: forwarded.
        unsafe { ntddk::ZwDeleteFile(oa.cast()) }
    }
    unsafe fn query_directory_file(
        &self,
        h: Handle,
        iosb: *mut IoStatusBlock,
        info: *mut c_void,
        len: u32,
        class: u32,
        single: u8,
        name: *mut UnicodeString,
        restart: u8,
    ) -> i32 {
        // SAFETY: forwarded.
        unsafe {
            ntddk::ZwQueryDirectoryFile(
                h,
                core::ptr::null_mut(),
                None,
                core::ptr::null_mut(),
                iosb.cast(),
                info,
                len,
                class as _,
                single,
                name.cast(),
                restart,
            )
        }
    }
    unsafe fn create_key(
        &self,
        h: *mut Handle,
        access: u32,
        oa: *mut ObjectAttributes,
        title: u32,
        class: *mut UnicodeString,
        options: u32,
        disposition: *mut u32,
    ) -> i32 {
        // SAFETY: forwarded.
        unsafe {
            ntddk::ZwCreateKey(
                h,
                access,
                oa.cast(),
                title,
                class.cast(),
                options,
                disposition,
            )
        }
    }
    unsafe fn query_value_key(
        &self,
        h: Handle,
        name: *mut UnicodeString,
        class: u32,
        info: *mut c_void,
        len: u32,
        result: *mut u32,
    ) -> i32 {
        // SAFETY: forwarded.
        unsafe { ntddk::ZwQueryValueKey(h, name.cast(), class as _, info, len, result) }
    }
    unsafe fn set_value_key(
        &self,
        h: Handle,
        name: *mut UnicodeString,
        title: u32,
        ty: u32,
        data: *mut c_void,
        len: u32,
    ) -> i32 {
        // SAFETY: forwarded.
        unsafe { ntddk::ZwSetValueKey(h, name.cast(), title, ty, data, len) }
    }
    unsafe fn flush_key(&self, h: Handle) -> i32 {
        // SAFETY: forwarded.
        unsafe { ntddk::ZwFlushKey(h) }
    }
    unsafe fn close(&self, h: Handle) -> i32 {
        // SAFETY: forwarded.
        unsafe { ntddk::ZwClose(h) }
    }
}

/// One trace line: `<id> <call> -> <result>`.
struct Line<'a> {
    id: &'a str,
    call: &'a str,
    result: &'a str,
}

fn parse(text: &str) -> Vec<Line<'_>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (head, result) = l.split_once(" -> ").unwrap_or((l, ""));
            let (id, call) = head.split_once(' ').unwrap_or((head, ""));
            Line { id, call, result }
        })
        .collect()
}

/// A known departure: the first line of `id` gives `model` in the model and `wine` in Wine.
struct Departure {
    model: String,
    wine: String,
}

/// wine/departures.txt: `id | model result | Wine result | Windows | why` per line.
fn departures() -> BTreeMap<String, Departure> {
    let text =
        std::fs::read_to_string(format!("{WINE_DIR}/departures.txt")).expect("wine/departures.txt");
    let mut map = BTreeMap::new();
    for l in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let f: Vec<&str> = l.split(" | ").map(str::trim).collect();
        assert!(
            f.len() == 5 && !f[4].is_empty(),
            "departures.txt: want `id | model | Wine | Windows | why`: {l:?}"
        );
        let d = Departure {
            model: f[1].to_string(),
            wine: f[2].to_string(),
        };
        assert!(
            map.insert(f[0].to_string(), d).is_none(),
            "departures.txt: {} listed twice",
            f[0]
        );
    }
    map
}

/// Lines grouped by id, in order of first appearance.
fn by_id<'a>(lines: &'a [Line<'a>]) -> BTreeMap<&'a str, Vec<&'a Line<'a>>> {
    let mut m: BTreeMap<&str, Vec<&Line<'_>>> = BTreeMap::new();
    for l in lines {
        m.entry(l.id).or_default().push(l);
    }
    m
}

/// Every id whose lines differ must be a departure whose results are exactly the two
/// first lines' results (later lines of the id, such as the close of a handle only one
/// world got, follow from the first); every departure must still differ.
fn compare(model: &str, wine: &str, known: &BTreeMap<String, Departure>) -> Vec<String> {
    let (m, w) = (parse(model), parse(wine));
    let (mi, wi) = (by_id(&m), by_id(&w));
    let mut problems = Vec::new();
    let ids: std::collections::BTreeSet<&str> = mi.keys().chain(wi.keys()).copied().collect();
    for id in ids {
        let a = mi.get(id).map(Vec::as_slice).unwrap_or_default();
        let b = wi.get(id).map(Vec::as_slice).unwrap_or_default();
        let same = a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.call == y.call && x.result == y.result);
        let show = |ls: &[&Line<'_>]| {
            ls.iter()
                .map(|l| format!("    {} -> {}", l.call, l.result))
                .collect::<Vec<_>>()
                .join("\n")
        };
        match (same, known.get(id)) {
            (true, None) => {}
            (true, Some(_)) => problems.push(format!("{id}: listed as a departure but the model and Wine agree now: remove it\n{}", show(a))),
            (false, Some(d)) => {
                let (Some(x), Some(y)) = (a.first(), b.first()) else {
                    problems.push(format!("{id}: missing in one trace\n  model:\n{}\n  Wine:\n{}", show(a), show(b)));
                    continue;
                };
                if x.call != y.call || x.result != d.model || y.result != d.wine {
                    problems.push(format!(
                        "{id}: differs from its departures.txt row (model {:?}, Wine {:?})\n  model:\n{}\n  Wine:\n{}",
                        d.model,
                        d.wine,
                        show(a),
                        show(b)
                    ));
                }
            }
            (false, None) => problems.push(format!("{id}: the model and Wine differ (not a known departure)\n  model:\n{}\n  Wine:\n{}", show(a), show(b))),
        }
    }
    problems
}

/// The script's trace against the model, in a boot on a machine that has what a fresh
/// Wine prefix has of what the script touches (`HKLM\Software`).
fn model_trace() -> String {
    let out = format!("{}/wine-diff-model.trace", env!("CARGO_TARGET_TMPDIR"));
    let _ = std::fs::remove_file(&out);
    let mut m = Machine::new();
    m.persist
        .registry
        .create_path("\\Registry\\Machine\\Software");
    let path = out.clone();
    let r = m.boot(10, move |_s| {
        let lines = script::Script::run(&Model);
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, text).expect("write the model trace");
    });
    r.assert_clean();
    std::fs::read_to_string(&out).expect("model trace")
}

#[test]
fn model_matches_wine_except_known_departures() {
    let model = model_trace();
    let (wine_path, live) = match std::env::var("CHANGUARD_WINE_TRACE") {
        Ok(p) => (p, true),
        Err(_) => (format!("{WINE_DIR}/wine-8.0.trace"), false),
    };
    let wine = std::fs::read_to_string(&wine_path).unwrap_or_else(|e| panic!("{wine_path}: {e}"));
    let known = departures();
    let docs = std::fs::read_to_string(DRIVER_MD).expect("docs/DRIVER.md");
    let section = docs
        .split("\n## Model versus Wine")
        .nth(1)
        .map(|s| s.split("\n## ").next().unwrap_or(s))
        .unwrap_or("");
    let mut problems = compare(&model, &wine, &known);
    for (id, d) in &known {
        let row = section
            .lines()
            .find(|l| l.starts_with(&format!("| {id} |")))
            .unwrap_or("");
        if !row.contains(&format!("`{}`", d.model)) || !row.contains(&format!("`{}`", d.wine)) {
            problems.push(format!(
                "{id}: no row with both results in docs/DRIVER.md \"Model versus Wine\""
            ));
        }
    }
    let source = if live {
        "live Wine"
    } else {
        "recorded Wine 8.0"
    };
    assert!(
        problems.is_empty(),
        "model vs {source} ({wine_path}; model trace: {}/wine-diff-model.trace):\n{}",
        env!("CARGO_TARGET_TMPDIR"),
        problems.join("\n")
    );
    println!(
        "model vs {source}: {} lines, {} known departures, no other difference",
        parse(&model).len(),
        known.len()
    );
}
