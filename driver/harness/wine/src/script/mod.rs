//! The pattern script: every way the driver calls the NT file and registry
//! functions (driver/src/platform.rs, nt.rs, params.rs), plus the edge cases the
//! model claims to get right, as one fixed sequence of calls. It prints one
//! normalized line per call, `<id> <call> -> <result>`, so two implementations of
//! the same calls can be compared line by line.
//!
//! Compiled twice from these files: by `driver/harness/tests/wine_diff.rs` against
//! the harness model (the `Zw*` names the driver links to) and by
//! `driver/harness/wine` for x86_64-pc-windows-gnu against Wine's ntdll (`Nt*`).
//! The [`Nt`] backend is a bare pass-through of raw pointers in both, so every
//! structure the calls read or write is built and parsed here, once.
//!
//! Normalized away: handle values (labels instead), the volume's device name
//! (`<VOLUME>`), `AllocationSize` and `FileIndex` (file-system specific; the
//! driver reads neither), and the IO_STATUS_BLOCK after an error status (Windows
//! does not write it when a call fails before an IRP exists; the driver never
//! reads it then).
//!
//! Modules: [`nt`] (FFI types, the backend trait, constants), `text` (trace text),
//! `file_calls` and `file_steps` (files), `registry` (keys and values).

use std::collections::BTreeMap;

mod file_calls;
mod file_steps;
pub mod nt;
mod registry;
mod text;

pub use nt::{Handle, IoStatusBlock, Nt, ObjectAttributes, UnicodeString};

/// The scratch registry key both worlds start without.
pub const SCRATCH_KEY: &str = "\\Registry\\Machine\\Software\\changuard-diff";

/// The scratch directory both worlds start without.
const BASE: &str = "\\??\\C:\\changuard-diff";

/// One run of the script over a backend: the trace and the open handles by label.
pub struct Script<'a, N: Nt> {
    nt: &'a N,
    volume: String,
    handles: BTreeMap<&'static str, Handle>,
    lines: Vec<String>,
}

impl<'a, N: Nt> Script<'a, N> {
    /// Runs the whole script and returns its trace (one line per call).
    pub fn run(nt: &'a N) -> Vec<String> {
        let mut s = Self {
            nt,
            volume: nt.volume(),
            handles: BTreeMap::new(),
            lines: Vec::new(),
        };
        s.files();
        s.path_forms();
        s.listing();
        s.registry();
        let left: Vec<&'static str> = s.handles.keys().copied().collect();
        for label in left {
            s.close("END", label);
        }
        s.lines
    }

    pub(super) fn line(&mut self, id: &str, call: String, result: String) {
        // The volume's device name differs between worlds; the trace says <VOLUME>.
        let call = call.replace(&self.volume, "<VOLUME>");
        self.lines.push(format!("{id} {call} -> {result}"));
    }

    pub(super) fn h(&self, label: &str) -> Handle {
        self.handles
            .get(label)
            .copied()
            .unwrap_or(core::ptr::null_mut())
    }

    pub(super) fn close(&mut self, id: &str, label: &'static str) {
        let Some(h) = self.handles.remove(label) else {
            return;
        };
        // SAFETY: a handle this script opened and has not closed.
        let s = unsafe { self.nt.close(h) };
        self.line(id, format!("Close({label})"), text::status(s));
    }
}
