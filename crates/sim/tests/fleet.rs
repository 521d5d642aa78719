//! Issue 15 item 5: a staged rollout with a halt against all-at-once
//! delivery of 19 July 2024's shape, on a fleet of real machines.

use changuard_sim::NoProgress;
use changuard_sim::fleet::{self, Config, FleetReport};

fn small(seed: u64) -> FleetReport {
    let config = Config {
        machines: 3_000,
        seed,
        ..Config::default()
    };
    fleet::run(&config, &mut NoProgress)
}

#[test]
fn staged_rollout_with_halt_bounds_the_damage() {
    let r = small(1);
    let (a, s) = (&r.all_at_once, &r.staged);
    let violations: Vec<&String> = r.violations().collect();
    assert!(
        violations.is_empty(),
        "invariant violations: {violations:#?}"
    );
    // All at once: every machine with the property crashes.
    assert_eq!(a.crashed_machines, r.with_property);
    assert_eq!(a.activated, r.config.machines);
    // Staged + halt: a handful, and within the bound.
    assert!(s.halt_published.is_some());
    assert!(
        s.crashed_machines * 20 < a.crashed_machines,
        "staged {} vs all at once {}",
        s.crashed_machines,
        a.crashed_machines
    );
    assert!(
        s.crashed_machines <= s.bound(),
        "crashed {} > canary with property {} + activated before the halt {}",
        s.crashed_machines,
        s.canary_with_property,
        s.activated_before_halt
    );
    // Each crashed machine crashed at most its MaxTrialBoots times.
    assert_eq!(a.over_max_trial, 0);
    assert_eq!(s.over_max_trial, 0);
    assert!(a.max_crashes_per_machine <= 2 && s.max_crashes_per_machine <= 2);
    // The halt stops the later rings: most of the fleet never activates v7.
    assert!(s.ring_opened_after_halt > r.config.machines / 2);
    assert_eq!(s.activated_after_halt_ring, 0);
    assert!(r.holds());
}

#[test]
fn same_seed_same_result_whatever_the_threads() {
    let mut c = Config {
        machines: 400,
        seed: 7,
        threads: 1,
        ..Config::default()
    };
    let one = fleet::run(&c, &mut NoProgress);
    c.threads = 3;
    let mut three = fleet::run(&c, &mut NoProgress);
    three.config.threads = 1;
    assert_eq!(one, three);
}
