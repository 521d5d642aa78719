//! The registry calls (platform.rs `RegKey`, params.rs) and their sequence.

use std::fmt::Write as _;

use super::nt::*;
use super::text::{FILL, attributes, counted, hex, status, sz, utf16};
use super::{SCRATCH_KEY, Script};

impl<N: Nt> Script<'_, N> {
    pub(super) fn create_key(
        &mut self,
        id: &str,
        label: &'static str,
        root: Option<&'static str>,
        name: &str,
        access: u32,
    ) -> bool {
        let mut units = utf16(name);
        let mut us = counted(&mut units);
        let mut oa = attributes(&mut us, root.map_or(core::ptr::null_mut(), |r| self.h(r)));
        let mut h: Handle = core::ptr::null_mut();
        let mut disposition: u32 = 0xDDDD;
        // SAFETY: every pointer is to a live local; no class.
        let s = unsafe {
            self.nt.create_key(
                &raw mut h,
                access,
                &raw mut oa,
                0,
                core::ptr::null_mut(),
                REG_OPTION_NON_VOLATILE,
                &raw mut disposition,
            )
        };
        let at = root.map(|r| format!(" root={r}")).unwrap_or_default();
        let mut r = status(s);
        if s >= 0 {
            self.handles.insert(label, h);
            let _ = write!(r, " disposition={disposition} => {label}");
        }
        self.line(
            id,
            format!("CreateKey(\"{name}\"{at} access={access:#x})"),
            r,
        );
        s >= 0
    }

    pub(super) fn set_value(&mut self, id: &str, key: &str, name: &str, ty: u32, data: &[u8]) {
        let mut units = utf16(name);
        let mut us = counted(&mut units);
        let mut bytes = data.to_vec();
        let ptr = if bytes.is_empty() {
            core::ptr::null_mut()
        } else {
            bytes.as_mut_ptr().cast()
        };
        // SAFETY: us and bytes are live locals; bytes is readable for its length.
        let s = unsafe {
            self.nt
                .set_value_key(self.h(key), &raw mut us, 0, ty, ptr, data.len() as u32)
        };
        self.line(
            id,
            format!(
                "SetValueKey({key}, \"{name}\", type {ty}, {} bytes)",
                data.len()
            ),
            status(s),
        );
    }

    /// `ZwQueryValueKey(KeyValuePartialInformation)` into a `len`-byte buffer: the
    /// status, ResultLength, and every byte the call wrote (the buffer is pre-filled).
    pub(super) fn query_value(&mut self, id: &str, key: &str, name: &str, len: usize) {
        let mut units = utf16(name);
        let mut us = counted(&mut units);
        let mut buf = vec![FILL; len.max(1)];
        let mut result: u32 = 0xDDDD;
        // SAFETY: us, buf and result are live locals; buf is writable for len bytes.
        let s = unsafe {
            self.nt.query_value_key(
                self.h(key),
                &raw mut us,
                KEY_VALUE_PARTIAL_INFORMATION,
                buf.as_mut_ptr().cast(),
                len as u32,
                &raw mut result,
            )
        };
        let mut r = format!(
            "{} ResultLength={}",
            status(s),
            if result == 0xDDDD {
                "unset".to_string()
            } else {
                result.to_string()
            }
        );
        let shown = &buf[..len];
        let written = shown.iter().rposition(|b| *b != FILL).map_or(0, |i| i + 1);
        if written > 0 {
            let _ = write!(r, " buffer={}", hex(&shown[..written]));
        }
        self.line(
            id,
            format!("QueryValueKey({key}, \"{name}\", KeyValuePartialInformation, {len})"),
            r,
        );
    }

    pub(super) fn flush_key(&mut self, id: &str, key: &str) {
        // SAFETY: a key handle this script opened.
        let s = unsafe { self.nt.flush_key(self.h(key)) };
        self.line(id, format!("FlushKey({key})"), status(s));
    }

    pub(super) fn registry(&mut self) {
        let k = SCRATCH_KEY;
        let rw = KEY_READ | KEY_WRITE;
        self.create_key("R01", "root", None, k, rw);
        self.create_key("R02", "root2", None, k, rw);
        self.close("R03", "root2");
        // The driver's keys: Parameters (WDF opens it), State and Status under it.
        self.create_key("R04", "params", Some("root"), "Parameters", rw);
        self.create_key("R05", "state", Some("params"), "State", rw);
        self.create_key("R06", "state2", Some("params"), "state", rw);
        self.close("R07", "state2");
        self.create_key("R08", "x", None, &format!("{k}\\missing\\child"), rw);
        self.create_key("R09", "x", Some("root"), "\\Parameters", rw);
        self.create_key("R10", "x", None, "Software\\changuard-diff", rw);
        self.create_key("R11", "x", None, &format!("{k}\\\\double"), rw);
        self.create_key("R12", "x", Some("root"), "", rw);
        self.create_key("R13", "x", Some("root"), "a\\b", rw);
        self.create_key("R14", "x", Some("root"), "a", rw);
        self.create_key("R15", "x2", Some("root"), "a\\b", rw);
        self.close("R16", "x");
        self.close("R17", "x2");
        // Outside \Registry: one component is not found, more is a path not found.
        self.create_key("R18", "x", None, "\\Foobar", rw);
        self.create_key("R19", "x", None, "\\Foobar\\Machine", rw);
        // A trailing backslash names the key itself.
        self.create_key("R25", "x", Some("root"), "Parameters\\", rw);
        self.close("R26", "x");
        // Values as the driver and its operator write them.
        let dir = sz("\\??\\C:\\changuard-diff\\content");
        let slot: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
        self.set_value(
            "R20",
            "params",
            "HealthWindowSeconds",
            REG_DWORD,
            &60u32.to_le_bytes(),
        );
        self.set_value("R21", "params", "ContentDirectory", REG_SZ, &dir);
        self.set_value("R22", "state", "Slot0", REG_BINARY, &slot);
        self.set_value("R23", "state", "Empty", REG_BINARY, &[]);
        self.flush_key("R24", "state");
        // ZwQueryValueKey: < 12, header only, partial data, exact, large, missing.
        for (i, len) in [0usize, 8, 11, 12, 13, 14, 16, 64].iter().enumerate() {
            self.query_value(&format!("R3{i}"), "params", "HealthWindowSeconds", *len);
        }
        self.query_value("R40", "params", "ContentDirectory", 12 + 10);
        self.query_value("R41", "params", "ContentDirectory", 12 + dir.len());
        self.query_value("R42", "params", "ContentDirectory", 12 + 520);
        self.query_value("R43", "params", "contentdirectory", 12 + 520);
        self.query_value("R44", "params", "Missing", 16);
        self.query_value("R45", "params", "Missing", 0);
        self.query_value("R46", "params", "", 16);
        self.query_value("R47", "state", "Slot0", 16);
        self.query_value("R48", "state", "Slot0", 12 + 512);
        self.query_value("R49", "state", "Empty", 12);
        self.query_value("R50", "state", "Empty", 8);
        // Overwrite with another type and length.
        self.set_value("R51", "params", "HealthWindowSeconds", REG_SZ, &sz("60"));
        self.query_value("R52", "params", "HealthWindowSeconds", 16);
        self.query_value("R53", "params", "HealthWindowSeconds", 12 + 6);
        // Access: a read-only key.
        self.create_key("R60", "ro", Some("root"), "Parameters", KEY_READ);
        self.set_value("R61", "ro", "x", REG_DWORD, &1u32.to_le_bytes());
        self.query_value("R62", "ro", "ContentDirectory", 12 + 520);
        self.create_key("R63", "x", Some("ro"), "NewChild", rw);
        self.create_key("R64", "x", Some("ro"), "State", rw);
        self.close("R65", "x");
        self.flush_key("R66", "ro");
        self.close("R67", "ro");
        // The service key's ancestors: CurrentControlSet exists; ControlSet001 (its
        // target on Windows) is not modeled.
        self.create_key(
            "R70",
            "x",
            None,
            "\\Registry\\Machine\\System\\CurrentControlSet\\Services",
            KEY_READ,
        );
        self.close("R71", "x");
        self.create_key(
            "R72",
            "x",
            None,
            "\\Registry\\Machine\\System\\ControlSet001\\Services",
            KEY_READ,
        );
        self.close("R73", "x");
        self.create_key("R74", "x", None, "\\Registry\\Machine\\Software", KEY_READ);
        self.close("R75", "x");
        self.close("R76", "state");
        self.close("R77", "params");
        self.close("R78", "root");
    }
}
