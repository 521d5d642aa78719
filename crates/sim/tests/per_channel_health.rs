//! Health is per channel (promise 3): a channel whose content makes the
//! interpreter fault during the health window is not promoted, and with
//! `MaxTrialBoots = 1` it is quarantined at the next boot; a healthy channel on
//! trial in the same boot is promoted regardless.

use changuard_loader::{Reason, Source};
use changuard_sim::content::Kind;
use changuard_sim::machine::{BootPlan, BootReport, ChannelView, Machine};

const A: u32 = 291;
const B: u32 = 300;

fn view(r: &BootReport, c: u32) -> ChannelView {
    r.channels
        .iter()
        .find(|v| v.channel == c)
        .cloned()
        .unwrap_or_else(|| panic!("channel {c} missing: {:?}", r.channels))
}

fn boot(m: &mut Machine) -> BootReport {
    let r = m.boot(BootPlan::default(), None, None);
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    r
}

#[test]
fn faulting_channel_is_not_promoted_and_is_quarantined_others_are_promoted() {
    let mut m = Machine::new(None);
    m.set_dword("MaxTrialBoots", 1);
    // Baseline: both channels at v6, promoted.
    m.deliver(A, 6, Kind::Good);
    m.deliver(B, 6, Kind::Good);
    let r = boot(&mut m);
    assert!(view(&r, A).promoted && view(&r, B).promoted);

    // v7 of both on trial in the same boot; A's content faults the interpreter.
    m.deliver(A, 7, Kind::Good);
    m.deliver(B, 7, Kind::Good);
    m.faulting.insert((A, 7));
    let r = boot(&mut m);
    let (a, b) = (view(&r, A), view(&r, B));
    assert!(b.promoted, "healthy channel B must be promoted: {b:?}");
    assert_eq!(b.lkg_version, Some(7));
    assert_eq!(b.floor, 7);
    assert!(!a.promoted, "faulted channel A must not be promoted: {a:?}");
    assert_eq!(a.lkg_version, Some(6));
    assert_eq!(a.floor, 6);
    assert_eq!(a.trial_attempt, Some(1), "A's trial stays open");
    assert_eq!(a.last_problem, Some("faulted-during-trial"));
    let d = r
        .decisions
        .iter()
        .find(|d| d.reason == Reason::FaultedDuringTrial)
        .expect("faulted-during-trial decision recorded");
    assert_eq!((d.channel, d.version, d.attempt), (A, 7, 1));
    assert_eq!(d.reason.code(), 503);
    assert!(
        !r.decisions
            .iter()
            .any(|d| d.reason == Reason::FaultedDuringTrial && d.channel == B)
    );

    // Next boot: A's unfinished trial at MaxTrialBoots = 1 is quarantined and
    // its LKG v6 runs; B runs its promoted v7 (no trial).
    let r = boot(&mut m);
    let (a, b) = (view(&r, A), view(&r, B));
    assert_eq!(a.quarantined, vec![7]);
    assert_eq!((a.source, a.active_version), (Source::Lkg, Some(6)));
    assert_eq!(a.trial_attempt, None);
    assert_eq!(b.active_version, Some(7));
    assert_eq!(b.trial_attempt, None);
    assert!(b.quarantined.is_empty());
    assert!(
        r.decisions
            .iter()
            .any(|d| d.channel == A && d.version == 7 && d.reason == Reason::Quarantined)
    );

    // Stable afterwards: nothing left on trial, nothing more quarantined.
    let r = boot(&mut m);
    assert_eq!(view(&r, A).active_version, Some(6));
    assert_eq!(view(&r, B).active_version, Some(7));
}

#[test]
fn faulting_first_install_does_not_block_the_other_channel() {
    let mut m = Machine::new(None);
    m.deliver(A, 1, Kind::Good);
    m.deliver(B, 1, Kind::Good);
    m.faulting.insert((A, 1));
    let r = boot(&mut m);
    assert!(view(&r, B).promoted);
    assert!(!view(&r, A).promoted);
    let r = boot(&mut m);
    let a = view(&r, A);
    assert_eq!(a.quarantined, vec![1]);
    assert_eq!(a.source, Source::None, "no LKG and no golden: channel off");
    assert_eq!(view(&r, B).active_version, Some(1));
    assert_eq!(view(&r, B).source, Source::Lkg);
}

#[test]
fn no_fault_promotes_every_channel_on_trial() {
    let mut m = Machine::new(None);
    m.deliver(A, 1, Kind::Good);
    m.deliver(B, 1, Kind::Good);
    m.faulting.insert((A, 2)); // not active: irrelevant
    let r = boot(&mut m);
    assert!(view(&r, A).promoted && view(&r, B).promoted);
    assert!(
        !r.decisions
            .iter()
            .any(|d| d.reason == Reason::FaultedDuringTrial)
    );
}
