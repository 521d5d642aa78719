//! Exhaustive exploration over every scenario (power losses at every
//! mutating op, clean reboots, reloads, power cuts, promotion I/O failures:
//! zero violations), and proof that the simulator catches deliberate protocol
//! bugs with a replayable trace.

use changuard_sim::{Mutation, scenario};

#[test]
fn exhaustive_all_scenarios_zero_violations() {
    let mut states = 0;
    let mut alt_boots = 0;
    for s in scenario::all() {
        let ex = scenario::exhaustive(&s, None, 5);
        for v in &ex.violations {
            eprintln!("{v}");
        }
        assert!(
            ex.violations.is_empty(),
            "{}: {} violations",
            s.name,
            ex.violations.len()
        );
        assert!(ex.max_crashes_per_version <= 2, "{}", s.name);
        eprintln!(
            "{:<28} crash states {:>6} other states {:>4} boots {:>7}",
            s.name, ex.crash_states, ex.alt_states, ex.boots
        );
        states += ex.crash_states + ex.alt_states;
        alt_boots += ex.alt_boots.iter().sum::<u64>();
    }
    eprintln!("total distinct states: {states}, alternative boots: {alt_boots}");
    // 10,168 crash states before issue 11 added shutdowns, reloads and promotion failures.
    assert!(states >= 10_168, "only {states} states explored");
    assert!(
        alt_boots > 0,
        "no clean reboot, reload or promotion failure explored"
    );
}

fn caught(m: Mutation, scenario_name: &str) {
    let s = scenario::by_name(scenario_name).unwrap();
    let plain = scenario::run(&s, Some(m));
    let ex = scenario::exhaustive(&s, Some(m), 1);
    let v = plain
        .violations
        .first()
        .map(|msg| (msg.clone(), vec![]))
        .or_else(|| {
            ex.violations
                .first()
                .map(|v| (v.to_string(), v.trace.clone()))
        })
        .unwrap_or_else(|| panic!("{m:?} not caught in {scenario_name}"));
    eprintln!("{m:?} caught: {}", v.0);
    // Replayable: the trace reproduces a violation.
    let replayed = scenario::replay(&s, Some(m), &v.1);
    assert!(
        replayed.iter().any(|(_, r)| !r.violations.is_empty()),
        "{m:?}: trace {:?} does not replay",
        v.1
    );
    // And the same trace is clean without the mutation.
    let clean = scenario::replay(&s, None, &v.1);
    assert!(
        clean.iter().all(|(_, r)| r.violations.is_empty()),
        "{m:?}: trace violates even without the mutation"
    );
}

#[test]
fn catches_ignored_halts() {
    caught(Mutation::IgnoreHalt, "halt-stops-rollout");
}

#[test]
fn catches_ignored_ring_times() {
    caught(Mutation::IgnoreRing, "rollout-waits-for-ring");
}

#[test]
fn catches_no_quarantine() {
    caught(Mutation::NoQuarantine, "poison-update");
}

#[test]
fn catches_activate_before_persist() {
    caught(Mutation::ActivateBeforePersist, "poison-update");
}

#[test]
fn catches_raise_floor_before_lkg_durable() {
    caught(Mutation::RaiseFloorBeforeLkgDurable, "routine-update");
}

#[test]
fn catches_skip_flush_on_lkg_write() {
    caught(Mutation::SkipFlushOnLkgWrite, "routine-update");
}

#[test]
fn catches_lkg_in_place() {
    caught(Mutation::LkgInPlace, "routine-update");
}

/// Issue 11 finding 1: counting a clean shutdown as a crash quarantines
/// healthy content (invariant I7).
#[test]
fn catches_count_clean_ends() {
    caught(Mutation::CountCleanEnds, "clean-reboot-during-trial");
}

/// Issue 11 finding 4: a quarantine evicted from a full list comes back and
/// crashes the machine again (invariant I3).
#[test]
fn catches_evict_quarantine() {
    caught(Mutation::EvictQuarantine, "twenty-crashing-versions");
}

#[test]
fn july19_fleet_zero_crashes_all_on_valid_content() {
    let f = scenario::july19_fleet(1_000, |_| {});
    assert!(
        f.violations.is_empty(),
        "{:?}",
        &f.violations[..f.violations.len().min(5)]
    );
    assert_eq!(f.crashes, 0);
    assert_eq!(f.on_valid_content, 1_000);
}
