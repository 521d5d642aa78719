//! Boot timelines: one human-readable line per boot ([`line`]), and the
//! stable kebab-case names structured (`--json`) timelines use ([`end_name`],
//! [`op_name`]). Nothing here prints a Rust type name.

use crate::machine::{BootEnd, BootReport, Op};

/// Stable kebab-case name of a platform op.
pub const fn op_name(op: Op) -> &'static str {
    match op {
        Op::ReadParam => "read-param",
        Op::List => "list-content",
        Op::ReadContent => "read-content",
        Op::Golden => "golden",
        Op::StateRead => "state-read",
        Op::StateWrite => "state-write",
        Op::StateFlush => "state-flush",
        Op::LkgRead => "lkg-read",
        Op::LkgWriteTemp => "lkg-write-temp",
        Op::LkgFlushTemp => "lkg-flush-temp",
        Op::LkgRename => "lkg-rename",
        Op::LkgSync => "lkg-sync",
        Op::LkgDeleteTemp => "lkg-delete-temp",
        Op::Uptime => "uptime",
    }
}

/// Stable kebab-case name of how a boot ended: `healthy`, `rebooted-early`,
/// `crashed`, `power-loss`, `power-cut`.
pub const fn end_name(end: &BootEnd) -> &'static str {
    match end {
        BootEnd::Healthy => "healthy",
        BootEnd::RebootedEarly => "rebooted-early",
        BootEnd::Crashed(_) => "crashed",
        BootEnd::PowerLoss(_) => "power-loss",
        BootEnd::PowerCut => "power-cut",
    }
}

/// `v7`, or `-` for none.
pub fn version(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("v{v}"))
}

/// Quarantined versions as `7, 8`, or `-` for none.
pub fn versions(vs: &[u64]) -> String {
    if vs.is_empty() {
        return "-".to_owned();
    }
    vs.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
}

/// How the boot ended, in words (`healthy`, `CRASH by ch 291 v7`, ...).
pub fn end_text(r: &BootReport) -> String {
    let mut end = match &r.end {
        BootEnd::Healthy => "healthy".to_owned(),
        BootEnd::RebootedEarly => "rebooted before health window".to_owned(),
        BootEnd::Crashed(v) => format!(
            "CRASH by {}",
            v.iter()
                .map(|(c, v)| format!("ch {c} v{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        BootEnd::PowerLoss(op) => format!("POWER LOSS after {}", op_name(*op)),
        BootEnd::PowerCut => "POWER CUT (no shutdown)".to_owned(),
    };
    if r.reloaded {
        end = format!("reloaded, {end}");
    }
    if r.io_failures > 0 {
        end = format!("{} promotion I/O failure(s), {end}", r.io_failures);
    }
    if r.clean_shutdown {
        end.push_str(", clean shutdown");
    }
    end
}

/// One line per boot (`boot_no` is 1-based): what was on disk, what was
/// chosen, why, what crashed; then one indented line per problem decision
/// and per violation.
pub fn line(boot_no: u64, r: &BootReport) -> String {
    let mut s = format!("boot {boot_no:>3}: disk [{}]", r.on_disk.join(" "));
    for c in &r.channels {
        s.push_str(&format!(
            " | ch {} -> {} {}{}{}{}",
            c.channel,
            c.source.name(),
            version(c.active_version),
            c.trial_attempt
                .map_or(String::new(), |a| format!(" trial#{a}")),
            if c.promoted { " promoted" } else { "" },
            c.last_problem.map_or(String::new(), |p| format!(" ({p})")),
        ));
    }
    s.push_str(&format!(" => {} ({} ops)", end_text(r), r.ops));
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
