//! Seeded random campaigns: determinism, zero violations, and that mutations
//! are caught with a shrunk, replayable trace.

use changuard_sim::{Mutation, random};

#[test]
fn same_seed_same_run() {
    let a = random::campaign(7, 300, None, true, |_| {});
    let b = random::campaign(7, 300, None, true, |_| {});
    assert_eq!(a.timeline, b.timeline);
    assert_eq!((a.crashes, a.power_losses), (b.crashes, b.power_losses));
}

#[test]
fn campaign_has_no_violations() {
    // CI runs the 100,000-boot campaign through `changuard simulate --random`;
    // this is the quick one (more in release: CHANGUARD_SIM_BOOTS).
    let boots = std::env::var("CHANGUARD_SIM_BOOTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3_000);
    for seed in [1u64, 2, 3] {
        let r = random::campaign(seed, boots, None, false, |_| {});
        assert!(
            r.violations.is_empty(),
            "seed {seed}: {:?}\ntrace: {:?}",
            r.violations,
            r.trace
        );
        assert!(r.max_crashes_per_version <= 2);
        assert!(
            r.crashes > 0 && r.power_losses > 0,
            "campaign exercised nothing"
        );
    }
}

#[test]
fn random_catches_no_quarantine() {
    let r = random::campaign(11, 5_000, Some(Mutation::NoQuarantine), false, |_| {});
    assert!(!r.violations.is_empty(), "NoQuarantine not caught");
    assert!(
        random::replay(&r.trace, Some(Mutation::NoQuarantine)).is_some(),
        "shrunk trace does not replay"
    );
    eprintln!(
        "NoQuarantine: {:?}, trace of {} actions: {:?}",
        r.violations,
        r.trace.len(),
        r.trace
    );
}
