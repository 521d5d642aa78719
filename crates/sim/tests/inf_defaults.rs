//! The INF's `Parameters` defaults are inputs of the loader: install them into a
//! simulated machine's registry and boot the real loader. Any value the loader
//! does not accept (a `Reason::Config` decision, codes 101-106) would make every
//! freshly installed machine run on built-in defaults, so it fails here. This
//! caught `Policy = "newest"` (the loader takes Latest, NMinus1 or Pinned).

use changuard_loader::Reason;
use changuard_sim::machine::{BootPlan, Machine};

/// `HKR,Parameters,<Name>,<flags>,<value>` lines of `[Changuard_Parameters]`.
fn inf_parameters() -> Vec<(String, u32, String)> {
    let inx = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../inf/changuard.inx"
    ))
    .expect("inf/changuard.inx");
    let mut in_section = false;
    let mut out = vec![];
    for line in inx.lines() {
        let line = line.split(';').next().unwrap_or("").trim();
        if line.starts_with('[') {
            in_section = line == "[Changuard_Parameters]";
            continue;
        }
        if !in_section || line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.splitn(5, ',').map(str::trim).collect();
        assert_eq!(f.len(), 5, "AddReg line with 5 fields: {line}");
        assert_eq!((f[0], f[1]), ("HKR", "Parameters"), "{line}");
        let flags = u32::from_str_radix(f[3].trim_start_matches("0x"), 16).expect("hex flags");
        out.push((f[2].to_owned(), flags, f[4].trim_matches('"').to_owned()));
    }
    out
}

#[test]
fn every_inf_default_is_accepted_by_the_loader() {
    let params = inf_parameters();
    let names: Vec<&str> = params.iter().map(|p| p.0.as_str()).collect();
    for expected in [
        "ContentDirectory",
        "Policy",
        "MaxTrialBoots",
        "HealthWindowSeconds",
    ] {
        assert!(
            names.contains(&expected),
            "the INF sets {expected}: {names:?}"
        );
    }
    let mut m = Machine::new(None);
    for (name, flags, value) in &params {
        match flags {
            0x0000_0000 => m.set_sz(name, value), // FLG_ADDREG_TYPE_SZ
            0x0001_0001 => m.set_dword(name, value.parse().expect("decimal DWORD")), // FLG_ADDREG_TYPE_DWORD
            other => panic!("{name}: AddReg flags {other:#x} not modeled"),
        }
    }
    let r = m.boot(BootPlan::default(), None, None);
    let config: Vec<_> = r
        .decisions
        .iter()
        .filter(|d| matches!(d.reason, Reason::Config(..)))
        .collect();
    assert!(
        config.is_empty(),
        "the loader refused INF defaults: {config:?}"
    );
}

#[test]
fn a_value_the_loader_refuses_is_caught() {
    // The check itself can fail: the old INF value.
    let mut m = Machine::new(None);
    m.set_sz("Policy", "newest");
    let r = m.boot(BootPlan::default(), None, None);
    assert!(
        r.decisions.iter().any(|d| d.reason.code() == 102),
        "{:?}",
        r.decisions
    );
}
