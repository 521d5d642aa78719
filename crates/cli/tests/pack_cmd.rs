//! `changuard pack`, through the binary: families end up together, every
//! instance is written once as it was, and refusals write nothing.

use changuard_cli::spec;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn changuard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_changuard"))
        .args(args)
        .output()
        .expect("run changuard")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("changuard-pack-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

const FAMILIES: [&str; 3] = ["postex", "msagent", "status"];

/// A spec of channel `channel` with instances `ids`, instance `k` of family
/// `k % 3` (authored interleaved).
fn write_spec(path: &Path, channel: u32, ids: std::ops::Range<u32>) {
    let mut s = format!("channel = {channel}\nversion = 2\n");
    for k in ids {
        let f = FAMILIES[k as usize % 3];
        s += &format!(
            "\n[[instance]]\nid = {}\ntemplate = \"NamedPipeCreate\"\naction = \"report\"\n[instance.criteria]\npipe_name = {{ regex = '\\\\{f}_[0-9a-f]{{{}}}$', case_insensitive = true }}\n",
            k + 1,
            1 + k / 3
        );
    }
    std::fs::write(path, s).expect("write spec");
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn pack_puts_each_family_in_its_own_file() {
    let d = scratch("families");
    let (a, b, out) = (d.join("a.toml"), d.join("b.toml"), d.join("out"));
    write_spec(&a, 400, 0..12);
    write_spec(&b, 401, 12..24);
    let o = changuard(&["pack", p(&a), p(&b), "--out", p(&out), "--per-file", "8"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut ids = Vec::new();
    for channel in 400..403 {
        let path = out.join(format!("channel-{channel}.toml"));
        let s = spec::parse(&std::fs::read_to_string(&path).expect("packed spec")).expect("parses");
        assert_eq!((s.channel, s.version, s.instances.len()), (channel, 2, 8));
        let fams: Vec<u32> = s.instances.iter().map(|i| (i.id - 1) % 3).collect();
        assert!(fams.iter().all(|&f| f == fams[0]), "{path:?}: {fams:?}");
        assert!(s.instances.windows(2).all(|w| w[0].id < w[1].id));
        ids.extend(s.instances.iter().map(|i| i.id));
    }
    ids.sort_unstable();
    assert_eq!(ids, (1..=24).collect::<Vec<u32>>());
    assert!(!out.join("channel-403.toml").exists());
    // Written as it was: the packed instance equals the input's.
    let input = spec::parse(&std::fs::read_to_string(&a).expect("a")).expect("a parses");
    let first = &input.instances[0];
    let packed: Vec<_> = (400..403)
        .flat_map(|c| {
            let t = std::fs::read_to_string(out.join(format!("channel-{c}.toml"))).expect("read");
            spec::parse(&t).expect("parses").instances
        })
        .collect();
    assert!(packed.contains(first));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn pack_refuses_without_writing() {
    let d = scratch("refusals");
    let (a, out) = (d.join("a.toml"), d.join("out"));
    write_spec(&a, 400, 0..6);
    // The same ids twice.
    let o = changuard(&["pack", p(&a), p(&a), "--out", p(&out)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("instance id 1 is in"));
    assert!(!out.exists());
    // A regex over the DFA size limit (the spec parser passes it: it only
    // checks syntax) is named by file and instance id.
    let bad = d.join("bad.toml");
    std::fs::write(
        &bad,
        "channel = 9\nversion = 1\n[[instance]]\nid = 77\ntemplate = \"NamedPipeCreate\"\naction = \"report\"\n[instance.criteria]\npipe_name = { regex = '\\w{40}' }\n",
    )
    .expect("write");
    let o = changuard(&["pack", p(&a), p(&bad), "--out", p(&out)]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.toml instance id 77"), "{err}");
    assert!(err.contains("DFA size limit"), "{err}");
    assert!(!out.exists());
    // An existing output file is never overwritten.
    std::fs::create_dir_all(&out).expect("out");
    std::fs::write(out.join("channel-400.toml"), "keep").expect("write");
    let o = changuard(&["pack", p(&a), "--out", p(&out)]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(out.join("channel-400.toml")).expect("kept"),
        "keep"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn pack_refuses_a_file_over_the_cost_ceiling() {
    // 2,100 `contains` tests on the 2,047-byte command line: each is
    // bounded at about 2,048 fuel, so one file of them is over the
    // 4,194,304 ceiling, and two files of 1,050 are within it.
    let d = scratch("ceiling");
    let (a, out) = (d.join("a.toml"), d.join("out"));
    let mut s = String::from("channel = 500\nversion = 1\n");
    for k in 1..=2_100 {
        s += &format!(
            "\n[[instance]]\nid = {k}\ntemplate = \"ProcessCreate\"\naction = \"report\"\n[instance.criteria]\ncommand_line = {{ contains = \"needle{k}\" }}\n"
        );
    }
    std::fs::write(&a, s).expect("write");
    let o = changuard(&["pack", p(&a), "--out", p(&out), "--per-file", "2100"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cost-ceiling") && err.contains("--per-file"),
        "{err}"
    );
    assert!(!out.exists());
    let o = changuard(&[
        "pack",
        p(&a),
        "--out",
        p(&out),
        "--per-file",
        "1050",
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let files = v["files"].as_array().expect("files");
    assert_eq!(files.len(), 2);
    for f in files {
        let bound = f["cost_bound"].as_u64().expect("bound");
        assert!(bound > 1_000_000 && bound <= v["cost_ceiling"].as_u64().expect("ceiling"));
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn pack_warns_when_the_driver_could_not_load_every_file() {
    // One instance per file: 16 files load, 17 do not all load.
    let d = scratch("channels");
    for (n, warned) in [(16u32, false), (17, true)] {
        let (a, out) = (d.join(format!("a{n}.toml")), d.join(format!("out{n}")));
        write_spec(&a, 600, 0..n);
        let o = changuard(&["pack", p(&a), "--out", p(&out), "--per-file", "1", "--json"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["files"].as_array().map(Vec::len), Some(n as usize));
        assert_eq!(v["driver_channels"], 16);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.contains("at most 16 channels"), warned, "{n}: {err}");
    }
    let _ = std::fs::remove_dir_all(&d);
}
