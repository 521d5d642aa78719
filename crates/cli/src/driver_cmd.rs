//! `changuard driver status|reload|submit`: talks to the driver's control
//! device (`\\.\Changuard`) with `DeviceIoControl`. The wire format is
//! `changuard-control` only. On non-Windows hosts it explains and exits 2.

use clap::{Args, Subcommand};

/// Arguments of `changuard driver`.
#[derive(Debug, Args)]
pub struct DriverArgs {
    /// Print machine-readable JSON.
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
    /// Evaluate a synthetic event: --template <id> then field values in schema order
    /// (`s:<text>` for strings, `i:<number>` for integers).
    Submit {
        /// Template type id (1 = ProcessCreate, 2 = NamedPipeCreate).
        #[arg(long)]
        template: u16,
        /// Field values in schema order: s:<text> or i:<u64>.
        values: Vec<String>,
    },
}

/// Runs the command; returns the process exit code
/// (0 ok, 1 driver/IO error, 2 usage or unsupported platform).
pub fn run(args: DriverArgs) -> i32 {
    imp::run(args)
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

#[cfg(not(windows))]
mod imp {
    use super::DriverArgs;

    pub fn run(args: DriverArgs) -> i32 {
        if let super::DriverCmd::Submit { values, .. } = &args.cmd {
            if let Err(e) = super::parse_values(values) {
                eprintln!("changuard driver: {e}");
                return 2;
            }
        }
        eprintln!("changuard driver: needs Windows (it talks to the changuard.sys control device)");
        2
    }
}

#[cfg(windows)]
#[allow(unsafe_code)] // Win32 FFI; each block has its SAFETY comment.
mod imp {
    use super::{DriverArgs, DriverCmd, Owned};
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
            Err((code, msg)) => {
                eprintln!("changuard driver: {msg}");
                code
            }
        }
    }

    fn run_inner(args: &DriverArgs) -> Result<(), (i32, String)> {
        let io = |e: String| (1, e);
        match &args.cmd {
            DriverCmd::Status => {
                let dev = open().map_err(io)?;
                let mut buf = vec![0u8; status::MAX_REPLY_LEN];
                let n = ioctl(&dev, ioctl::IOCTL_QUERY_STATUS, &[], &mut buf).map_err(io)?;
                let reply = status::decode_status(&buf[..n])
                    .map_err(|e| (1, format!("bad status reply: {e}")))?;
                print_status(&reply, args.json);
            }
            DriverCmd::Reload => {
                let dev = open().map_err(io)?;
                let mut req = [0u8; reload::RELOAD_REQUEST_LEN];
                let n = reload::encode_reload(&mut req).map_err(|e| (1, e.to_string()))?;
                ioctl(&dev, ioctl::IOCTL_RELOAD, &req[..n], &mut []).map_err(io)?;
                if args.json {
                    println!("{{\"reloaded\":true}}")
                } else {
                    println!("reloaded")
                }
            }
            DriverCmd::Submit { template, values } => {
                let owned = super::parse_values(values).map_err(|e| (2, e))?;
                let fields: Vec<submit::FieldValue<'_>> = owned
                    .iter()
                    .map(|o| match o {
                        Owned::Str(s) => submit::FieldValue::Str(s),
                        Owned::Int(v) => submit::FieldValue::Int(*v),
                    })
                    .collect();
                let mut req = vec![0u8; submit::MAX_REQUEST_LEN];
                let n = submit::encode_submit(*template, &fields, &mut req)
                    .map_err(|e| (2, e.to_string()))?;
                let dev = open().map_err(io)?;
                let mut out = [0u8; submit::REPLY_LEN];
                let m = ioctl(&dev, ioctl::IOCTL_SUBMIT_EVENT, &req[..n], &mut out).map_err(io)?;
                let r =
                    submit::decode_reply(&out[..m]).map_err(|e| (1, format!("bad reply: {e}")))?;
                if args.json {
                    println!(
                        "{{\"outcome\":\"{}\",\"matches\":{},\"channel\":{},\"instance\":{},\"action\":{},\"faults\":{}}}",
                        r.outcome.name(),
                        r.matches,
                        r.channel_id,
                        r.instance,
                        r.action,
                        r.faults
                    );
                } else {
                    println!(
                        "{} (matches {}, first channel {} instance {} action {}, faults {})",
                        r.outcome.name(),
                        r.matches,
                        r.channel_id,
                        r.instance,
                        r.action,
                        r.faults
                    );
                }
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
                "{{\"flags\":{},\"test_hooks_build\":{},\"events_seen\":{},\"detections\":{},\"eval_faults\":{},\"reloads\":{},\"reload_fallbacks\":{},\"last_platform_status\":{},{},\"channels\":[{}]}}",
                d.flags,
                d.flags & status::DRIVER_FLAG_TEST_HOOKS_BUILD != 0,
                d.events_seen,
                d.detections,
                d.eval_faults,
                d.reloads,
                d.reload_fallbacks,
                d.last_platform_status,
                super::memory_json(d),
                chans.join(",")
            );
        } else {
            println!(
                "events {} detections {} faults {} reloads {} (fallbacks {}) flags {:#x}",
                d.events_seen, d.detections, d.eval_faults, d.reloads, d.reload_fallbacks, d.flags
            );
            if let Some(line) = super::memory_line(d) {
                println!("{line}");
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
        }
    }
}

#[cfg(test)]
mod memory_tests {
    use super::*;
    use changuard_control::status::DriverStatus;

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
