//! `changuard simulate --json`: structured timeline entries. Every kind, end,
//! source, op and reason is a stable kebab-case name; versions and channels
//! are numbers (`null` for none); `text` is the human line of the entry.

use changuard_sim::machine::{BootEnd, BootReport, ChannelView};
use changuard_sim::random::{Action, Entry};
use changuard_sim::scenario::ReplayBoot;
use changuard_sim::timeline;
use serde_json::{Map, Value, json};

/// One boot (`boot` 1-based): `kind` `boot`, how it ended, the channels it
/// ran, every decision with its reason code and name, its violations.
pub(super) fn boot(boot: u64, r: &BootReport) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("boot".into(), json!(boot));
    o.insert("kind".into(), json!("boot"));
    o.insert("end".into(), json!(timeline::end_name(&r.end)));
    match &r.end {
        BootEnd::PowerLoss(op) => {
            o.insert("power_loss_after".into(), json!(timeline::op_name(*op)));
        }
        BootEnd::Crashed(by) => {
            let by: Vec<Value> = by
                .iter()
                .map(|(c, v)| json!({"channel": c, "version": v}))
                .collect();
            o.insert("crashed_by".into(), Value::Array(by));
        }
        BootEnd::Healthy | BootEnd::RebootedEarly | BootEnd::PowerCut => {}
    }
    o.insert("reloaded".into(), json!(r.reloaded));
    o.insert("promotion_io_failures".into(), json!(r.io_failures));
    o.insert("clean_shutdown".into(), json!(r.clean_shutdown));
    o.insert("ops".into(), json!(r.ops));
    o.insert("disk".into(), json!(r.on_disk));
    let channels: Vec<Value> = r
        .channels
        .iter()
        .map(|c| {
            json!({
                "channel": c.channel,
                "source": c.source.name(),
                "version": c.active_version,
                "trial_attempt": c.trial_attempt,
                "promoted": c.promoted,
                "lkg_version": c.lkg_version,
                "floor": c.floor,
                "quarantined": c.quarantined,
                "last_problem": c.last_problem,
            })
        })
        .collect();
    o.insert("channels".into(), Value::Array(channels));
    let decisions: Vec<Value> = r
        .decisions
        .iter()
        .map(|d| {
            json!({
                "channel": d.channel,
                "version": (d.version != 0).then_some(d.version),
                "attempt": d.attempt,
                "reason_code": d.reason.code(),
                "reason": d.reason.name(),
                "detail": d.reason.to_string(),
                "problem": d.reason.is_problem(),
            })
        })
        .collect();
    o.insert("decisions".into(), Value::Array(decisions));
    o.insert("violations".into(), json!(r.violations));
    o.insert("text".into(), json!(timeline::line(boot, r)));
    o
}

/// A scenario boot: [`boot`] plus the step it ran, the alternative and the
/// power loss the trace chose there.
pub(super) fn scenario_boot(n: u64, b: &ReplayBoot) -> Value {
    let mut o = boot(n, &b.report);
    o.insert("step".into(), json!(b.step));
    o.insert("step_name".into(), json!(b.step_name));
    o.insert("label".into(), json!(b.label));
    o.insert("alternative".into(), json!(b.alt));
    o.insert(
        "power_loss".into(),
        b.power_loss.map_or(
            Value::Null,
            |(op, variant)| json!({"mutating_op": op, "variant": variant}),
        ),
    );
    Value::Object(o)
}

/// A campaign action (as replayed or in a trace).
pub(super) fn action(a: &Action) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("kind".into(), json!(a.kind()));
    if let Some(c) = a.channel() {
        o.insert("channel".into(), json!(c));
    }
    if let Some(v) = a.version() {
        o.insert("version".into(), json!(v));
    }
    match *a {
        Action::Deliver(_, _, k) => {
            o.insert("content".into(), json!(k.name()));
        }
        Action::SetMaxTrialBoots(n) | Action::ClearQuarantine(n) => {
            o.insert("value".into(), json!(n));
        }
        Action::Boot {
            crash,
            early,
            reload,
            fail,
            pick,
        } => {
            o.insert(
                "power_loss".into(),
                crash.map_or(
                    Value::Null,
                    |(op, variant)| json!({"mutating_op": op, "variant_pick": variant}),
                ),
            );
            o.insert("early_reboot".into(), json!(early));
            o.insert("reload".into(), json!(reload));
            o.insert("promotion_io_failure".into(), json!(fail.map(|f| f.name())));
            o.insert("crash_pick".into(), json!(pick));
        }
        Action::DeliverTorn(..)
        | Action::Delete(..)
        | Action::CorruptLkg(_)
        | Action::TearState => {}
    }
    o.insert("text".into(), json!(a.to_string()));
    o
}

/// A replayed campaign entry: an action (`boot` is the boot it precedes)
/// or a boot (the boot's plan under `action`).
pub(super) fn entry(e: &Entry) -> Value {
    match e {
        Entry::Action { boot, action: a } => {
            let mut o = action(a);
            o.insert("boot".into(), json!(boot));
            o.insert("text".into(), json!(a.to_string()));
            Value::Object(o)
        }
        Entry::Boot {
            boot: n,
            action: a,
            report,
        } => {
            let mut o = boot(*n, report);
            o.insert("action".into(), Value::Object(action(a)));
            Value::Object(o)
        }
    }
}

/// Final state per channel.
pub(super) fn final_state(chs: &[ChannelView]) -> Value {
    let mut o = Map::new();
    for c in chs {
        o.insert(
            c.channel.to_string(),
            json!({
                "active_version": c.active_version,
                "active_source": c.source.name(),
                "lkg_version": c.lkg_version,
                "quarantined": c.quarantined,
                "floor": c.floor,
                "last_problem": c.last_problem,
            }),
        );
    }
    Value::Object(o)
}
