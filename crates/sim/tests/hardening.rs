//! Issue 11, "Loader protocol hardening": one test per finding the loader
//! owns, each failing on the loader before the fix. The scenarios named here
//! are also explored exhaustively (tests/exhaustive.rs) and, where a Windows
//! VM can reproduce them, cases of scripts/bootloop-matrix.json.

use changuard_loader::{Reason, Source};
use changuard_sim::content::{self, Kind};
use changuard_sim::machine::{BootPlan, BootReport, ChannelView, FailOp, Machine, Op};
use changuard_sim::scenario;

const CH: u32 = 291;

fn view(r: &BootReport, c: u32) -> ChannelView {
    r.channels
        .iter()
        .find(|v| v.channel == c)
        .cloned()
        .unwrap_or_else(|| panic!("channel {c} missing: {:?}", r.channels))
}

fn boot(m: &mut Machine, plan: BootPlan) -> BootReport {
    let r = m.boot(plan, None, None);
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    r
}

/// v6 delivered and promoted (the matrix baseline).
fn baseline() -> Machine {
    let mut m = Machine::new(None);
    m.deliver(CH, 6, Kind::Good);
    let r = boot(&mut m, BootPlan::default());
    assert!(view(&r, CH).promoted);
    m
}

fn has(r: &BootReport, reason: Reason, version: u64) -> bool {
    r.decisions
        .iter()
        .any(|d| d.channel == CH && d.reason == reason && d.version == version)
}

fn run_clean(name: &str) -> scenario::Run {
    let s = scenario::by_name(name).unwrap();
    let run = scenario::run(&s, None);
    assert!(run.violations.is_empty(), "{name}: {:?}", run.violations);
    run
}

// ---- finding 1: a clean reboot or a reload is not a crash ----

#[test]
fn clean_reboot_during_trial_keeps_the_version_on_trial() {
    let run = run_clean("clean-reboot-during-trial");
    // Boot 2 (v7 on trial) rebooted cleanly; boot 3 continues the same attempt.
    let (_, _, third) = &run.boots[2];
    assert!(
        third
            .decisions
            .iter()
            .any(|d| d.version == 7 && d.reason == Reason::TrialContinued),
        "{:?}",
        third.decisions
    );
    assert_eq!(Reason::TrialContinued.code(), 218);
    let v = run.final_view.unwrap();
    assert_eq!(
        (v.source, v.active_version, v.lkg_version),
        (Source::Candidate, Some(7), Some(7))
    );
    assert!(v.quarantined.is_empty(), "{v:?}");
}

#[test]
fn many_clean_reboots_never_quarantine() {
    let mut m = baseline();
    m.deliver(CH, 7, Kind::Good);
    for _ in 0..5 {
        let r = boot(
            &mut m,
            BootPlan {
                reboot_early: true,
                ..BootPlan::default()
            },
        );
        let v = view(&r, CH);
        assert_eq!(
            (v.active_version, v.trial_attempt),
            (Some(7), Some(1)),
            "{v:?}"
        );
        assert!(r.clean_shutdown);
    }
    let r = boot(&mut m, BootPlan::default());
    assert!(view(&r, CH).promoted);
}

#[test]
fn crash_during_trial_still_quarantines_at_max_trial_boots() {
    let run = run_clean("crash-during-trial");
    let v = run.final_view.unwrap();
    assert_eq!(
        (v.source, v.active_version, v.quarantined.clone()),
        (Source::Lkg, Some(6), vec![7])
    );
    // A poison crash too (and with MaxTrialBoots = 2, only at the second).
    let run = run_clean("poison-update");
    assert_eq!(run.final_view.unwrap().quarantined, vec![7]);
    assert_eq!(run.case_crashes, 1);
}

#[test]
fn reload_during_trial_keeps_the_trial() {
    let run = run_clean("reload-during-trial");
    let (_, _, r) = &run.boots[1];
    assert!(r.reloaded);
    assert!(
        r.decisions
            .iter()
            .any(|d| d.version == 7 && d.reason == Reason::TrialContinued)
    );
    assert!(!r.decisions.iter().any(|d| d.reason == Reason::Quarantined));
    let v = run.final_view.unwrap();
    assert_eq!((v.active_version, v.lkg_version), (Some(7), Some(7)));
    assert!(v.quarantined.is_empty());
}

#[test]
fn reload_of_faulted_trial_content_counts_like_a_crash() {
    let mut m = baseline();
    m.deliver(CH, 7, Kind::Good);
    m.faulting.insert((CH, 7));
    let r = boot(
        &mut m,
        BootPlan {
            reload: true,
            ..BootPlan::default()
        },
    );
    assert!(
        r.decisions
            .iter()
            .any(|d| d.version == 7 && d.reason == Reason::Quarantined)
    );
    assert_eq!(view(&r, CH).active_version, Some(6));
}

// ---- finding 2 (loader side): a promotion I/O failure is not a crash ----

#[test]
fn promotion_io_failure_is_not_a_crash() {
    let run = run_clean("promotion-io-failure");
    let (_, _, r) = &run.boots[1];
    assert!(r.io_failures >= 1);
    assert!(
        r.decisions
            .iter()
            .any(|d| d.reason == Reason::PromotionFailed)
    );
    let v = run.final_view.unwrap();
    assert_eq!((v.active_version, v.lkg_version), (Some(7), Some(7)));
    assert!(v.quarantined.is_empty());
}

#[test]
fn a_transient_promotion_failure_is_retried_in_the_same_boot() {
    let mut m = baseline();
    m.deliver(CH, 7, Kind::Good);
    let fail = FailOp {
        op: Op::LkgRename,
        persistent: false,
    };
    let r = boot(
        &mut m,
        BootPlan {
            fail: Some(fail),
            ..BootPlan::default()
        },
    );
    assert_eq!(r.io_failures, 1);
    assert!(view(&r, CH).promoted, "{:?}", r.decisions);
}

// ---- finding 3: one bad file never freezes a channel ----

#[test]
fn junk_highest_version_does_not_freeze_the_channel() {
    let run = run_clean("junk-highest-version");
    let v = run.final_view.unwrap();
    assert_eq!(
        (v.source, v.active_version, v.lkg_version),
        (Source::Candidate, Some(7), Some(7))
    );

    // The next boot reads the junk, recognises it and does not validate it again.
    let mut m = run.machine;
    let r = boot(&mut m, BootPlan::default());
    assert!(
        has(&r, Reason::CandidateKnownRejected, u64::MAX),
        "{:?}",
        r.decisions
    );
    assert!(
        !r.decisions
            .iter()
            .any(|d| matches!(d.reason, Reason::CandidateRejected(_)))
    );
    assert_eq!(view(&r, CH).active_version, Some(7));

    // A new file under the same name is a new file: validated afresh (and it is
    // valid: an unusual version, but signed and matching its name).
    m.deliver(CH, u64::MAX, Kind::Good);
    let r = boot(&mut m, BootPlan::default());
    assert_eq!(view(&r, CH).active_version, Some(u64::MAX));
}

#[test]
fn several_bad_files_above_a_good_one() {
    let mut m = baseline();
    m.deliver(CH, 7, Kind::Good);
    for (v, k) in [
        (8, Kind::Truncated),
        (9, Kind::BadSig),
        (10, Kind::WrongSchema),
        (11, Kind::July19),
    ] {
        m.deliver(CH, v, k);
    }
    let r = boot(&mut m, BootPlan::default());
    let v = view(&r, CH);
    assert_eq!(
        (v.active_version, v.promoted),
        (Some(7), true),
        "{:?}",
        r.decisions
    );
}

#[test]
fn junk_names_listing_first_do_not_truncate_the_listing() {
    let mut m = baseline();
    // More junk names than the old 4096-entry cap, all listing before "C-".
    for i in 0..5_000 {
        let n = format!("content/A-junk-{i:05}.tmp");
        m.disk.write(&n, b"");
        m.disk.flush(&n);
    }
    m.disk.sync();
    m.deliver(CH, 7, Kind::Good);
    let r = boot(&mut m, BootPlan::default());
    assert!(
        !r.decisions
            .iter()
            .any(|d| d.reason == Reason::ListingTruncated)
    );
    let v = view(&r, CH);
    assert_eq!((v.active_version, v.promoted), (Some(7), true));
}

#[test]
fn fake_channels_do_not_crowd_out_a_real_one() {
    let mut m = baseline();
    // 16 channels named only by junk files (as many as the state record holds).
    for c in 1..=16u32 {
        let n = format!(
            "content/{}",
            changuard_loader::names::FileName::new(c, 1).as_str()
        );
        m.disk.write(&n, b"not a channel file");
        m.disk.flush(&n);
    }
    m.disk.sync();
    m.deliver(300, 1, Kind::Good);
    let r = boot(&mut m, BootPlan::default());
    assert!(
        !r.decisions
            .iter()
            .any(|d| d.reason == Reason::TooManyChannels),
        "{:?}",
        r.decisions
    );
    let real = view(&r, 300);
    assert_eq!(
        (real.source, real.active_version, real.promoted),
        (Source::Candidate, Some(1), true)
    );
    // The junk channels never entered the state record.
    let st = changuard_loader::state::State::decode(&m.disk.read("state/0").unwrap())
        .into_iter()
        .chain(
            m.disk
                .read("state/1")
                .and_then(|b| changuard_loader::state::State::decode(&b)),
        )
        .max_by_key(|s| s.generation)
        .unwrap();
    let ids: Vec<u32> = st.channels().iter().map(|c| c.channel).collect();
    assert_eq!(ids, vec![CH, 300]);
}

// ---- finding 4: no quarantine is ever evicted ----

#[test]
fn twenty_crashing_versions_never_come_back() {
    let run = run_clean("twenty-crashing-versions");
    assert!(
        run.machine.model.crashes.values().all(|&n| n <= 1),
        "{:?}",
        run.machine.model.crashes
    );
    let v = run.final_view.unwrap();
    assert_eq!((v.source, v.active_version), (Source::Lkg, Some(6)));
    assert_eq!(v.quarantined, (19..=26).collect::<Vec<u64>>());
    assert_eq!(v.quarantine_floor, 18);
    // And they stay out, boot after boot.
    let mut m = run.machine;
    for _ in 0..3 {
        let r = boot(&mut m, BootPlan::default());
        assert!(r.end == changuard_sim::machine::BootEnd::Healthy);
        assert_eq!(view(&r, CH).active_version, Some(6));
    }
}

// ---- finding 5: the LKG store never downgrades ----

#[test]
fn lkg_copy_must_be_the_recorded_version() {
    let mut m = baseline();
    // A valid, signed, older file copied over the LKG copy.
    // No candidate to hide the downgrade behind a promotion in the same boot.
    m.disk.delete("content/C-00000291-00000006.chan");
    let b = content::bytes(CH, 5, Kind::Good);
    m.disk.write("lkg/291.lkg", &b);
    m.disk.flush("lkg/291.lkg");
    m.model.lkg_tampered.insert(CH);
    let r = boot(&mut m, BootPlan::default());
    assert!(has(&r, Reason::LkgNotRecorded, 5), "{:?}", r.decisions);
    assert_eq!(Reason::LkgNotRecorded.code(), 306);
    let v = view(&r, CH);
    assert_ne!(v.lkg_version, Some(5));
    assert_ne!(v.active_version, Some(5));
    assert_eq!(v.floor, 6);
}

#[test]
fn a_leftover_temp_never_downgrades() {
    let mut m = baseline();
    m.disk.delete("content/C-00000291-00000006.chan");
    let b = content::bytes(CH, 5, Kind::Good);
    m.disk.write("lkg/291.tmp", &b);
    m.disk.flush("lkg/291.tmp");
    m.disk.sync();
    m.corrupt_lkg(CH);
    let r = boot(&mut m, BootPlan::default());
    assert!(has(&r, Reason::LkgNotRecorded, 5), "{:?}", r.decisions);
    assert!(!has(&r, Reason::LkgRecoveredFromTemp, 5));
    // Not renamed over the LKG copy.
    assert_eq!(m.disk.read("lkg/291.tmp").as_deref(), Some(&b[..]));
    let v = view(&r, CH);
    assert_ne!(v.lkg_version, Some(5));
    assert_ne!(v.active_version, Some(5));
}

// ---- finding 9: one memory budget for content plus engine memory ----

#[test]
fn memory_budget_sixteen_maximal_channels_fall_back_channel_by_channel() {
    use changuard_loader::budget::charge;
    use changuard_loader::config::DEFAULT_MEMORY_BUDGET_MIB;
    let run = run_clean(scenario::MEMORY_BUDGET_SCENARIO);
    let (_, _, first) = &run.boots[0];
    let limit = u64::from(DEFAULT_MEMORY_BUDGET_MIB) << 20;
    let max = changuard_format::limits::MAX_FILE_LEN;
    let len = content::bytes(1, 1, Kind::Maximal).len();
    assert!(len <= max && len > max - max / 100, "not maximal: {len}");
    // Default budget: three fit (3 x 144.5 MiB), the other 13 fall back.
    let fits = usize::try_from(limit / charge(len)).unwrap();
    assert_eq!(fits, 3);
    assert_eq!(first.channels.len(), 16, "{:?}", first.channels);
    for v in &first.channels {
        if (v.channel as usize) <= fits {
            assert_eq!((v.source, v.active_version), (Source::Candidate, Some(1)));
            assert!(v.promoted, "on trial, then promoted: {v:?}");
        } else {
            assert_eq!((v.source, v.active_version), (Source::None, None), "{v:?}");
            assert_eq!(v.last_problem, Some("over-memory-budget"), "{v:?}");
            assert!(first.decisions.iter().any(|d| d.channel == v.channel
                && d.version == 1
                && d.reason == Reason::OverMemoryBudget));
        }
    }
    assert_eq!(Reason::OverMemoryBudget.code(), 405);
    // Within the budget at every boot, and exactly the admitted channels' charge.
    for (_, label, r) in &run.boots {
        assert_eq!(r.memory.1, limit, "{label}");
        assert!(r.memory.0 <= r.memory.1, "{label}: {:?}", r.memory);
    }
    assert_eq!(first.memory.0, 3 * charge(len));
    // Nothing over budget got a trial record, so nothing is quarantined later.
    let last = &run.boots.last().unwrap().2;
    assert!(last.channels.iter().all(|v| v.quarantined.is_empty()));
}

#[test]
fn memory_budget_is_registry_tunable_and_capped() {
    use changuard_loader::budget::charge;
    let len = content::bytes(1, 1, Kind::Maximal).len();
    let run_with = |mib: u32| {
        let mut m = Machine::new(None);
        m.set_dword("MemoryBudgetMiB", mib);
        for c in 1..=4 {
            m.deliver(c, 1, Kind::Maximal);
        }
        boot(&mut m, BootPlan::default())
    };
    // 1024 MiB: all four fit.
    let r = run_with(1024);
    assert_eq!(r.memory, (4 * charge(len), 1024 << 20));
    assert!(r.channels.iter().all(|v| v.source == Source::Candidate));
    // Above the hard cap: the default (512) is used, with reason 107.
    let r = run_with(4096);
    assert_eq!(r.memory.1, 512 << 20);
    assert!(r.decisions.iter().any(|d| d.reason.code() == 107));
    assert_eq!(
        r.channels
            .iter()
            .filter(|v| v.source == Source::Candidate)
            .count(),
        3
    );
}

#[test]
fn over_budget_candidate_falls_back_to_a_smaller_lkg() {
    // Channel 291 has a promoted small v6; a maximal v7 arrives with a budget
    // too small for it (64 MiB < 144.5 MiB): v7 is refused (405), the LKG runs.
    let mut m = baseline();
    m.set_dword("MemoryBudgetMiB", 64);
    m.deliver(CH, 7, Kind::Maximal);
    let r = boot(&mut m, BootPlan::default());
    let v = view(&r, CH);
    assert_eq!(
        (v.source, v.active_version),
        (Source::Lkg, Some(6)),
        "{v:?}"
    );
    assert!(has(&r, Reason::OverMemoryBudget, 7));
    assert!(has(&r, Reason::LkgActivated, 6));
    assert!(r.memory.0 <= r.memory.1);
}
