//! Channel content for the harness: 16 channels whose instances use every
//! criterion kind (wildcard, the four string tests with and without case folding,
//! integer equality/range/mask, regex with and without case folding, a needle
//! of the largest accepted length) on both template types, and every action.
//! Built with changuard-format's writer and the TEST-ONLY key.
use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec, build};
use changuard_format::schema::{NAMED_PIPE_CREATE, PROCESS_CREATE};
use changuard_format::{Action, SCHEMA_ID, StrOp};

/// Channel ids used by [`channels`].
pub fn channel_ids() -> Vec<u32> {
    (0..16).map(|i| 1000 + i).collect()
}

fn s(op: StrOp, v: &str, ci: bool) -> CriterionSpec {
    CriterionSpec::Str { op, value: v.to_string(), case_insensitive: ci }
}

fn re(p: &str, ci: bool) -> CriterionSpec {
    CriterionSpec::Regex { pattern: p.to_string(), case_insensitive: ci }
}

fn any(n: usize) -> Vec<CriterionSpec> {
    vec![CriterionSpec::Any; n]
}

/// ProcessCreate fields: image_path, command_line, parent_image_path, user_sid,
/// pid, parent_pid, creator_pid, session_id, integrity_level, token_elevated,
/// parent_command_line.
fn process(id: u32, action: Action, set: &[(usize, CriterionSpec)]) -> InstanceSpec {
    let mut c = any(PROCESS_CREATE.fields.len());
    for (i, v) in set {
        c[*i] = v.clone();
    }
    InstanceSpec { id, template: PROCESS_CREATE.id, action, criteria: c, also: Vec::new(), unless: Vec::new(), metadata: Default::default() }
}

fn pipe(id: u32, action: Action, set: &[(usize, CriterionSpec)]) -> InstanceSpec {
    let mut c = any(NAMED_PIPE_CREATE.fields.len());
    for (i, v) in set {
        c[*i] = v.clone();
    }
    InstanceSpec { id, template: NAMED_PIPE_CREATE.id, action, criteria: c, also: Vec::new(), unless: Vec::new(), metadata: Default::default() }
}

/// The spec of channel `i` (0..16), version `version`.
pub fn spec(i: u32, version: u64) -> ChannelSpec {
    let ch = 1000 + i;
    let long_needle: String = std::iter::repeat_n("x", changuard_format::limits::MAX_STRING_LEN as usize).collect();
    let instances = vec![
        process(1, Action::Report, &[(0, s(StrOp::Suffix, &format!("\\evil{i}.exe"), true)), (1, s(StrOp::Contains, "--payload", true))]),
        // Image names as rules write them: the driver turns the kernel's \??\C:\... into C:\...
        process(2, Action::BlockCandidate, &[(0, s(StrOp::Prefix, "C:\\Temp\\", true)), (4, CriterionSpec::IntRange { lo: 5000, hi: 5999 })]),
        process(3, Action::Report, &[(1, s(StrOp::Equals, &format!("tool{i}.exe --exact"), false)), (7, CriterionSpec::IntEquals(0))]),
        process(4, Action::Report, &[(1, re(r"-(e|ec|enc|encodedcommand)\s+[A-Za-z0-9+/=]{20,}", true)), (0, s(StrOp::Suffix, "\\powershell.exe", true))]),
        process(5, Action::Report, &[(8, CriterionSpec::IntMask { mask: 0xF000, value: 0x1000 }), (9, CriterionSpec::IntEquals(1)), (0, s(StrOp::Contains, "lowbox", false))]),
        process(6, Action::Report, &[(1, s(StrOp::Contains, &long_needle, false))]),
        process(7, Action::Report, &[(0, re(&format!(r"\\x{i}[0-9]+\.exe$"), false))]),
        process(8, Action::Report, &[(0, re(r"\\appdata\\local\\temp\\[^\\]*[^\x00-\x7f][^\\]*\.exe$", true))]),
        process(9, Action::TestCrash, &[(0, s(StrOp::Equals, &format!("C:\\crash\\now{i}.exe"), true))]),
        process(10, Action::Report, &[(2, s(StrOp::Suffix, "\\winword.exe", true)), (3, s(StrOp::Prefix, "S-1-5-21-", false)), (5, CriterionSpec::IntRange { lo: 0, hi: u64::MAX }), (6, CriterionSpec::IntMask { mask: 3, value: 0 })]),
        pipe(11, Action::Report, &[(0, s(StrOp::Prefix, "\\Device\\NamedPipe\\evil", true)), (10, CriterionSpec::IntMask { mask: 0x0002_0000, value: 0x0002_0000 })]),
        pipe(12, Action::BlockCandidate, &[(0, re(r"(?i)\\pipe\\msagent_[0-9a-f]{2,}", false)), (14, CriterionSpec::IntRange { lo: 1, hi: 255 }), (19, CriterionSpec::IntEquals(1))]),
        pipe(13, Action::Report, &[(1, s(StrOp::Suffix, &format!("\\svc{i}.exe"), true))]),
    ];
    ChannelSpec { channel: ch, version, schema_id: SCHEMA_ID, instances }
}

/// The file name of (channel, version).
pub fn file_name(channel: u32, version: u64) -> String {
    format!("C-{channel:08}-{version:08}.chan")
}

/// All 16 channels, version `version`: (file name, bytes).
pub fn channels(version: u64) -> Vec<(String, Vec<u8>)> {
    let key = super::test_key();
    (0..16)
        .map(|i| {
            let sp = spec(i, version);
            (file_name(sp.channel, version), build(&sp, &key).expect("content builds and validates"))
        })
        .collect()
}
