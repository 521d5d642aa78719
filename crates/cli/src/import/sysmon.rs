//! Sysmon process-creation events (event 1, as JSON) as the sensor sees the
//! process: how SigmaHQ's captured regression events become changuard
//! events, for the ground-truth test and the SigmaHQ benchmark.
//!
//! Only the fields the rules test and the driver fills are carried:
//! `Image`, `CommandLine`, `ParentImage` (Sysmon prints them in the same
//! `C:\...` form the driver normalises kernel names to), `ParentCommandLine`
//! and `IntegrityLevel`
//! (as the mandatory label's RID). Sysmon's `User` is an account name, not
//! the SID the driver sends, so it is left out.

use serde_json::Value as Json;
use std::path::Path;

/// One process creation, in the template's field names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessEvent {
    pub image_path: String,
    pub command_line: String,
    pub parent_image_path: String,
    /// The parent's command line (the driver's process table keeps it when the
    /// parent starts).
    pub parent_command_line: String,
    /// The RID (0x2000 Medium, ...); 0 when absent or unknown.
    pub integrity_level: u64,
}

impl ProcessEvent {
    /// From a Sysmon event; `None` unless it is event 1.
    pub fn from_sysmon(ev: &Json) -> Option<ProcessEvent> {
        if ev["Event"]["System"]["EventID"] != 1 {
            return None;
        }
        let data = &ev["Event"]["EventData"];
        let s = |k: &str| data[k].as_str().unwrap_or("").to_string();
        Some(ProcessEvent {
            image_path: s("Image"),
            command_line: s("CommandLine"),
            parent_image_path: s("ParentImage"),
            parent_command_line: s("ParentCommandLine"),
            integrity_level: data["IntegrityLevel"]
                .as_str()
                .and_then(super::convert::integrity_rid)
                .unwrap_or(0),
        })
    }

    /// The same process as the driver delivers it: the image names as the
    /// kernel reports them (`\\??\\C:\\...`, `\\??\\UNC\\...`) run through the
    /// driver's normalisation (`changuard_sensor::kernel_values::image_path`,
    /// which the process table also stores the parent's image in), and every
    /// string cut to its field's cap as the driver's buffers cut it (the
    /// parent's command line as the parent's own event's was, which is what
    /// the process table keeps).
    pub fn as_driver_delivers(&self) -> ProcessEvent {
        use changuard_format::schema::{COMMAND_LINE_CAP, IMAGE_PATH_CAP};
        use changuard_sensor::kernel_values::image_path;
        let kernel_image = |win32: &str| -> String {
            let nt = match win32.strip_prefix("\\\\") {
                Some(unc) => format!("\\??\\UNC\\{unc}"),
                None if win32.is_empty() => String::new(),
                None => format!("\\??\\{win32}"),
            };
            let units: Vec<u16> = nt.encode_utf16().collect();
            let mut buf = vec![0u8; usize::from(IMAGE_PATH_CAP)];
            image_path(&units, &mut buf).0.to_string()
        };
        let command_line = |cmd: &str| -> String {
            let units: Vec<u16> = cmd.encode_utf16().collect();
            let mut buf = vec![0u8; usize::from(COMMAND_LINE_CAP)];
            changuard_interp::text::utf16_to_utf8(&units, &mut buf)
                .0
                .to_string()
        };
        ProcessEvent {
            image_path: kernel_image(&self.image_path),
            command_line: command_line(&self.command_line),
            parent_image_path: kernel_image(&self.parent_image_path),
            parent_command_line: command_line(&self.parent_command_line),
            integrity_level: self.integrity_level,
        }
    }

    /// As an events-file line (`changuard replay`'s format), labelled.
    pub fn to_line(&self, label: &str) -> Json {
        serde_json::json!({
            "label": label,
            "template": "ProcessCreate",
            "fields": {
                "image_path": self.image_path,
                "command_line": self.command_line,
                "parent_image_path": self.parent_image_path,
                "parent_command_line": self.parent_command_line,
                "integrity_level": self.integrity_level,
            }
        })
    }
}

/// The process-creation events of one captured file (a file may hold several
/// JSON values; other event ids are skipped).
///
/// # Errors
/// The file cannot be read or is not JSON, named.
pub fn read_file(path: &Path) -> Result<Vec<ProcessEvent>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    for ev in serde_json::Deserializer::from_str(&text).into_iter::<Json>() {
        let ev = ev.map_err(|e| format!("{}: {e}", path.display()))?;
        out.extend(ProcessEvent::from_sysmon(&ev));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_1_becomes_the_sensors_fields() {
        let ev = serde_json::json!({"Event": {"System": {"EventID": 1}, "EventData": {
            "Image": "C:\\Windows\\System32\\reg.exe", "CommandLine": "reg add x",
            "ParentImage": "C:\\Windows\\explorer.exe", "IntegrityLevel": "High",
            "ParentCommandLine": "C:\\Windows\\Explorer.EXE",
            "User": "DOMAIN\\me"}}});
        let p = ProcessEvent::from_sysmon(&ev).unwrap();
        assert_eq!(p.image_path, "C:\\Windows\\System32\\reg.exe");
        assert_eq!(p.parent_image_path, "C:\\Windows\\explorer.exe");
        assert_eq!(p.parent_command_line, "C:\\Windows\\Explorer.EXE");
        assert_eq!(p.integrity_level, 0x3000);
        // The kernel's \\??\\ form, normalised back by the driver's own code.
        assert_eq!(p.as_driver_delivers(), p);
        let unc = ProcessEvent {
            image_path: "\\\\srv\\s\\x.exe".into(),
            ..p.clone()
        };
        assert_eq!(unc.as_driver_delivers().image_path, "\\\\srv\\s\\x.exe");
        // The parent's command line is cut to the cap like the process's own.
        let long = ProcessEvent {
            parent_command_line: "é"
                .repeat(usize::from(changuard_format::schema::COMMAND_LINE_CAP)),
            ..p.clone()
        };
        let cut = long.as_driver_delivers().parent_command_line;
        assert_eq!(
            cut.len(),
            usize::from(changuard_format::schema::COMMAND_LINE_CAP)
        );
        assert!(long.parent_command_line.starts_with(&cut));
        let line = p.to_line("l");
        assert_eq!(line["fields"]["command_line"], "reg add x");
        assert_eq!(
            line["fields"]["parent_command_line"],
            "C:\\Windows\\Explorer.EXE"
        );
        let other = serde_json::json!({"Event": {"System": {"EventID": 3}, "EventData": {}}});
        assert_eq!(ProcessEvent::from_sysmon(&other), None);
    }
}
