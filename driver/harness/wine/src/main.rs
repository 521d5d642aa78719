//! The pattern script (script/) against Wine's ntdll: `changuard-wine-diff.exe OUT`
//! runs it and writes its trace to OUT (a file: Wine's stdout through a pipe is
//! unreliable). scripts/wine-diff.sh builds and runs it and compares the trace with
//! the model's (driver/harness/tests/wine_diff.rs).
//!
//! The driver calls the `Zw*` functions from kernel mode; from user mode the `Nt*`
//! twins take the same arguments. Before the script runs, the scratch registry key
//! is deleted (the script's files are removed by wine-diff.sh): both worlds start
//! without them.

mod ntdll;
mod script;

use ntdll::{
    NULL, NtClose, NtDeleteKey, NtEnumerateKey, NtOpenKey, NtOpenSymbolicLinkObject,
    NtQuerySymbolicLinkObject, Ntdll,
};
use script::{Handle, ObjectAttributes, UnicodeString};

/// Calls `f` with OBJECT_ATTRIBUTES for `name` (relative to `root` when not null).
fn with_name<R>(name: &str, root: Handle, f: impl FnOnce(*mut ObjectAttributes) -> R) -> R {
    let mut units: Vec<u16> = name.encode_utf16().collect();
    let bytes = (units.len() * 2) as u16;
    let mut us = UnicodeString {
        length: bytes,
        maximum_length: bytes,
        buffer: units.as_mut_ptr(),
    };
    let mut oa = ObjectAttributes {
        length: core::mem::size_of::<ObjectAttributes>() as u32,
        root,
        name: &raw mut us,
        attributes: 0x40,
        security_descriptor: core::ptr::null_mut(),
        security_qos: core::ptr::null_mut(),
    };
    f(&raw mut oa)
}

/// The target of the `\??\C:` symbolic link (the C: volume's device name).
fn c_volume() -> Option<String> {
    let mut h = NULL;
    // SAFETY: live locals; SYMBOLIC_LINK_QUERY access.
    let s = with_name("\\??\\C:", NULL, |oa| unsafe {
        NtOpenSymbolicLinkObject(&raw mut h, 1, oa)
    });
    if s < 0 {
        return None;
    }
    let mut buf = [0u16; 256];
    let mut us = UnicodeString {
        length: 0,
        maximum_length: 512,
        buffer: buf.as_mut_ptr(),
    };
    let mut len = 0u32;
    // SAFETY: us describes buf, which outlives the call; h is the open link.
    let s = unsafe { NtQuerySymbolicLinkObject(h, &raw mut us, &raw mut len) };
    // SAFETY: h is open.
    unsafe { NtClose(h) };
    (s >= 0).then(|| String::from_utf16_lossy(&buf[..usize::from(us.length / 2)]))
}

/// Deletes `name` (relative to `root`) and its subkeys; missing is fine.
fn delete_tree(root: Handle, name: &str) -> Result<(), String> {
    const KEY_ALL_ACCESS: u32 = 0x000F_003F;
    let mut h = NULL;
    // SAFETY: live locals.
    let s = with_name(name, root, |oa| unsafe {
        NtOpenKey(&raw mut h, KEY_ALL_ACCESS, oa)
    });
    if s == 0xC000_0034u32 as i32 {
        return Ok(());
    }
    if s < 0 {
        return Err(format!("NtOpenKey({name}): {:#x}", s as u32));
    }
    let mut r = Ok(());
    loop {
        // KEY_BASIC_INFORMATION: LastWriteTime, TitleIndex, NameLength, Name at 16.
        let mut info = [0u8; 1024];
        let mut len = 0u32;
        // SAFETY: info is writable for its length; h is open.
        let s = unsafe {
            NtEnumerateKey(
                h,
                0,
                0,
                info.as_mut_ptr().cast(),
                info.len() as u32,
                &raw mut len,
            )
        };
        if s < 0 {
            break;
        }
        let n = u32::from_le_bytes([info[12], info[13], info[14], info[15]]) as usize;
        let units: Vec<u16> = info[16..16 + n.min(1000)]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        if let Err(e) = delete_tree(h, &String::from_utf16_lossy(&units)) {
            r = Err(e);
            break;
        }
    }
    // SAFETY: h is open with DELETE access.
    let s = unsafe { NtDeleteKey(h) };
    // SAFETY: h is open.
    unsafe { NtClose(h) };
    if s < 0 && r.is_ok() {
        r = Err(format!("NtDeleteKey({name}): {:#x}", s as u32));
    }
    r
}

fn main() {
    let Some(out) = std::env::args().nth(1) else {
        eprintln!("usage: changuard-wine-diff.exe TRACE-FILE");
        std::process::exit(2);
    };
    if let Err(e) = delete_tree(NULL, script::SCRATCH_KEY) {
        eprintln!("cannot reset {}: {e}", script::SCRATCH_KEY);
        std::process::exit(1);
    }
    let volume = c_volume().unwrap_or_else(|| "\\Device\\(no C: link)".to_string());
    let lines = script::Script::run(&Ntdll { volume });
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    if let Err(e) = std::fs::write(&out, text) {
        eprintln!("cannot write {out}: {e}");
        std::process::exit(1);
    }
}
