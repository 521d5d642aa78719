//! Issue 14 item 4: long runs report progress at a bounded rate through
//! `Progress` (the old closure APIs still work), every explorer violation
//! replays from what it records (mutation, MaxTrialBoots, trace), and
//! timelines number boots from 1 with no Rust type names in them.

use changuard_sim::machine::BootEnd;
use changuard_sim::{Mutation, Progress, random, scenario, timeline};

/// Records every update.
#[derive(Default)]
struct Record {
    updates: Vec<(u64, u64)>,
    phases: Vec<&'static str>,
}

impl Progress for Record {
    fn update(&mut self, done: u64, total: u64) {
        self.updates.push((done, total));
    }
    fn phase(&mut self, name: &'static str) {
        self.phases.push(name);
    }
}

#[test]
fn campaign_progress_is_bounded_and_ends_at_the_total() {
    let mut p = Record::default();
    let r = random::campaign_with(5, 1_000, None, false, true, &mut p);
    assert_eq!(r.boots, 1_000);
    assert_eq!(p.updates.last(), Some(&(1_000, 1_000)));
    assert!(p.updates.len() as u64 <= 1_000 / random::PROGRESS_EVERY + 2);
    assert!(p.updates.len() >= 10, "{:?}", p.updates);
    assert!(p.updates.windows(2).all(|w| w[0].0 <= w[1].0));
    assert!(p.phases.is_empty());
    // The closure API reports the same boots done.
    let mut seen = vec![];
    let again = random::campaign(5, 1_000, None, false, |n| seen.push(n));
    assert_eq!(again.crashes, r.crashes);
    assert_eq!(seen, p.updates.iter().map(|u| u.0).collect::<Vec<_>>());
}

#[test]
fn campaign_reports_its_shrinking_phase() {
    let mut p = Record::default();
    let r = random::campaign_with(11, 5_000, Some(Mutation::NoQuarantine), false, true, &mut p);
    assert!(!r.violations.is_empty());
    assert_eq!(p.phases, ["shrinking"]);
    let (done, total) = *p.updates.last().unwrap();
    assert_eq!(total, random::SHRINK_REPLAYS);
    assert!(done <= total);
}

#[test]
fn fleet_and_explorer_progress() {
    let mut p = Record::default();
    let f = scenario::july19_fleet_with(100, &mut p);
    assert_eq!(f.machines, 100);
    assert_eq!(p.updates.last(), Some(&(100, 100)));
    assert!(p.updates.len() as u64 <= 100 / scenario::FLEET_PROGRESS_EVERY + 1);

    let s = scenario::by_name("routine-update").unwrap();
    let mut p = Record::default();
    let ex = scenario::exhaustive_with(&s, None, 5, &mut p);
    assert!(ex.violations.is_empty());
    assert_eq!(p.updates.last(), Some(&(ex.boots, 0)));
    assert!(p.updates.len() as u64 <= ex.boots / scenario::EXPLORE_PROGRESS_EVERY + 1);
    assert!(p.updates.len() > 2, "{:?}", p.updates);
    // The plain API explores the same.
    assert_eq!(scenario::exhaustive(&s, None, 5).boots, ex.boots);
}

/// Every violation the explorer reports replays: the recorded mutation,
/// MaxTrialBoots and trace give a boot at the same step with the same
/// invariant violated.
#[test]
fn explorer_violations_replay_from_what_they_record() {
    for (m, name) in [
        (Mutation::NoQuarantine, "poison-update"),
        (Mutation::ActivateBeforePersist, "poison-update"),
        (Mutation::EvictQuarantine, "twenty-crashing-versions"),
    ] {
        let s = scenario::by_name(name).unwrap();
        let ex = scenario::exhaustive(&s, Some(m), 10);
        assert!(!ex.violations.is_empty(), "{name}: not caught");
        for v in &ex.violations {
            assert_eq!(v.mutation, Some(m));
            let args = v.replay_args();
            assert!(
                args.windows(2)
                    .any(|w| w[0] == "--mutation" && w[1] == changuard_sim::mutation_name(m)),
                "{args:?}"
            );
            assert_eq!(
                args.iter().any(|a| a == "--crash-trace"),
                !v.trace.is_empty(),
                "{args:?}"
            );
            let (step, what) = v
                .message
                .strip_prefix("boot at step ")
                .and_then(|r| r.split_once(": "))
                .unwrap();
            let step: usize = step.parse().unwrap();
            let boots = scenario::replay_boots(&s, v.mutation, v.max_trial_boots, &v.trace);
            assert!(
                boots
                    .iter()
                    .any(|b| b.step == step && b.report.violations.iter().any(|x| x == what)),
                "{}: does not replay",
                v
            );
        }
    }
}

#[test]
fn timelines_number_boots_from_one_without_type_names() {
    let s = scenario::by_name("promotion-io-failure").unwrap();
    let boots = scenario::replay_boots(&s, None, 1, &[]);
    assert_eq!(
        boots[1].step_name,
        "boot-promotion-fails-then-power-cut fail-rename-always"
    );
    assert_eq!(timeline::end_name(&boots[1].report.end), "power-cut");
    let s = scenario::by_name("power-loss-during-promotion").unwrap();
    let boots = scenario::replay_boots(&s, None, 1, &[]);
    let lost = boots
        .iter()
        .find(|b| matches!(b.report.end, BootEnd::PowerLoss(_)))
        .unwrap();
    assert_eq!(lost.step_name, "boot-power-loss-after lkg-flush-temp");
    assert!(
        timeline::line(2, &lost.report).contains("POWER LOSS after lkg-flush-temp"),
        "{}",
        timeline::line(2, &lost.report)
    );

    let r = random::campaign(11, 5_000, Some(Mutation::NoQuarantine), true, |_| {});
    assert!(r.timeline[0].starts_with("boot   1:"), "{}", r.timeline[0]);
    let entries = random::replay_entries(&r.trace, Some(Mutation::NoQuarantine));
    let mut next = 1;
    for e in &entries {
        match e {
            random::Entry::Action { boot, action } => {
                assert_eq!(*boot, next);
                assert!(!action.kind().is_empty());
            }
            random::Entry::Boot { boot, .. } => {
                assert_eq!(*boot, next);
                next += 1;
            }
        }
        let text = e.text();
        assert!(
            !text.contains("Deliver") && !text.contains("Boot {") && !text.contains("Some("),
            "{text}"
        );
    }
    assert!(next > 1);
}
