//! `changuard driver status|reload|submit`: talks to the driver's control
//! device (`\\.\Changuard`) with `DeviceIoControl`. The wire format is
//! `changuard-control` only. On non-Windows hosts it explains and exits 2.
//!
//! Everything but the `DeviceIoControl` calls is portable and tested on every
//! host: the arguments of `submit` become a request here ([`submit_plan`],
//! [`SubmitPlan::encode`]), and under `--json` every error is one
//! `{"error": {...}}` object on stdout (`crate::json_error`).

use crate::json_error::{ErrorKind, report};
use changuard_control::submit;
use changuard_format::schema::{self, FieldType, TemplateType};
use clap::{Args, Subcommand};

/// Arguments of `changuard driver`.
#[derive(Debug, Args)]
pub struct DriverArgs {
    /// Print machine-readable JSON (errors too: `{"error": {...}}` on stdout).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub cmd: DriverCmd,
}

/// `changuard driver` subcommands.
#[derive(Debug, Subcommand)]
pub enum DriverCmd {
    /// Per-channel status: active version and source, LKG, quarantine, last rejection, counters.
    Status,
    /// Run the load path again without a reboot.
    Reload,
    /// Evaluate a synthetic event: --template <id or name>, then
    /// `--field NAME=VALUE` for the fields you set (the rest are sent as "" or 0),
    /// or (older form) every field value in schema order (`s:<text>`, `i:<number>`).
    Submit {
        /// Template type: id or name (1 = ProcessCreate, 2 = NamedPipeCreate).
        #[arg(long, value_parser = parse_template)]
        template: u16,
        /// One field by name, NAME=VALUE (repeatable; names as in `changuard
        /// schema`). Integers are decimal or 0x-hex. Fields not given are "" or 0.
        #[arg(long = "field", value_name = "NAME=VALUE")]
        fields: Vec<String>,
        /// Older form: every field value in schema order, s:<text> or i:<u64>
        /// (not with --field).
        #[arg(conflicts_with = "fields")]
        values: Vec<String>,
    },
}

/// Runs the command; returns the process exit code
/// (0 ok, 1 driver/IO error, 2 usage or unsupported platform).
pub fn run(args: DriverArgs) -> i32 {
    imp::run(args)
}

/// The prefix of plain-text errors.
const PREFIX: &str = "changuard driver";

/// `--template`: a wire id (any number, so the driver's own check can be
/// exercised) or a schema template name.
fn parse_template(s: &str) -> Result<u16, String> {
    if let Ok(id) = s.parse::<u16>() {
        return Ok(id);
    }
    schema::template_type_by_name(s)
        .map(|t| t.id)
        .ok_or_else(|| {
            let names: Vec<&str> = schema::TEMPLATE_TYPES.iter().map(|t| t.name).collect();
            format!(
                "no template type {s:?}{}; known: {}",
                crate::events::did_you_mean(s, &names),
                known_templates()
            )
        })
}

fn known_templates() -> String {
    schema::TEMPLATE_TYPES
        .iter()
        .map(|t| format!("{} {}", t.id, t.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A synthetic event as the command line describes it, ready to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitPlan {
    /// Template type id.
    pub template: u16,
    values: Vec<Owned>,
    /// Fields the command line did not name, sent as "" or 0 (named form only).
    pub defaulted: Vec<&'static str>,
}

impl SubmitPlan {
    /// The `IOCTL_SUBMIT_EVENT` request bytes.
    ///
    /// # Errors
    /// What `changuard_control::submit::encode_submit` refuses (too many
    /// fields, a string longer than the submitted cap), as a message.
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        let fields: Vec<submit::FieldValue<'_>> = self
            .values
            .iter()
            .map(|o| match o {
                Owned::Str(s) => submit::FieldValue::Str(s),
                Owned::Int(v) => submit::FieldValue::Int(*v),
            })
            .collect();
        let mut req = vec![0u8; submit::MAX_REQUEST_LEN];
        let n =
            submit::encode_submit(self.template, &fields, &mut req).map_err(|e| e.to_string())?;
        req.truncate(n);
        Ok(req)
    }

    /// The line that says which fields were sent empty, if any.
    #[must_use]
    pub fn defaulted_line(&self) -> Option<String> {
        (!self.defaulted.is_empty())
            .then(|| format!("not given, sent as \"\" / 0: {}", self.defaulted.join(", ")))
    }
}

/// The event `driver submit` sends, from its arguments: `named` are the
/// `--field NAME=VALUE` arguments, `positional` the older `s:`/`i:` values in
/// schema order. With positional values the event is exactly those (the
/// driver checks them against the schema, as before). Otherwise the template
/// must be in the schema, each name one of its fields, each value of the
/// field's type; every field not named is sent as "" or 0 and listed in
/// [`SubmitPlan::defaulted`].
///
/// # Errors
/// A message naming the argument: both forms at once, an unknown template or
/// field (with "did you mean"), a field given twice, a value of the wrong type
/// or too long.
pub fn submit_plan(
    template: u16,
    named: &[String],
    positional: &[String],
) -> Result<SubmitPlan, String> {
    if !positional.is_empty() {
        if !named.is_empty() {
            return Err(
                "give the fields either as --field NAME=VALUE or positionally, not both".into(),
            );
        }
        return Ok(SubmitPlan {
            template,
            values: parse_values(positional)?,
            defaulted: Vec::new(),
        });
    }
    let t: &'static TemplateType = schema::template_type(template).ok_or_else(|| {
        format!(
            "no template type {template} in this schema (known: {})",
            known_templates()
        )
    })?;
    let mut given: Vec<Option<Owned>> = vec![None; t.input_count()];
    for arg in named {
        let (name, value) = arg
            .split_once('=')
            .ok_or_else(|| format!("--field {arg:?}: expected NAME=VALUE"))?;
        let names: Vec<&str> = t.fields.iter().map(|f| f.name).collect();
        let k = t.field_index(name).ok_or_else(|| {
            format!(
                "--field {arg:?}: {} has no field {name:?}{} (its fields: `changuard schema`)",
                t.name,
                crate::events::did_you_mean(name, &names)
            )
        })?;
        let (Some(field), Some(slot)) = (t.fields.get(k), given.get_mut(k)) else {
            return Err(format!("--field {arg:?}: no field {k}"));
        };
        if slot.is_some() {
            return Err(format!("--field {name}: given twice"));
        }
        *slot = Some(match field.ty {
            FieldType::Str if value.len() > submit::MAX_STR_LEN => {
                return Err(format!(
                    "--field {name}: {} bytes; a submitted string is at most {} bytes",
                    value.len(),
                    submit::MAX_STR_LEN
                ));
            }
            FieldType::Str => Owned::Str(value.to_owned()),
            FieldType::Int => Owned::Int(parse_u64(value).map_err(|e| {
                format!("--field {name}: {name} is an integer field: {value:?}: {e}")
            })?),
        });
    }
    let mut defaulted = Vec::new();
    let values = t
        .fields
        .iter()
        .zip(given)
        .map(|(f, g)| {
            g.unwrap_or_else(|| {
                defaulted.push(f.name);
                match f.ty {
                    FieldType::Str => Owned::Str(String::new()),
                    FieldType::Int => Owned::Int(0),
                }
            })
        })
        .collect();
    Ok(SubmitPlan {
        template,
        values,
        defaulted,
    })
}

/// Decimal, or hex with `0x`.
fn parse_u64(s: &str) -> Result<u64, std::num::ParseIntError> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    }
}

/// Parses `s:<text>` / `i:<u64>` into owned values (portable, tested everywhere).
fn parse_values(raw: &[String]) -> Result<Vec<Owned>, String> {
    raw.iter()
        .enumerate()
        .map(|(i, v)| {
            if let Some(s) = v.strip_prefix("s:") {
                Ok(Owned::Str(s.to_owned()))
            } else if let Some(n) = v.strip_prefix("i:") {
                n.parse::<u64>()
                    .map(Owned::Int)
                    .map_err(|e| format!("value {i}: {e}"))
            } else {
                Err(format!(
                    "value {i}: expected s:<text> or i:<number>, got {v:?}"
                ))
            }
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Owned {
    Str(String),
    Int(u64),
}

/// The answer of `driver submit`: one JSON object, or one line.
#[cfg_attr(
    not(windows),
    allow(
        dead_code,
        reason = "printed by the Windows `imp` only; tested on every host"
    )
)]
fn submit_reply_output(r: &submit::SubmitReply, plan: &SubmitPlan, json: bool) -> String {
    if json {
        serde_json::json!({
            "outcome": r.outcome.name(),
            "matches": r.matches,
            "channel": r.channel_id,
            "instance": r.instance,
            "action": r.action,
            "faults": r.faults,
            "defaulted": plan.defaulted,
        })
        .to_string()
    } else {
        let line = format!(
            "{} (matches {}, first channel {} instance {} action {}, faults {})",
            r.outcome.name(),
            r.matches,
            r.channel_id,
            r.instance,
            r.action,
            r.faults
        );
        match plan.defaulted_line() {
            Some(d) => format!("{d}\n{line}"),
            None => line,
        }
    }
}

/// The memory budget line of `driver status` (issue 11 finding 9), or
/// `None` for a driver whose reply has no memory figures (wire version 1).
#[cfg_attr(
    not(windows),
    allow(
        dead_code,
        reason = "printed by the Windows `imp` only; tested on every host"
    )
)]
fn memory_line(d: &changuard_control::status::DriverStatus) -> Option<String> {
    const MIB: f64 = 1024.0 * 1024.0;
    (d.memory_budget != 0).then(|| {
        format!(
            "memory budget {:.1} MiB, charged {:.1} MiB (content + interpreter estimate)",
            d.memory_budget as f64 / MIB,
            d.memory_charged as f64 / MIB
        )
    })
}

/// What `driver status` says about the process table (parent image paths).
#[cfg_attr(
    not(windows),
    allow(
        dead_code,
        reason = "printed by the Windows `imp` only; tested on every host"
    )
)]
fn process_table_state(d: &changuard_control::status::DriverStatus) -> &'static str {
    use changuard_control::status::{DRIVER_FLAG_PROCESS_TABLE, DRIVER_FLAG_PROCESS_TABLE_FULL};
    if d.flags & DRIVER_FLAG_PROCESS_TABLE == 0 {
        "off"
    } else if d.flags & DRIVER_FLAG_PROCESS_TABLE_FULL != 0 {
        "full"
    } else {
        "on"
    }
}

/// The memory fields of `driver status --json` (`null` when unknown).
#[cfg_attr(
    not(windows),
    allow(
        dead_code,
        reason = "printed by the Windows `imp` only; tested on every host"
    )
)]
fn memory_json(d: &changuard_control::status::DriverStatus) -> String {
    if d.memory_budget == 0 {
        "\"memory_budget\":null,\"memory_charged\":null".to_string()
    } else {
        format!(
            "\"memory_budget\":{},\"memory_charged\":{}",
            d.memory_budget, d.memory_charged
        )
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds (proleptic Gregorian, UTC), or
/// `-` for 0 (the driver had no clock).
fn utc(secs: u64) -> String {
    if secs == 0 {
        return "-".to_string();
    }
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days as i128 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The loader's name of a reason code (`reason-<code>` for a code this CLI
/// does not know: a newer driver).
fn reason_label(code: u16) -> String {
    changuard_control::status::reason_name(code)
        .map_or_else(|| format!("reason-{code}"), str::to_string)
}

/// One line of `driver status` for a loader decision:
/// `<time> channel 291 v7: trial-halted (711) attempt 2 [event log]`.
#[cfg_attr(
    not(windows),
    allow(
        dead_code,
        reason = "printed by the Windows `imp` only; tested on every host"
    )
)]
fn decision_line(d: &changuard_control::status::DecisionRecord) -> String {
    let mut line = format!(
        "{} channel {} v{}: {} ({})",
        utc(d.time),
        d.channel,
        d.version,
        reason_label(d.reason),
        d.reason
    );
    match d.reason {
        705 => line.push_str(&format!(" stale since {}", utc(d.offset))),
        708 => line.push_str(&format!(" eligible at {}", utc(d.offset))),
        _ if d.detail != 0 || d.offset != 0 => {
            line.push_str(&format!(" rule {} at offset {}", d.detail, d.offset));
        }
        _ => {}
    }
    if d.attempt != 0 {
        line.push_str(&format!(" attempt {}", d.attempt));
    }
    if d.logged() {
        line.push_str(" [event log]");
    } else if d.operator_event() {
        line.push_str(" [event log: not written]");
    }
    line
}

/// The `decisions` array of `driver status --json`.
#[cfg_attr(
    not(windows),
    allow(
        dead_code,
        reason = "printed by the Windows `imp` only; tested on every host"
    )
)]
fn decisions_json(r: &changuard_control::status::StatusReply) -> serde_json::Value {
    let list: Vec<serde_json::Value> = r
        .decisions()
        .iter()
        .map(|d| {
            serde_json::json!({
                "seq": d.seq,
                "time": d.time,
                "time_utc": (d.time != 0).then(|| utc(d.time)),
                "channel": d.channel,
                "version": d.version,
                "attempt": d.attempt,
                "reason": d.reason,
                "reason_name": reason_label(d.reason),
                "detail": d.detail,
                "offset": d.offset,
                "operator_event": d.operator_event(),
                "logged": d.logged(),
            })
        })
        .collect();
    serde_json::Value::Array(list)
}

#[cfg(not(windows))]
mod imp {
    use super::{DriverArgs, DriverCmd, ErrorKind, PREFIX, report};

    pub fn run(args: DriverArgs) -> i32 {
        // The arguments are checked here too, so a mistake shows on any host.
        if let DriverCmd::Submit {
            template,
            fields,
            values,
        } = &args.cmd
        {
            if let Err(e) = super::submit_plan(*template, fields, values).and_then(|p| p.encode()) {
                return report(args.json, PREFIX, ErrorKind::Usage, &e, None, 2);
            }
        }
        report(
            args.json,
            PREFIX,
            ErrorKind::Unsupported,
            "needs Windows (it talks to the changuard.sys control device)",
            None,
            2,
        )
    }
}

#[cfg(windows)]
#[allow(unsafe_code)] // Win32 FFI; each block has its SAFETY comment.
mod imp {
    use super::{DriverArgs, DriverCmd, ErrorKind, PREFIX, report};
    use changuard_control::{ioctl, reload, status, submit};
    use windows_sys::Win32::Foundation::{
        CloseHandle, GENERIC_READ, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE,
    };
    use windows_sys::Win32::Storage::FileSystem::{
        CreateFileW, FILE_SHARE_READ, FILE_SHARE_WRITE, OPEN_EXISTING,
    };
    use windows_sys::Win32::System::IO::DeviceIoControl;

    struct Device(HANDLE);
    impl Drop for Device {
        fn drop(&mut self) {
            // SAFETY: self.0 is a handle returned by CreateFileW, closed once.
            unsafe { CloseHandle(self.0) };
        }
    }

    fn open() -> Result<Device, String> {
        let path: Vec<u16> = ioctl::DEVICE_WIN32_PATH
            .encode_utf16()
            .chain(Some(0))
            .collect();
        // SAFETY: path is NUL-terminated UTF-16 alive for the call; other pointers null.
        let h = unsafe {
            CreateFileW(
                path.as_ptr(),
                GENERIC_READ | GENERIC_WRITE,
                FILE_SHARE_READ | FILE_SHARE_WRITE,
                std::ptr::null(),
                OPEN_EXISTING,
                0,
                std::ptr::null_mut(),
            )
        };
        if h == INVALID_HANDLE_VALUE {
            return Err(format!(
                "cannot open {}: {}",
                ioctl::DEVICE_WIN32_PATH,
                std::io::Error::last_os_error()
            ));
        }
        Ok(Device(h))
    }

    fn ioctl(dev: &Device, code: u32, input: &[u8], out: &mut [u8]) -> Result<usize, String> {
        let mut returned = 0u32;
        let in_len = u32::try_from(input.len()).map_err(|_| "input too large".to_string())?;
        let out_len = u32::try_from(out.len()).map_err(|_| "output too large".to_string())?;
        // SAFETY: buffers are valid for their lengths for the duration of this synchronous call.
        let ok = unsafe {
            DeviceIoControl(
                dev.0,
                code,
                if input.is_empty() {
                    std::ptr::null()
                } else {
                    input.as_ptr().cast()
                },
                in_len,
                if out.is_empty() {
                    std::ptr::null_mut()
                } else {
                    out.as_mut_ptr().cast()
                },
                out_len,
                &mut returned,
                std::ptr::null_mut(),
            )
        };
        if ok == 0 {
            return Err(format!(
                "DeviceIoControl({code:#x}): {}",
                std::io::Error::last_os_error()
            ));
        }
        usize::try_from(returned).map_err(|_| "bad length".to_string())
    }

    pub fn run(args: DriverArgs) -> i32 {
        match run_inner(&args) {
            Ok(()) => 0,
            Err((code, kind, msg)) => report(args.json, PREFIX, kind, &msg, None, code),
        }
    }

    /// Exit code, error kind, message.
    type Failure = (i32, ErrorKind, String);

    fn run_inner(args: &DriverArgs) -> Result<(), Failure> {
        let io = |e: String| (1, ErrorKind::Driver, e);
        let usage = |e: String| (2, ErrorKind::Usage, e);
        match &args.cmd {
            DriverCmd::Status => {
                let dev = open().map_err(io)?;
                let mut buf = vec![0u8; status::MAX_REPLY_LEN];
                let n = ioctl(&dev, ioctl::IOCTL_QUERY_STATUS, &[], &mut buf).map_err(io)?;
                let reply = status::decode_status(&buf[..n])
                    .map_err(|e| io(format!("bad status reply: {e}")))?;
                print_status(&reply, args.json);
            }
            DriverCmd::Reload => {
                let dev = open().map_err(io)?;
                let mut req = [0u8; reload::RELOAD_REQUEST_LEN];
                let n = reload::encode_reload(&mut req).map_err(|e| io(e.to_string()))?;
                ioctl(&dev, ioctl::IOCTL_RELOAD, &req[..n], &mut []).map_err(io)?;
                if args.json {
                    println!("{{\"reloaded\":true}}")
                } else {
                    println!("reloaded")
                }
            }
            DriverCmd::Submit {
                template,
                fields,
                values,
            } => {
                let plan = super::submit_plan(*template, fields, values).map_err(usage)?;
                let req = plan.encode().map_err(usage)?;
                let dev = open().map_err(io)?;
                let mut out = [0u8; submit::REPLY_LEN];
                let m = ioctl(&dev, ioctl::IOCTL_SUBMIT_EVENT, &req, &mut out).map_err(io)?;
                let r =
                    submit::decode_reply(&out[..m]).map_err(|e| io(format!("bad reply: {e}")))?;
                println!("{}", super::submit_reply_output(&r, &plan, args.json));
            }
        }
        Ok(())
    }

    fn print_status(r: &status::StatusReply, json: bool) {
        let d = &r.driver;
        if json {
            let chans: Vec<String> = r
                .channels()
                .iter()
                .map(|c| {
                    let rej = c.last_rejection.map_or("null".to_string(), |x| format!("{{\"reason\":{},\"rule\":{},\"offset\":{}}}", x.reason, x.rule, x.offset));
                    format!(
                        "{{\"channel\":{},\"source\":\"{}\",\"active_version\":{},\"lkg_version\":{},\"trial_attempt\":{},\"quarantined\":{:?},\"last_rejection\":{},\"events\":{},\"detections\":{},\"faults\":{}}}",
                        c.channel_id, c.source.name(), c.active_version,
                        c.lkg_version.map_or("null".into(), |v| v.to_string()),
                        c.trial_attempt.map_or("null".into(), |v| v.to_string()),
                        c.quarantined(), rej, c.events, c.detections, c.faults
                    )
                })
                .collect();
            println!(
                "{{\"flags\":{},\"test_hooks_build\":{},\"process_table\":\"{}\",\"events_seen\":{},\"detections\":{},\"eval_faults\":{},\"reloads\":{},\"reload_fallbacks\":{},\"last_platform_status\":{},{},\"channels\":[{}],\"decisions_recorded\":{},\"decisions\":{}}}",
                d.flags,
                d.flags & status::DRIVER_FLAG_TEST_HOOKS_BUILD != 0,
                super::process_table_state(d),
                d.events_seen,
                d.detections,
                d.eval_faults,
                d.reloads,
                d.reload_fallbacks,
                d.last_platform_status,
                super::memory_json(d),
                chans.join(","),
                r.decisions_recorded,
                super::decisions_json(r)
            );
        } else {
            println!(
                "events {} detections {} faults {} reloads {} (fallbacks {}) flags {:#x}",
                d.events_seen, d.detections, d.eval_faults, d.reloads, d.reload_fallbacks, d.flags
            );
            if let Some(line) = super::memory_line(d) {
                println!("{line}");
            }
            match super::process_table_state(d) {
                "off" => {
                    println!(
                        "process table: off (no memory at load): parent_image_path and parent_command_line are empty"
                    )
                }
                "full" => println!(
                    "process table: full at least once this boot: some parent_image_path and parent_command_line values were empty"
                ),
                _ => {}
            }
            if d.flags & status::DRIVER_FLAG_TEST_HOOKS_BUILD != 0 {
                let armed = d.flags & status::DRIVER_FLAG_TEST_HOOKS_ARMED != 0;
                println!(
                    "WARNING: test-hooks build, not for production (TestHooks {})",
                    if armed { "armed" } else { "off" }
                );
            }
            for c in r.channels() {
                println!(
                    "channel {:>5}: {:<9} v{} lkg {} trial {} quarantined {:?} last-rejection {}",
                    c.channel_id,
                    c.source.name(),
                    c.active_version,
                    c.lkg_version.map_or("-".into(), |v| v.to_string()),
                    c.trial_attempt.map_or("-".into(), |v| v.to_string()),
                    c.quarantined(),
                    c.last_rejection.map_or("-".into(), |x| format!(
                        "{}/{}@{}",
                        x.reason, x.rule, x.offset
                    ))
                );
            }
            if !r.decisions().is_empty() {
                println!(
                    "recent decisions ({} of {} this boot, oldest first):",
                    r.decisions().len(),
                    r.decisions_recorded
                );
                for dec in r.decisions() {
                    println!("  {}", super::decision_line(dec));
                }
            }
        }
    }
}

#[cfg(test)]
mod memory_tests {
    use super::*;
    use changuard_control::status::DriverStatus;

    #[test]
    fn status_says_whether_parent_images_are_filled() {
        use changuard_control::status::{
            DRIVER_FLAG_PROCESS_TABLE, DRIVER_FLAG_PROCESS_TABLE_FULL,
        };
        let mut d = DriverStatus::default();
        assert_eq!(process_table_state(&d), "off");
        d.flags = DRIVER_FLAG_PROCESS_TABLE;
        assert_eq!(process_table_state(&d), "on");
        d.flags |= DRIVER_FLAG_PROCESS_TABLE_FULL;
        assert_eq!(process_table_state(&d), "full");
    }

    #[test]
    fn status_shows_the_memory_budget_when_the_driver_reports_it() {
        let mut d = DriverStatus::default();
        assert_eq!(memory_line(&d), None, "version 1 reply: nothing to show");
        assert_eq!(
            memory_json(&d),
            "\"memory_budget\":null,\"memory_charged\":null"
        );
        d.memory_budget = 512 << 20;
        d.memory_charged = 151_519_232;
        assert_eq!(
            memory_line(&d).unwrap(),
            "memory budget 512.0 MiB, charged 144.5 MiB (content + interpreter estimate)"
        );
        assert_eq!(
            memory_json(&d),
            "\"memory_budget\":536870912,\"memory_charged\":151519232"
        );
    }
}

#[cfg(test)]
mod decision_tests {
    use super::*;
    use changuard_control::status::{
        DECISION_FLAG_LOGGED, DECISION_FLAG_OPERATOR_EVENT, DecisionRecord, Decisions,
        DriverStatus, MAX_REPLY_LEN, decode_status, encode_status,
    };

    #[test]
    fn utc_times() {
        assert_eq!(utc(0), "-");
        assert_eq!(utc(1), "1970-01-01T00:00:01Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_772_323_200), "2026-03-01T00:00:00Z");
        assert_eq!(utc(1_767_225_599), "2025-12-31T23:59:59Z");
    }

    #[test]
    fn decision_lines_name_the_reason_and_its_detail() {
        let d = DecisionRecord {
            time: 1_772_323_200,
            channel: 291,
            version: 7,
            attempt: 2,
            reason: 711,
            flags: DECISION_FLAG_LOGGED | DECISION_FLAG_OPERATOR_EVENT,
            seq: 5,
            ..DecisionRecord::default()
        };
        assert_eq!(
            decision_line(&d),
            "2026-03-01T00:00:00Z channel 291 v7: trial-halted (711) attempt 2 [event log]"
        );
        let rej = DecisionRecord {
            reason: 206,
            detail: 12,
            offset: 64,
            attempt: 0,
            flags: DECISION_FLAG_OPERATOR_EVENT,
            ..d
        };
        assert_eq!(
            decision_line(&rej),
            "2026-03-01T00:00:00Z channel 291 v7: candidate-rejected (206) rule 12 at offset 64 [event log: not written]"
        );
        let wait = DecisionRecord {
            reason: 708,
            offset: 1_772_409_600,
            attempt: 0,
            flags: 0,
            time: 0,
            ..d
        };
        assert_eq!(
            decision_line(&wait),
            "- channel 291 v7: not-yet-eligible (708) eligible at 2026-03-02T00:00:00Z"
        );
        let unknown = DecisionRecord {
            reason: 999,
            attempt: 0,
            flags: 0,
            ..d
        };
        assert!(decision_line(&unknown).contains(": reason-999 (999)"));
    }

    #[test]
    fn json_lists_the_decisions() {
        let recs = [DecisionRecord {
            time: 1_772_323_200,
            channel: 291,
            version: 7,
            reason: 214,
            seq: 3,
            flags: DECISION_FLAG_LOGGED | DECISION_FLAG_OPERATOR_EVENT,
            ..DecisionRecord::default()
        }];
        let mut buf = vec![0u8; MAX_REPLY_LEN];
        let n = encode_status(
            &DriverStatus::default(),
            &[],
            Decisions {
                records: &recs,
                recorded: 3,
            },
            &mut buf,
        )
        .unwrap();
        let r = decode_status(&buf[..n]).unwrap();
        let v = decisions_json(&r);
        assert_eq!(v[0]["reason_name"], "quarantined");
        assert_eq!(v[0]["time_utc"], "2026-03-01T00:00:00Z");
        assert_eq!(v[0]["logged"], true);
        assert_eq!(v[0]["seq"], 3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_typed_values() {
        let v = parse_values(&["s:cmd.exe".into(), "i:42".into()]).unwrap();
        assert_eq!(v, vec![Owned::Str("cmd.exe".into()), Owned::Int(42)]);
        assert!(parse_values(&["x".into()]).is_err());
        assert!(parse_values(&["i:-1".into()]).is_err());
    }
}

#[cfg(test)]
mod submit_tests {
    use super::*;
    use changuard_control::submit::{FieldValue, Outcome, SubmitReply, decode_submit};

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn named_fields_fill_the_schema_order_and_the_rest_are_empty() {
        let plan = submit_plan(
            2,
            &args(&[
                "creating_pid=4242",
                "pipe_name=\\msagent_12",
                "desired_access=0x3",
            ]),
            &[],
        )
        .unwrap();
        let req = plan.encode().unwrap();
        let ev = decode_submit(&req).unwrap();
        assert_eq!(ev.template_id, 2);
        let f = ev.fields();
        assert_eq!(f.len(), schema::NAMED_PIPE_CREATE_INPUTS);
        assert_eq!(f[0], FieldValue::Str("\\msagent_12"));
        assert_eq!(f[1], FieldValue::Str(""));
        assert_eq!(f[6], FieldValue::Int(4242));
        assert_eq!(f[7], FieldValue::Int(0));
        assert_eq!(f[10], FieldValue::Int(3));
        assert_eq!(plan.defaulted.len(), 17);
        assert!(!plan.defaulted.contains(&"pipe_name"));
        assert!(plan.defaulted.contains(&"client_pid"));
        let line = plan.defaulted_line().unwrap();
        assert!(
            line.starts_with("not given, sent as \"\" / 0: creating_image_path, "),
            "{line}"
        );
    }

    #[test]
    fn a_template_by_name_and_no_fields_sends_every_field_empty() {
        let id = parse_template("ProcessCreate").unwrap();
        assert_eq!(id, 1);
        assert_eq!(parse_template("7").unwrap(), 7);
        let e = parse_template("ProcesCreate").unwrap_err();
        assert!(e.contains("did you mean \"ProcessCreate\""), "{e}");
        let plan = submit_plan(id, &[], &[]).unwrap();
        assert_eq!(plan.defaulted.len(), schema::PROCESS_CREATE_INPUTS);
        let req = plan.encode().unwrap();
        assert_eq!(
            decode_submit(&req).unwrap().fields().len(),
            schema::PROCESS_CREATE_INPUTS
        );
    }

    #[test]
    fn named_field_mistakes_are_refused_with_the_argument() {
        let e = submit_plan(2, &args(&["pipe_nme=x"]), &[]).unwrap_err();
        assert!(e.contains("did you mean \"pipe_name\""), "{e}");
        assert!(
            e.contains("NamedPipeCreate has no field \"pipe_nme\""),
            "{e}"
        );
        let e = submit_plan(2, &args(&["pipe_name"]), &[]).unwrap_err();
        assert!(e.contains("expected NAME=VALUE"), "{e}");
        let e = submit_plan(2, &args(&["creating_pid=abc"]), &[]).unwrap_err();
        assert!(e.contains("creating_pid is an integer field"), "{e}");
        let e = submit_plan(2, &args(&["pipe_name=a", "pipe_name=b"]), &[]).unwrap_err();
        assert!(e.contains("given twice"), "{e}");
        let e = submit_plan(9, &args(&["pipe_name=a"]), &[]).unwrap_err();
        assert!(
            e.contains("no template type 9") && e.contains("2 NamedPipeCreate"),
            "{e}"
        );
        let long = format!("pipe_name={}", "a".repeat(submit::MAX_STR_LEN + 1));
        let e = submit_plan(2, &[long], &[]).unwrap_err();
        assert!(e.contains("at most 1024 bytes"), "{e}");
        let e = submit_plan(2, &args(&["pipe_name=a"]), &args(&["s:x"])).unwrap_err();
        assert!(e.contains("not both"), "{e}");
        // A value may itself contain '=': only the first one splits.
        let plan = submit_plan(1, &args(&["command_line=a=b"]), &[]).unwrap();
        let req = plan.encode().unwrap();
        assert!(
            decode_submit(&req)
                .unwrap()
                .fields()
                .contains(&FieldValue::Str("a=b"))
        );
    }

    #[test]
    fn the_positional_form_still_sends_exactly_its_values() {
        let plan = submit_plan(2, &[], &args(&["s:\\pipe", "i:42"])).unwrap();
        assert!(plan.defaulted.is_empty());
        assert_eq!(plan.defaulted_line(), None);
        let req = plan.encode().unwrap();
        let ev = decode_submit(&req).unwrap();
        assert_eq!(
            ev.fields(),
            &[FieldValue::Str("\\pipe"), FieldValue::Int(42)]
        );
        // The driver, not the tool, checks a positional event against the schema.
        assert!(submit_plan(99, &[], &args(&["i:1"])).is_ok());
        assert!(submit_plan(2, &[], &args(&["x"])).is_err());
    }

    #[test]
    fn the_reply_states_the_defaulted_fields() {
        let plan = submit_plan(1, &args(&["pid=4"]), &[]).unwrap();
        let r = SubmitReply {
            outcome: Outcome::Match,
            action: 1,
            matches: 1,
            channel_id: 300,
            instance: 2,
            faults: 0,
        };
        let text = submit_reply_output(&r, &plan, false);
        let mut lines = text.lines();
        assert!(lines.next().unwrap().starts_with("not given, sent as"));
        assert_eq!(
            lines.next().unwrap(),
            "match (matches 1, first channel 300 instance 2 action 1, faults 0)"
        );
        let v: serde_json::Value =
            serde_json::from_str(&submit_reply_output(&r, &plan, true)).unwrap();
        assert_eq!(v["outcome"], "match");
        assert_eq!(v["channel"], 300);
        assert_eq!(
            v["defaulted"].as_array().unwrap().len(),
            schema::PROCESS_CREATE_INPUTS - 1
        );
    }
}
