//! `changuard import sigma` over the SigmaHQ process-creation rules in
//! `../shared/sigma` (test data, absent on users' clones: then skipped).
//! Prints the outcome buckets; the spec must build and validate, and every
//! imported rule's instances must be in it.

use changuard_cli::import::{self, report};
use changuard_cli::{keys, spec};
use changuard_format::build::{self, SigningKey};
use changuard_format::{AlignedBytes, Trust};
use std::path::{Path, PathBuf};
use std::process::Command;

fn sigma_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/sigma/rules/windows/process_creation")
}

#[test]
fn sigmahq_process_creation_rules_import_and_build() {
    let dir = sigma_dir();
    if !dir.is_dir() {
        println!("SKIPPED: ../shared/sigma absent");
        return;
    }
    let files = import::collect_files(&[dir]).expect("list rules");
    assert!(files.len() > 1000, "{} rules", files.len());
    let out = import::import_files(&files, 1000, 1).expect("import");
    assert_eq!(out.rules.len(), files.len());
    println!("{}", report::summary(&out.rules));

    // The TOML is the spec, and it builds and validates.
    let parsed = spec::parse(&out.toml).expect("the written spec parses");
    assert_eq!(parsed, out.spec);
    let key = SigningKey::from_seed([1; 32]);
    let bytes = build::build(&parsed, &key).expect("the spec builds");
    let keys = [key.trusted_key()];
    let aligned = AlignedBytes::from_slice(&bytes);
    changuard_format::validate(aligned.as_ref(), &Trust::new(&keys), 1000)
        .expect("the channel validates");
    println!(
        "{} instances, {} bytes",
        parsed.instances.len(),
        bytes.len()
    );

    // Every imported rule kept its instances, ids increasing; attribution kept.
    let mut last = 0;
    for r in &out.rules {
        match r.outcome {
            report::Outcome::Refused(_) => assert!(r.instances.is_empty()),
            _ => {
                assert!(!r.instances.is_empty(), "{}", r.file);
                for &i in &r.instances {
                    assert!(i > last);
                    last = i;
                }
                if !r.author.is_empty() {
                    assert!(out.toml.contains(&format!("# author: {}", r.author)));
                }
            }
        }
    }
    assert!(
        out.rules
            .iter()
            .any(|r| r.outcome == report::Outcome::Imported),
        "nothing imported"
    );
    regression_events_match(&out, &parsed);
}

/// SigmaHQ's captured regression events (Sysmon event 1) for the imported
/// rules, replayed through the driver's interpreter: each must match one of
/// its own rule's instances.
fn regression_events_match(out: &import::Imported, parsed: &changuard_format::build::ChannelSpec) {
    let reg = sigma_dir().join("../../../regression_data/rules/windows/process_creation");
    if !reg.is_dir() {
        println!("SKIPPED regression events: {} absent", reg.display());
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (sk, pk, _) = keys::generate(tmp.path(), "k", false).unwrap();
    let key = keys::read_secret(&sk).unwrap().key;
    let chan = tmp.path().join("C-00001000-00000001.chan");
    std::fs::write(&chan, build::build(parsed, &key).unwrap()).unwrap();
    let mut events = String::new();
    let mut count = 0;
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&reg)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    for d in dirs {
        let rule_file = format!("{}.yml", d.file_name().unwrap().to_string_lossy());
        let Some(r) = out.rules.iter().find(|r| r.file.ends_with(&rule_file)) else {
            continue;
        };
        if matches!(r.outcome, report::Outcome::Refused(_)) {
            continue;
        }
        for f in std::fs::read_dir(&d).unwrap() {
            let f = f.unwrap().path();
            if f.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap();
            for ev in serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>() {
                let ev = ev.unwrap();
                if ev["Event"]["System"]["EventID"] != 1 {
                    continue;
                }
                let ed = &ev["Event"]["EventData"];
                let s = |k: &str| ed[k].as_str().unwrap_or("").to_string();
                let il = match ed["IntegrityLevel"].as_str() {
                    Some("Low") => 0x1000,
                    Some("Medium") => 0x2000,
                    Some("High") => 0x3000,
                    Some("System") => 0x4000,
                    _ => 0,
                };
                let line = serde_json::json!({
                    "label": rule_file,
                    "template": "ProcessCreate",
                    "fields": {
                        "image_path": s("Image"),
                        "command_line": s("CommandLine"),
                        "parent_image_path": s("ParentImage"),
                        "integrity_level": il,
                    }
                });
                events.push_str(&line.to_string());
                events.push('\n');
                count += 1;
            }
        }
    }
    let ev_path = tmp.path().join("events.jsonl");
    std::fs::write(&ev_path, &events).unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_changuard"))
        .args(["replay", "--json", "--content"])
        .arg(&chan)
        .arg("--pubkey")
        .arg(&pk)
        .arg("--events")
        .arg(&ev_path)
        .output()
        .unwrap();
    let mut checked = 0;
    for l in String::from_utf8_lossy(&run.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let Some(label) = v["label"].as_str() else {
            continue;
        };
        let r = out.rules.iter().find(|r| r.file.ends_with(label)).unwrap();
        let hit = v["matches"].as_array().unwrap().iter().any(|m| {
            m["instance"]
                .as_u64()
                .is_some_and(|i| r.instances.iter().any(|&x| u64::from(x) == i))
        });
        assert!(
            hit,
            "{label}: its regression event matches none of its instances: {v}"
        );
        checked += 1;
    }
    assert_eq!(checked, count, "{}", String::from_utf8_lossy(&run.stderr));
    assert!(checked > 0);
    println!("{checked} regression events of imported rules: all match their rule");
}

#[test]
fn cli_writes_a_spec_that_changuard_build_accepts() {
    let dir = sigma_dir();
    if !dir.is_dir() {
        println!("SKIPPED: ../shared/sigma absent");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let spec_path = tmp.path().join("sigma.toml");
    // A handful of rules through the binary, JSON report.
    let mut files = import::collect_files(&[dir]).unwrap();
    files.truncate(60);
    let mut args: Vec<String> = vec!["import".into(), "sigma".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend([
        "-o".into(),
        spec_path.display().to_string(),
        "--channel".into(),
        "1234".into(),
        "--version".into(),
        "5".into(),
        "--json".into(),
    ]);
    let run = Command::new(env!("CARGO_BIN_EXE_changuard"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), files.len());
    for l in &lines {
        for k in [
            "file",
            "id",
            "title",
            "author",
            "outcome",
            "reason",
            "instances",
        ] {
            assert!(l.get(k).is_some(), "{k} missing in {l}");
        }
    }
    let (sk, _pk, _) = keys::generate(tmp.path(), "k", false).unwrap();
    let chan = tmp.path().join("C-00001234-00000005.chan");
    let b = Command::new(env!("CARGO_BIN_EXE_changuard"))
        .args(["build", &spec_path.display().to_string(), "--key"])
        .arg(&sk)
        .arg("-o")
        .arg(&chan)
        .output()
        .unwrap();
    assert!(
        b.status.success(),
        "{}{}",
        String::from_utf8_lossy(&b.stdout),
        String::from_utf8_lossy(&b.stderr)
    );
    assert!(chan.is_file());
}
