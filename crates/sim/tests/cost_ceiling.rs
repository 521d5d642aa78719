//! Issue 12, the loader's side of the cost ceilings: content whose proven
//! per-event bound is over the per-file ceiling is rejected (rule
//! `cost-ceiling`, with its figures) and the channel falls back; channels
//! whose bounds together exceed the active set's ceiling step down one by one
//! (reason 406), and nothing over a ceiling is ever quarantined.

use changuard_format::cost::{SET_CEILING, TEMPLATE_CEILING};
use changuard_format::{Rule, Trust, validate};
use changuard_loader::{Reason, Source};
use changuard_sim::content::{self, Kind};
use changuard_sim::machine::{BootPlan, BootReport, Machine};

fn boot(m: &mut Machine) -> BootReport {
    let r = m.boot(BootPlan::default(), None, None);
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    r
}

fn bound(channel: u32, kind: Kind) -> u64 {
    let b = content::bytes(channel, 1, kind);
    let buf = changuard_format::AlignedBytes::from_slice(&b);
    let v = validate(buf.as_ref(), &Trust::new(content::trusted()), channel).unwrap();
    v.cost_bound().max()
}

#[test]
fn content_over_the_file_ceiling_is_rejected_and_the_lkg_runs() {
    let mut m = Machine::new(None);
    m.deliver(291, 6, Kind::Good);
    boot(&mut m);
    m.deliver(291, 7, Kind::OverCeiling);
    let b = content::bytes(291, 7, Kind::OverCeiling);
    let buf = changuard_format::AlignedBytes::from_slice(&b);
    let r = validate(buf.as_ref(), &Trust::new(content::trusted()), 291).unwrap_err();
    assert_eq!(r.rule, Rule::CostCeiling, "{r}");
    assert_eq!(r.expected, TEMPLATE_CEILING);
    assert!(r.found > TEMPLATE_CEILING, "{r}");
    let rep = boot(&mut m);
    let v = rep.channels.iter().find(|v| v.channel == 291).unwrap();
    assert_eq!(
        (v.source, v.active_version),
        (Source::Lkg, Some(6)),
        "{v:?}"
    );
    assert!(
        rep.decisions.iter().any(|d| d.version == 7
            && matches!(d.reason, Reason::CandidateRejected(rj) if rj.rule == Rule::CostCeiling)),
        "{:?}",
        rep.decisions
    );
    assert!(v.quarantined.is_empty(), "a rejection is not a quarantine");
}

#[test]
fn channels_over_the_set_ceiling_step_down_one_by_one() {
    let each = bound(1, Kind::Costly);
    let fits = SET_CEILING / each;
    assert!(
        (3..6).contains(&fits),
        "the fixture is sized so a few fit: {each} each"
    );
    let mut m = Machine::new(None);
    for c in 1..=6 {
        m.deliver(c, 1, Kind::Costly);
    }
    let r = boot(&mut m);
    for v in &r.channels {
        if u64::from(v.channel) <= fits {
            assert_eq!(
                (v.source, v.active_version),
                (Source::Candidate, Some(1)),
                "{v:?}"
            );
        } else {
            assert_eq!((v.source, v.active_version), (Source::None, None), "{v:?}");
            assert_eq!(v.last_problem, Some("over-cost-ceiling"), "{v:?}");
            assert!(r.decisions.iter().any(|d| d.channel == v.channel
                && d.version == 1
                && d.reason == Reason::OverCostCeiling));
        }
    }
    assert_eq!(Reason::OverCostCeiling.code(), 406);
    // Stepping down for cost is not a failed trial: later boots quarantine nothing.
    let r = boot(&mut m);
    let r = if r.channels.iter().any(|v| v.trial_attempt.is_some()) {
        boot(&mut m)
    } else {
        r
    };
    assert!(
        r.channels.iter().all(|v| v.quarantined.is_empty()),
        "{:?}",
        r.channels
    );
}

/// `LatencyBudgetUs` (issue 12 item 4): 0 turns it off, 100..=1,000,000 µs is
/// taken as given, anything else falls back to the default with reason 108;
/// the driver compares each event's fuel with the budget at 250 fuel per µs.
#[test]
fn latency_budget_is_registry_tunable_with_a_reason_when_out_of_range() {
    use changuard_loader::config::{Config, DEFAULT_LATENCY_BUDGET_US};
    let reasons = |v: u32| {
        let mut m = Machine::new(None);
        m.set_dword("LatencyBudgetUs", v);
        m.deliver(291, 1, Kind::Good);
        boot(&mut m)
            .decisions
            .iter()
            .filter(|d| d.reason.code() == 108)
            .count()
    };
    assert_eq!(reasons(0), 0);
    assert_eq!(reasons(100), 0);
    assert_eq!(reasons(1_000_000), 0);
    assert_eq!(reasons(99), 1);
    assert_eq!(reasons(1_000_001), 1);
    let off = Config {
        latency_budget_us: 0,
        ..Config::default()
    };
    assert_eq!(off.latency_budget_fuel(), None);
    let tight = Config {
        latency_budget_us: 100,
        ..Config::default()
    };
    assert_eq!(tight.latency_budget_fuel(), Some(25_000));
    assert_eq!(
        Config::default().latency_budget_fuel(),
        Some(u64::from(DEFAULT_LATENCY_BUDGET_US) * 250)
    );
}
