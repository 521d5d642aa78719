//! Every benchmark content set fits the cost ceilings (issue 12: "all example
//! and benchmark content fits"): each file is accepted by the validator (which
//! checks `TEMPLATE_CEILING`) and the per-template sum over the whole set, what
//! the loader charges when all of it is active, is within `SET_CEILING`. The
//! figures printed here are the ones in docs/PERFORMANCE.md, "Cost ceiling".

use changuard_bench::{
    build_all, key, mixed_specs, regex_only_command_line_packed_specs,
    regex_only_command_line_specs, regex_only_family_packed_specs, regex_only_family_specs,
    regex_only_specs, validate_all,
};
use changuard_format::CostBound;
use changuard_format::build::ChannelSpec;
use changuard_format::cost::{SET_CEILING, TEMPLATE_CEILING};

fn set_bound(specs: &[ChannelSpec]) -> (CostBound, u64) {
    let bufs = build_all(specs);
    let chans = validate_all(&bufs, specs, &key().trusted_key());
    let per_file = chans
        .iter()
        .map(|c| c.cost_bound().max())
        .max()
        .unwrap_or(0);
    let sum = chans
        .iter()
        .fold(CostBound::default(), |acc, c| acc.plus(&c.cost_bound()));
    (sum, per_file)
}

fn check(name: &str, specs: &[ChannelSpec]) {
    let (sum, per_file) = set_bound(specs);
    println!(
        "{name:<28} {:>3} files  largest file {per_file:>10}  set {:?}",
        specs.len(),
        sum.fuel
    );
    assert!(per_file <= TEMPLATE_CEILING, "{name}: {per_file}");
    assert!(
        sum.within(SET_CEILING),
        "{name}: the set's bound {:?} is over {SET_CEILING}",
        sum.fuel
    );
}

#[test]
fn every_benchmark_set_fits_the_ceilings() {
    for n in [100, 1_000, 10_000] {
        check(&format!("mixed {n}"), &mixed_specs(n, true));
        check(&format!("literal {n}"), &mixed_specs(n, false));
    }
    for n in [100, 1_000, 3_000] {
        check(&format!("regex-only pipe {n}"), &regex_only_specs(n).0);
        check(
            &format!("regex-only pipe families {n}"),
            &regex_only_family_specs(n).0,
        );
        check(
            &format!("regex-only command line {n}"),
            &regex_only_command_line_specs(n).0,
        );
        check(
            &format!("pipe families packed {n}"),
            &regex_only_family_packed_specs(n).0,
        );
        check(
            &format!("command line packed {n}"),
            &regex_only_command_line_packed_specs(n).0,
        );
    }
}

/// The load-time analysis budget grows with the content (a base plus 16 steps
/// per DFA byte): the largest regex benchmark sets skip no analysis. With the
/// flat 2^26 of before, the 3,000-pattern pipe set skipped 3,864 analyses and
/// left 1,936 patterns on the always list (27 ms per 64 events instead of
/// about 22 µs).
#[test]
fn the_largest_regex_sets_skip_no_load_time_analysis() {
    use changuard_interp::Engine;
    for (name, specs) in [
        ("pipe 3000", regex_only_specs(3_000).0),
        ("pipe families 3000", regex_only_family_specs(3_000).0),
        ("mixed 10000", mixed_specs(10_000, true)),
    ] {
        let bufs = build_all(&specs);
        let chans = validate_all(&bufs, &specs, &key().trusted_key());
        let engine = Engine::new(&chans).expect("engine");
        let st = engine.stats();
        assert_eq!(st.proofs_skipped, 0, "{name}: {st:?}");
        // Every DFA of its own gets its byte-class prefilter; a regex group's
        // DFA (counted once per member) may have no class all its patterns
        // need.
        assert!(
            st.dfas_prefiltered >= st.dfas - st.dfas_grouped,
            "{name}: {st:?}"
        );
    }
}
