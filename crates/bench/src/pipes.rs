//! Regex-only pipe-name content: distinct words, and families that share
//! literals, with their events.

use changuard_format::Action;
use changuard_format::build::{ChannelSpec, InstanceSpec};
use changuard_format::schema::NAMED_PIPE_CREATE;

use crate::mixed::pipe_events;
use crate::{OwnedEvent, Rng, any, chunk, pack, re, set, word};

/// `n` regex-only instances per string field kind: NamedPipeCreate pipe-name
/// patterns (the Cobalt-Strike style `prefix_[0-9a-f]{2,4}$` family and
/// friends), all on `pipe_name`. Returns the specs and the pattern strings.
pub fn regex_only_specs(n: usize) -> (Vec<ChannelSpec>, Vec<String>) {
    let mut r = Rng::new(0xdead_beef ^ n as u64);
    let mut pats = Vec::with_capacity(n);
    for k in 0..n {
        let w = word(&mut r, k);
        let p = match k % 4 {
            0 => format!(r"\\{w}_[0-9a-f]{{2,4}}$"),
            1 => format!(r"\\{w}-[0-9]{{1,5}}-(server|client)$"),
            2 => format!(r"\\(ipc|rpc)_{w}_[a-z]{{3}}"),
            _ => format!(r"{w}\.[0-9]+\.[0-9]+"),
        };
        pats.push(p);
    }
    let (insts, pats) = pipe_regex_instances(pats);
    (chunk(insts), pats)
}

/// One regex-only `pipe_name` instance per pattern (in order, ids from 1),
/// and the patterns as Vectorscan gets them (`(?i)`: the content's regexes
/// are case-insensitive).
fn pipe_regex_instances(pats: Vec<String>) -> (Vec<InstanceSpec>, Vec<String>) {
    let np = &NAMED_PIPE_CREATE;
    let insts = pats
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let mut c = any(np);
            set(np, &mut c, "pipe_name", re(p.clone()));
            InstanceSpec {
                also: Vec::new(),
                unless: Vec::new(),
                metadata: Default::default(),
                id: k as u32 + 1,
                template: np.id,
                action: Action::Report,
                criteria: c,
            }
        })
        .collect();
    let pats = pats.into_iter().map(|p| format!("(?i){p}")).collect();
    (insts, pats)
}

/// Pipe-name families as real IOC sets have them (issue 12 item 3): a few
/// shared literals (`postex`, `msagent`, `status`, ...: the Cobalt Strike and
/// C2 defaults), each carried by many patterns that differ only in their
/// tails and alternations, so one gram hit makes a whole family candidates.
const PIPE_FAMILIES: &[&str] = &[
    "postex", "msagent", "status", "mojo", "wkssvc", "ntsvcs", "scerpc", "dce", "spoolss", "lsarpc",
];

/// `n` regex-only `pipe_name` patterns over [`PIPE_FAMILIES`]: pattern `k`
/// is family `k % 10` with tail shape `k / 10` (hex runs of varying length,
/// `(server|client)` / `(in|out)` / `(x86|x64)` alternations). Returns the
/// specs and the pattern strings (as [`regex_only_specs`]).
pub fn regex_only_family_specs(n: usize) -> (Vec<ChannelSpec>, Vec<String>) {
    let (insts, pats) = pipe_regex_instances(family_patterns(n));
    (chunk(insts), pats)
}

/// The same content as [`regex_only_family_specs`], laid out by the
/// toolchain's packer (`pack_by_family`: each family in as few files as the
/// budgets allow) instead of cut into files in authored order.
pub fn regex_only_family_packed_specs(n: usize) -> (Vec<ChannelSpec>, Vec<String>) {
    let (insts, pats) = pipe_regex_instances(family_patterns(n));
    (pack(insts), pats)
}

/// The `n` patterns of [`regex_only_family_specs`], interleaved by family.
fn family_patterns(n: usize) -> Vec<String> {
    let mut pats = Vec::with_capacity(n);
    for k in 0..n {
        let fam = PIPE_FAMILIES[k % PIPE_FAMILIES.len()];
        let t = k / PIPE_FAMILIES.len();
        let run = t % 24 + 1;
        let p = match t / 24 % 4 {
            0 => format!(r"\\{fam}_[0-9a-f]{{{run}}}$"),
            1 => format!(r"\\{fam}-[0-9]{{{run}}}-(server|client)$"),
            2 => format!(r"\\{fam}_(in|out)_[0-9a-f]{{{run},}}"),
            _ => format!(r"\\{fam}_(x86|x64)\.[0-9]{{{run}}}$"),
        };
        pats.push(p);
    }
    pats
}

/// `n` pipe events for [`regex_only_family_specs`]: half name a family (so
/// its patterns are candidates; some match), the rest are benign pipes.
pub fn family_pipe_events(n: usize) -> Vec<OwnedEvent> {
    let mut r = Rng::new(11);
    let mut evs = pipe_events(n);
    for (k, e) in evs.iter_mut().enumerate() {
        if k % 2 == 0 {
            let fam = PIPE_FAMILIES[(r.next_u64() % PIPE_FAMILIES.len() as u64) as usize];
            e.strs[0] = match k % 8 {
                0 => format!(r"\Device\NamedPipe\{fam}_{:x}", r.next_u64()),
                2 => format!(r"\Device\NamedPipe\{fam}-{}-server", r.below(100_000)),
                4 => format!(r"\Device\NamedPipe\{fam}_in_{:x}", r.next_u64()),
                _ => format!(r"\Device\NamedPipe\{fam}_x64.{}", r.below(1_000_000)),
            };
        }
    }
    evs
}
