//! The file calls, each built the way driver/src/platform.rs builds it, and the
//! line each prints.
// The opens take ZwCreateFile's own arguments, spelled out at each step.
#![allow(clippy::too_many_arguments)]

use std::fmt::Write as _;

use super::Script;
use super::nt::*;
use super::text::{
    FILL, attributes, counted, fnv, io_result, iosb, status, u32_at, utf16, written,
};

impl<N: Nt> Script<'_, N> {
    /// `ZwCreateFile` as `File::open` (access | SYNCHRONIZE, options | OPEN_OPTS),
    /// with `root` an open directory label for a relative name.
    pub(super) fn open_at(
        &mut self,
        id: &str,
        label: &'static str,
        root: Option<&'static str>,
        path: &str,
        access: u32,
        disposition: u32,
        options: u32,
        share: u32,
    ) -> bool {
        let mut units = utf16(path);
        let mut us = counted(&mut units);
        let mut oa = attributes(&mut us, root.map_or(core::ptr::null_mut(), |r| self.h(r)));
        let mut io = iosb();
        let mut h: Handle = core::ptr::null_mut();
        // SAFETY: every pointer is to a live local; null allocation size and EA buffer.
        let s = unsafe {
            self.nt.create_file(
                &raw mut h,
                access | SYNCHRONIZE,
                &raw mut oa,
                &raw mut io,
                core::ptr::null_mut(),
                FILE_ATTRIBUTE_NORMAL,
                share,
                disposition,
                options | OPEN_OPTS,
                core::ptr::null_mut(),
                0,
            )
        };
        let at = root.map(|r| format!(" root={r}")).unwrap_or_default();
        let call = format!(
            "CreateFile(\"{path}\"{at} access={access:#x} disp={disposition} opts={options:#x} share={share})"
        );
        let mut result = io_result(s, &io);
        if s >= 0 {
            self.handles.insert(label, h);
            let _ = write!(result, " => {label}");
        }
        self.line(id, call, result);
        s >= 0
    }

    pub(super) fn open(
        &mut self,
        id: &str,
        label: &'static str,
        path: &str,
        access: u32,
        disposition: u32,
        options: u32,
        share: u32,
    ) -> bool {
        self.open_at(id, label, None, path, access, disposition, options, share)
    }

    /// The driver's `ensure_lkg_dir` directory open (FILE_OPEN_IF, may create).
    pub(super) fn mkdir(&mut self, id: &str, label: &'static str, path: &str) -> bool {
        self.open(
            id,
            label,
            path,
            FILE_LIST_DIRECTORY | FILE_TRAVERSE | FILE_ADD_FILE,
            FILE_OPEN_IF,
            FILE_DIRECTORY_FILE,
            FILE_SHARE_READ | FILE_SHARE_WRITE,
        )
    }

    /// The driver's `read_content`/`lkg_read` open.
    pub(super) fn open_read(&mut self, id: &str, label: &'static str, path: &str) -> bool {
        self.open(
            id,
            label,
            path,
            FILE_GENERIC_READ,
            FILE_OPEN,
            FILE_NON_DIRECTORY_FILE,
            FILE_SHARE_READ,
        )
    }

    /// The driver's `lkg_write_temp` open.
    pub(super) fn open_temp(&mut self, id: &str, label: &'static str, path: &str) -> bool {
        self.open(
            id,
            label,
            path,
            FILE_GENERIC_WRITE | DELETE,
            FILE_OVERWRITE_IF,
            FILE_NON_DIRECTORY_FILE | FILE_WRITE_THROUGH,
            0,
        )
    }

    pub(super) fn write(&mut self, id: &str, label: &str, data: &[u8]) {
        let mut io = iosb();
        let mut offset = 0i64;
        let mut bytes = data.to_vec();
        // SAFETY: bytes is readable for its length; offset and io are live locals.
        let s = unsafe {
            self.nt.write_file(
                self.h(label),
                &raw mut io,
                bytes.as_mut_ptr().cast(),
                bytes.len() as u32,
                &raw mut offset,
            )
        };
        self.line(
            id,
            format!(
                "WriteFile({label}, {} bytes fnv={:08x}, offset 0)",
                data.len(),
                fnv(data)
            ),
            io_result(s, &io),
        );
    }

    pub(super) fn read(&mut self, id: &str, label: &str, len: usize, offset: i64) {
        let mut io = iosb();
        let mut off = offset;
        let mut buf = vec![FILL; len.max(1)];
        // SAFETY: buf is writable for len bytes; off and io are live locals.
        let s = unsafe {
            self.nt.read_file(
                self.h(label),
                &raw mut io,
                buf.as_mut_ptr().cast(),
                len as u32,
                &raw mut off,
            )
        };
        let mut r = io_result(s, &io);
        if written(s) {
            let n = io.information.min(len);
            let _ = write!(r, " data={n} bytes fnv={:08x}", fnv(&buf[..n]));
        }
        self.line(id, format!("ReadFile({label}, {len}, offset {offset})"), r);
    }

    pub(super) fn flush(&mut self, id: &str, label: &str) {
        let mut io = iosb();
        // SAFETY: io is a live local.
        let s = unsafe { self.nt.flush_buffers_file(self.h(label), &raw mut io) };
        self.line(id, format!("FlushBuffersFile({label})"), io_result(s, &io));
    }

    /// `ZwQueryInformationFile` into a `len`-byte buffer, decoded per class.
    pub(super) fn query_info(&mut self, id: &str, label: &str, class: u32, len: usize) {
        let mut io = iosb();
        let mut buf = vec![FILL; len.max(1)];
        // SAFETY: buf is writable for len bytes; io is a live local.
        let s = unsafe {
            self.nt.query_information_file(
                self.h(label),
                &raw mut io,
                buf.as_mut_ptr().cast(),
                len as u32,
                class,
            )
        };
        let mut r = io_result(s, &io);
        if written(s) {
            match class {
                // AllocationSize (0..8) is the file system's business: not compared.
                FILE_STANDARD_INFORMATION if len >= 22 => {
                    let eof = i64::from_le_bytes(buf[8..16].try_into().unwrap_or([0; 8]));
                    let _ = write!(
                        r,
                        " EndOfFile={eof} NumberOfLinks={} DeletePending={} Directory={}",
                        u32_at(&buf, 16),
                        buf[20],
                        buf[21]
                    );
                }
                FILE_ATTRIBUTE_TAG_INFORMATION if len >= 8 => {
                    let _ = write!(
                        r,
                        " FileAttributes={:#x} ReparseTag={:#x}",
                        u32_at(&buf, 0),
                        u32_at(&buf, 4)
                    );
                }
                _ => {}
            }
        }
        let name = match class {
            FILE_STANDARD_INFORMATION => "FileStandardInformation",
            FILE_ATTRIBUTE_TAG_INFORMATION => "FileAttributeTagInformation",
            _ => "?",
        };
        self.line(
            id,
            format!("QueryInformationFile({label}, {name}, {len})"),
            r,
        );
    }

    /// `ZwSetInformationFile(FileRenameInformationEx)` with `flags` in the union,
    /// as the driver's `lkg_rename_temp` tries first (REPLACE_IF_EXISTS | POSIX_SEMANTICS).
    pub(super) fn rename_ex(&mut self, id: &str, label: &str, target: &str, flags: u32) {
        let r = self.set_rename(label, target, flags, FILE_RENAME_INFORMATION_EX);
        self.line(id, format!("SetInformationFile({label}, FileRenameInformationEx, \"{target}\", Flags={flags:#x})"), r);
    }

    /// `ZwSetInformationFile(FileRenameInformation)` built like the driver's `rename_info`.
    pub(super) fn rename(&mut self, id: &str, label: &str, target: &str, replace: bool) {
        let r = self.set_rename(label, target, u32::from(replace), FILE_RENAME_INFORMATION);
        self.line(id, format!("SetInformationFile({label}, FileRenameInformation, \"{target}\", ReplaceIfExists={})", u8::from(replace)), r);
    }

    /// One rename of `label` to `target`: the FILE_RENAME_INFORMATION the driver's
    /// `rename_info` builds (the leading union set to `union`), with `class`.
    fn set_rename(&mut self, label: &str, target: &str, union: u32, class: u32) -> String {
        const NAME_AT: usize = 20;
        let units = utf16(target);
        let total = (NAME_AT + units.len() * 2).max(24);
        let mut info = vec![0u8; total];
        info[0..4].copy_from_slice(&union.to_le_bytes());
        info[16..20].copy_from_slice(&((units.len() * 2) as u32).to_le_bytes());
        for (i, u) in units.iter().enumerate() {
            info[NAME_AT + 2 * i..NAME_AT + 2 * i + 2].copy_from_slice(&u.to_le_bytes());
        }
        let mut io = iosb();
        // SAFETY: info holds a FILE_RENAME_INFORMATION of `total` bytes; io is a live local.
        let s = unsafe { self.nt.set_information_file(self.h(label), &raw mut io, info.as_mut_ptr().cast(), total as u32, class) };
        io_result(s, &io)
    }

    pub(super) fn delete(&mut self, id: &str, path: &str) {
        let mut units = utf16(path);
        let mut us = counted(&mut units);
        let mut oa = attributes(&mut us, core::ptr::null_mut());
        // SAFETY: oa and its name are live locals.
        let s = unsafe { self.nt.delete_file(&raw mut oa) };
        self.line(id, format!("DeleteFile(\"{path}\")"), status(s));
    }

    /// One `ZwQueryDirectoryFile(FileNamesInformation)`: the names returned, each
    /// entry's offset (the 8-byte alignment the driver's walk relies on), and for a
    /// cut first entry its FileNameLength and the bytes that fit.
    pub(super) fn list(&mut self, id: &str, label: &str, len: usize, single: bool, restart: bool) {
        let mut io = iosb();
        let mut buf = vec![FILL; len.max(1)];
        // SAFETY: buf is writable for len bytes; io is a live local; no name filter.
        let s = unsafe {
            self.nt.query_directory_file(
                self.h(label),
                &raw mut io,
                buf.as_mut_ptr().cast(),
                len as u32,
                FILE_NAMES_INFORMATION,
                u8::from(single),
                core::ptr::null_mut(),
                u8::from(restart),
            )
        };
        let mut r = io_result(s, &io);
        if written(s) {
            let filled = io.information.min(len);
            let mut at = 0usize;
            let mut names = Vec::new();
            while at + 12 <= filled {
                let next = u32_at(&buf, at) as usize;
                let nlen = u32_at(&buf, at + 8) as usize;
                let end = (at + 12 + nlen).min(filled);
                let units: Vec<u16> = buf[at + 12..end]
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                let mut name = String::from_utf16_lossy(&units);
                if at + 12 + nlen > filled {
                    let _ = write!(name, "(cut: FileNameLength={nlen})");
                }
                names.push(format!("{at}:{name}"));
                if next == 0 {
                    break;
                }
                at += next;
            }
            let _ = write!(r, " [{}]", names.join(" "));
        }
        self.line(
            id,
            format!(
                "QueryDirectoryFile({label}, FileNamesInformation, {len}, single={}, restart={})",
                u8::from(single),
                u8::from(restart)
            ),
            r,
        );
    }
}
