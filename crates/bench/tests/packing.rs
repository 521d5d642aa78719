//! Content laid out by `pack_by_family` gives every event the same matches
//! as the same content cut into files in authored order, with fewer regex
//! scans (docs/PERFORMANCE.md, "Content packed by family").

use changuard_bench::{
    OwnedEvent, build_all, cmdline_events, family_pipe_events, key,
    regex_only_command_line_packed_specs, regex_only_command_line_specs,
    regex_only_family_packed_specs, regex_only_family_specs, validate_all,
};
use changuard_format::build::ChannelSpec;
use changuard_interp::{Engine, Verdict};

/// Per event: the matching instance ids (sorted), or `None` where the
/// verdict was truncated (which matches it keeps depends on channel ids);
/// and the DFA scans over all events.
fn run(specs: &[ChannelSpec], evs: &[OwnedEvent]) -> (Vec<Option<Vec<u32>>>, u64) {
    let bufs = build_all(specs);
    let chans = validate_all(&bufs, specs, &key().trusted_key());
    let engine = Engine::new(&chans).expect("engine");
    let mut v = Verdict::new();
    let mut scans = 0u64;
    let matches = evs
        .iter()
        .map(|e| {
            engine.evaluate(&e.event(), &mut v);
            assert!(!v.fuel_exhausted && v.faults == 0);
            scans += u64::from(v.dfa_scans);
            let mut ids: Vec<u32> = v.matches().iter().map(|m| m.instance).collect();
            ids.sort_unstable();
            (!v.truncated).then_some(ids)
        })
        .collect();
    (matches, scans)
}

fn same_matches_fewer_scans(
    name: &str,
    authored: &[ChannelSpec],
    packed: &[ChannelSpec],
    evs: &[OwnedEvent],
) {
    let (a, a_scans) = run(authored, evs);
    let (p, p_scans) = run(packed, evs);
    let mut compared = 0;
    for (k, (a, p)) in a.iter().zip(&p).enumerate() {
        if let (Some(a), Some(p)) = (a, p) {
            assert_eq!(a, p, "{name}: event {k}");
            compared += 1;
        }
    }
    let matched = a.iter().flatten().filter(|m| !m.is_empty()).count();
    println!(
        "{name}: {} and {} files, {compared} events compared ({matched} with matches), {a_scans} vs {p_scans} scans",
        authored.len(),
        packed.len()
    );
    assert!(compared >= evs.len() / 2 && matched > 0, "{name}");
    assert!(
        p_scans < a_scans,
        "{name}: {p_scans} scans packed, {a_scans} authored"
    );
}

#[test]
fn packing_by_family_keeps_every_match_and_saves_scans() {
    let n = 1_000;
    same_matches_fewer_scans(
        "pipe families",
        &regex_only_family_specs(n).0,
        &regex_only_family_packed_specs(n).0,
        &family_pipe_events(64),
    );
    let n = 200;
    same_matches_fewer_scans(
        "command lines",
        &regex_only_command_line_specs(n).0,
        &regex_only_command_line_packed_specs(n).0,
        &cmdline_events(64),
    );
}
