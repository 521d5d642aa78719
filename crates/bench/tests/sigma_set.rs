//! The SigmaHQ benchmark set (benches/sigma.rs) builds and validates, and the
//! engine and the reference evaluator agree on every captured and generated
//! event: a differential check on real content, so the benchmark's timings
//! compare the same answers. Skipped when `../shared/sigma` is absent.

use changuard_bench::{build_all, key, sigma, validate_all};
use changuard_interp::reference::Reference;
use changuard_interp::{Engine, Verdict};

#[test]
fn sigma_set_builds_validates_and_engine_agrees_with_reference() {
    let Some(set) = sigma::load().expect("SigmaHQ set") else {
        println!("SKIPPED: ../shared/sigma absent");
        return;
    };
    assert!(set.rules_imported > 0, "nothing imported");
    assert!(!set.captured.is_empty(), "no captured events");
    let bufs = build_all(&set.specs);
    let chans = validate_all(&bufs, &set.specs, &key().trusted_key());
    let engine = Engine::new(&chans).expect("engine");
    let reference = Reference::new(&chans).expect("reference");
    let (mut v, mut rv) = (Verdict::new(), Verdict::new());
    let mut matched = 0;
    for e in set.captured.iter().chain(&set.generated) {
        engine.evaluate(&e.event(), &mut v);
        reference.evaluate(&e.event(), &mut rv);
        assert_eq!(v.matches(), rv.matches(), "{:?}", e.strs);
        assert_eq!((v.faults, rv.faults), (0, 0), "{:?}", e.strs);
        assert!(!v.fuel_exhausted, "{:?}", e.strs);
        matched += usize::from(!v.matches().is_empty());
    }
    assert!(matched > 0, "no event matched anything");
    println!(
        "{} rules imported into {} channels, {} instances; {} captured + {} generated events agree, {matched} match",
        set.rules_imported,
        set.specs.len(),
        set.instance_count(),
        set.captured.len(),
        set.generated.len()
    );
}
