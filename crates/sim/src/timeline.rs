//! Human-readable boot lines.

use crate::machine::{BootEnd, BootReport};

/// One line per boot: what was on disk, what was chosen, why, what crashed.
pub fn line(boot_no: u64, r: &BootReport) -> String {
    let mut s = format!("boot {boot_no:>3}: disk [{}]", r.on_disk.join(" "));
    for c in &r.channels {
        s.push_str(&format!(
            " | ch {} -> {} {}{}{}{}",
            c.channel,
            c.source.name(),
            c.active_version.map_or("-".to_owned(), |v| format!("v{v}")),
            c.trial_attempt
                .map_or(String::new(), |a| format!(" trial#{a}")),
            if c.promoted { " promoted" } else { "" },
            c.last_problem.map_or(String::new(), |p| format!(" ({p})")),
        ));
    }
    let end = match &r.end {
        BootEnd::Healthy => "healthy".to_owned(),
        BootEnd::RebootedEarly => "rebooted before health window".to_owned(),
        BootEnd::Crashed(v) => format!(
            "CRASH by {}",
            v.iter()
                .map(|(c, v)| format!("ch {c} v{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        BootEnd::PowerLoss(op) => format!("POWER LOSS after {op:?}"),
        BootEnd::PowerCut => "POWER CUT (no shutdown)".to_owned(),
    };
    let mut end = end;
    if r.reloaded {
        end = format!("reloaded, {end}");
    }
    if r.io_failures > 0 {
        end = format!("{} promotion I/O failure(s), {end}", r.io_failures);
    }
    if r.clean_shutdown {
        end.push_str(", clean shutdown");
    }
    s.push_str(&format!(" => {end} ({} ops)", r.ops));
    for d in &r.decisions {
        if d.reason.is_problem() {
            // Version 0 means "no version concerned" (e.g. no LKG exists yet).
            let version = if d.version == 0 {
                "-".to_owned()
            } else {
                format!("v{}", d.version)
            };
            s.push_str(&format!(
                "\n        ch {} {version} attempt {}: {}",
                d.channel, d.attempt, d.reason
            ));
        }
    }
    for v in &r.violations {
        s.push_str(&format!("\n      VIOLATION {v}"));
    }
    s
}
