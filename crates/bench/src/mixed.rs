//! Mixed content (literals, integers, some regexes) over both template
//! types, and the process and pipe events it is measured on.

use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec};
use changuard_format::schema::{NAMED_PIPE_CREATE, PROCESS_CREATE};
use changuard_format::{Action, StrOp};

use crate::{OwnedEvent, Rng, any, chunk, re, set, st, word};

/// `n` realistic instances (70% ProcessCreate, 30% NamedPipeCreate) spread
/// over channels of [`PER_CHANNEL`]. With `regex`, about 10% of the non-`Any`
/// criteria are regexes: most refine a literal anchor (as real detections
/// do), and 1% of instances are regex-only.
pub fn mixed_specs(n: usize, regex: bool) -> Vec<ChannelSpec> {
    let mut r = Rng::new(0x5eed_0000 ^ n as u64);
    let pc = &PROCESS_CREATE;
    let np = &NAMED_PIPE_CREATE;
    let mut insts = Vec::with_capacity(n);
    for k in 0..n {
        let w = word(&mut r, k);
        let roll = r.below(100);
        let (t, c) = if r.below(10) < 7 {
            let mut c = any(pc);
            match (roll, regex) {
                (0, true) => set(
                    pc,
                    &mut c,
                    "command_line",
                    re(format!(r"-{w}\s+[a-z0-9+/=]{{16,}}")),
                ),
                (1..=18, true) => {
                    set(
                        pc,
                        &mut c,
                        "image_path",
                        st(StrOp::Suffix, format!("\\{w}.exe")),
                    );
                    set(
                        pc,
                        &mut c,
                        "command_line",
                        re(format!(r"\s/{w}:[0-9]{{2,5}}(\s|$)")),
                    );
                }
                (0..=24, _) => {
                    set(
                        pc,
                        &mut c,
                        "image_path",
                        st(StrOp::Suffix, format!("\\{w}.exe")),
                    );
                    set(
                        pc,
                        &mut c,
                        "command_line",
                        st(StrOp::Contains, format!("--{w}")),
                    );
                }
                (25..=44, _) => {
                    set(
                        pc,
                        &mut c,
                        "image_path",
                        st(StrOp::Equals, format!("c:\\program files\\{w}\\{w}.exe")),
                    );
                    set(
                        pc,
                        &mut c,
                        "integrity_level",
                        CriterionSpec::IntRange {
                            lo: 0x2000,
                            hi: 0x3000,
                        },
                    );
                }
                (45..=59, _) => {
                    set(
                        pc,
                        &mut c,
                        "command_line",
                        st(StrOp::Contains, format!("{:08x}", r.next_u64() as u32)),
                    );
                }
                (60..=74, _) => {
                    set(
                        pc,
                        &mut c,
                        "parent_image_path",
                        st(StrOp::Suffix, format!("\\{w}.exe")),
                    );
                    set(pc, &mut c, "image_path", st(StrOp::Suffix, "\\cmd.exe"));
                    set(
                        pc,
                        &mut c,
                        "session_id",
                        CriterionSpec::IntRange {
                            lo: 1,
                            hi: u32::MAX as u64,
                        },
                    );
                }
                (75..=89, _) => {
                    set(
                        pc,
                        &mut c,
                        "image_path",
                        st(StrOp::Prefix, format!("c:\\users\\public\\{w}")),
                    );
                    set(pc, &mut c, "token_elevated", CriterionSpec::IntEquals(1));
                }
                _ => {
                    set(
                        pc,
                        &mut c,
                        "user_sid",
                        st(
                            StrOp::Equals,
                            format!("s-1-5-21-1004336348-1177238915-682003330-{}", 1000 + k),
                        ),
                    );
                    set(
                        pc,
                        &mut c,
                        "command_line",
                        st(StrOp::Contains, format!(" -{w} ")),
                    );
                }
            }
            (pc, c)
        } else {
            let mut c = any(np);
            match (roll, regex) {
                (0, true) => set(
                    np,
                    &mut c,
                    "pipe_name",
                    re(format!(r"\\{w}_[0-9a-f]{{2,4}}$")),
                ),
                (1..=18, true) => {
                    set(
                        np,
                        &mut c,
                        "pipe_name",
                        st(StrOp::Prefix, format!("\\device\\namedpipe\\{w}")),
                    );
                    set(
                        np,
                        &mut c,
                        "creating_image_path",
                        re(format!(r"\\{w}[0-9]*\.exe$")),
                    );
                }
                (0..=39, _) => {
                    set(
                        np,
                        &mut c,
                        "pipe_name",
                        st(StrOp::Equals, format!("\\device\\namedpipe\\{w}")),
                    );
                }
                (40..=69, _) => {
                    set(
                        np,
                        &mut c,
                        "pipe_name",
                        st(StrOp::Contains, format!("{w}-")),
                    );
                    set(np, &mut c, "is_remote", CriterionSpec::IntEquals(1));
                }
                _ => {
                    set(
                        np,
                        &mut c,
                        "creating_image_path",
                        st(StrOp::Suffix, format!("\\{w}.exe")),
                    );
                    set(
                        np,
                        &mut c,
                        "desired_access",
                        CriterionSpec::IntMask { mask: 2, value: 2 },
                    );
                }
            }
            (np, c)
        };
        let action = if k % 5 == 0 {
            Action::BlockCandidate
        } else {
            Action::Report
        };
        insts.push(InstanceSpec {
            also: Vec::new(),
            unless: Vec::new(),
            metadata: Default::default(),
            id: k as u32 + 1,
            template: t.id,
            action,
            criteria: c,
        });
    }
    chunk(insts)
}

pub(super) const IMAGES: &[&str] = &[
    r"C:\Windows\System32\svchost.exe",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Windows\System32\cmd.exe",
    r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
    r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
    r"C:\Windows\explorer.exe",
    r"C:\Windows\System32\conhost.exe",
    r"C:\Users\Олег\AppData\Local\Temp\счет_2024.exe",
    r"C:\Program Files (x86)\Steam\steamapps\common\game\bin\win64\game.exe",
];

/// `n` process events: benign-looking, with a few built from content words
/// so that some anchors fire and some instances match.
pub fn process_events(n: usize) -> Vec<OwnedEvent> {
    let mut r = Rng::new(42);
    (0..n)
        .map(|k| {
            let image = if k % 8 == 0 {
                format!(r"C:\Users\Public\{}\{}.exe", word(&mut r, k), word(&mut r, k))
            } else {
                r.pick(IMAGES).to_string()
            };
            let cmd = format!(
                r#""{image}" --type=renderer --field-trial-handle={},{} --lang=en-US --{} /{}:{} {}"#,
                r.next_u64() % 100_000,
                r.next_u64(),
                { let k = (r.next_u64() % 200) as usize; word(&mut r, k) },
                { let k = (r.next_u64() % 200) as usize; word(&mut r, k) },
                r.next_u64() % 9999,
                if k % 3 == 0 { "-enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA" } else { "" }
            );
            process_event(&mut r, image, cmd)
        })
        .collect()
}

/// A `ProcessCreate` event of `image` and `cmd`: the parent image, user
/// SID and integer fields drawn from `r`.
pub(super) fn process_event(r: &mut Rng, image: String, cmd: String) -> OwnedEvent {
    OwnedEvent {
        template: PROCESS_CREATE.id,
        strs: vec![
            image,
            cmd,
            r.pick(IMAGES).to_string(),
            format!(
                "S-1-5-21-1004336348-1177238915-682003330-{}",
                1000 + r.below(300)
            ),
        ],
        ints: vec![
            4000 + r.below(4000),
            600 + r.below(400),
            600,
            r.below(3),
            0x2000,
            r.below(2),
        ],
    }
}

/// `n` pipe events.
pub fn pipe_events(n: usize) -> Vec<OwnedEvent> {
    let mut r = Rng::new(7);
    (0..n)
        .map(|k| {
            let pipe = match k % 4 {
                0 => format!(
                    r"\Device\NamedPipe\mojo.{}.{}.{}",
                    r.below(9000),
                    r.below(9000),
                    r.next_u64()
                ),
                1 => {
                    let k = (r.next_u64() % 300) as usize;
                    format!(
                        r"\Device\NamedPipe\{}_{:x}",
                        word(&mut r, k),
                        r.below(0xfff)
                    )
                }
                2 => r"\Device\NamedPipe\lsarpc".to_string(),
                _ => format!(
                    r"\Device\NamedPipe\crashpad_{}_{}",
                    r.below(9000),
                    r.next_u64() % 100_000
                ),
            };
            OwnedEvent {
                template: NAMED_PIPE_CREATE.id,
                strs: vec![
                    pipe,
                    r.pick(IMAGES).to_string(),
                    r.pick(IMAGES).to_string(),
                    String::new(),
                    "S-1-5-18".into(),
                    "S-1-5-18".into(),
                ],
                ints: vec![
                    4000,
                    0,
                    1,
                    1,
                    0x0012019f,
                    3,
                    3,
                    0,
                    255,
                    4096,
                    4096,
                    50,
                    0x2000,
                    r.below(2),
                ],
            }
        })
        .collect()
}
