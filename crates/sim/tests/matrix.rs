//! The boot-loop matrix shared with the Windows VM kit: every case's
//! `sim_scenario` run in the simulator must end in exactly its `expect`.

use std::path::PathBuf;

use changuard_sim::scenario;
use serde_json::Value;

fn matrix() -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bootloop-matrix.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).expect("matrix is JSON")
}

#[test]
fn every_matrix_case_matches_the_simulator() {
    let m = matrix();
    assert_eq!(m["channel"].as_u64(), Some(u64::from(scenario::CHANNEL)));
    let cases = m["cases"].as_array().expect("cases");
    assert!(!cases.is_empty());
    let mut failures = vec![];
    for case in cases {
        let name = case["sim_scenario"].as_str().expect("sim_scenario");
        let s = scenario::by_name(name).unwrap_or_else(|| panic!("no simulator scenario {name}"));
        let run = scenario::run(&s, None);
        assert!(run.violations.is_empty(), "{name}: {:?}", run.violations);
        let v = run.final_view.clone().expect("channel 291 present");
        let e = &case["expect"];
        // What `changuard driver status` lists: the newest 4, ascending here.
        let mut got_q: Vec<u64> = v.quarantined.iter().rev().take(4).copied().collect();
        got_q.sort_unstable();
        let want_q: Vec<u64> = e["quarantined"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        let ok = e["active_version"].as_u64() == v.active_version
            && e["active_source"].as_str() == Some(v.source.name())
            && e["lkg_version"].as_u64() == v.lkg_version
            && got_q == want_q
            && run.case_crashes <= e["max_crashes"].as_u64().unwrap();
        if !ok {
            failures.push(format!(
                "{name}: got active {:?} {} lkg {:?} quarantined {:?} crashes {}; expected {e}",
                v.active_version,
                v.source.name(),
                v.lkg_version,
                got_q,
                run.case_crashes
            ));
        }
        // A poison case must actually crash as often as it allows (the poison really runs).
        if case["apply"]
            .as_str()
            .is_some_and(|a| a.starts_with("poison"))
        {
            assert_eq!(
                Some(run.case_crashes),
                e["max_crashes"].as_u64(),
                "{name}: poison did not crash the simulated machine as expected"
            );
        }
        // What the Windows kit checks among the driver's recent decisions
        // (and the System event log) must be what the loader decided here.
        for want in case["observe"].as_array().into_iter().flatten() {
            let want = want.as_str().expect("observe: reason names");
            let seen = run
                .boots
                .iter()
                .any(|(_, _, r)| r.decisions.iter().any(|d| d.reason.name() == want));
            if !seen {
                failures.push(format!("{name}: no `{want}` decision in the simulator run"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
