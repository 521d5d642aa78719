//! Content the simulator delivers: good, poison and every kind of bad channel
//! file, built by the real writer and signed with a fixed simulator key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec, SigningKey, build};
use changuard_format::schema::{FieldType, NAMED_PIPE_CREATE, PROCESS_CREATE, TemplateType};
use changuard_format::{Action, SCHEMA_ID, StrOp, Trust, TrustedKey};
use changuard_interp::{Event, Value};

use crate::disk::Bytes;

/// What a delivered file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Valid and harmless.
    Good,
    /// Valid, but has a `TestCrash` instance that matches a boot-time event:
    /// the simulated machine crashes while it is active.
    Poison,
    /// Good content cut to half its length.
    Truncated,
    /// Good content with one signature byte flipped.
    BadSig,
    /// Correctly signed, but for another schema id.
    WrongSchema,
    /// The 19 July 2024 replay: a NamedPipeCreate instance with 21 criteria.
    July19,
    /// Valid and harmless, within 1% of `MAX_FILE_LEN` (16 MiB): long
    /// distinct `Equals` needles (issue 11 finding 9; the budget charges by
    /// size, so the shape only needs to be cheap to build and load).
    Maximal,
    /// Valid and harmless, with a proven per-event cost bound of about
    /// 3.5 M fuel (issue 12): under the per-file ceiling, and four of them
    /// fill the active set's ceiling (`changuard_format::cost`).
    Costly,
    /// Signed, but its proven cost bound (about 4.3 M fuel) is over the
    /// per-file ceiling: the validator rejects it (`cost-ceiling`).
    OverCeiling,
    /// Valid, with a `TestCrash` instance that matches only an event of
    /// machines that have the property ([`crate::machine::Machine::has_property`],
    /// [`property_event`]): the 19 July shape no validator can see, since
    /// the content is fine and the machines differ (issue 15).
    PoisonOnProperty,
}

impl Kind {
    /// Stable name.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Good => "good",
            Kind::Poison => "poison",
            Kind::Truncated => "truncated",
            Kind::BadSig => "bad-signature",
            Kind::WrongSchema => "wrong-schema",
            Kind::July19 => "july-19",
            Kind::Maximal => "maximal",
            Kind::Costly => "costly",
            Kind::OverCeiling => "over-ceiling",
            Kind::PoisonOnProperty => "poison-on-property",
        }
    }
    /// Does the real validator accept it?
    pub const fn validates(self) -> bool {
        matches!(
            self,
            Kind::Good | Kind::Poison | Kind::Maximal | Kind::Costly | Kind::PoisonOnProperty
        )
    }
}

/// The simulator's signing key (fixed seed).
pub fn key() -> &'static SigningKey {
    static K: OnceLock<SigningKey> = OnceLock::new();
    K.get_or_init(|| SigningKey::from_seed([0x5A; 32]))
}

/// The trusted keys: the sim key only, trusted as test-only (its poison
/// content carries `test-crash`).
pub fn trusted() -> &'static [TrustedKey] {
    static T: OnceLock<[TrustedKey; 1]> = OnceLock::new();
    T.get_or_init(|| [key().trusted_test_key()])
}

/// A second content key (fixed seed): the one a keyring rotates to, or the
/// one that leaks and is revoked (issue 15). Never compiled in.
pub fn key2() -> &'static SigningKey {
    static K: OnceLock<SigningKey> = OnceLock::new();
    K.get_or_init(|| SigningKey::from_seed([0x5B; 32]))
}

/// The simulator's three root keys (fixed seeds); keyrings need 2 of them.
pub fn root_key(i: usize) -> &'static SigningKey {
    static K: OnceLock<[SigningKey; 3]> = OnceLock::new();
    let all = K.get_or_init(|| {
        [
            SigningKey::from_seed([0x70; 32]),
            SigningKey::from_seed([0x71; 32]),
            SigningKey::from_seed([0x72; 32]),
        ]
    });
    &all[i % 3]
}

/// The root keys compiled into the simulated driver.
pub fn roots() -> &'static [TrustedKey] {
    static T: OnceLock<[TrustedKey; 3]> = OnceLock::new();
    T.get_or_init(|| [0, 1, 2].map(|i| root_key(i).trusted_key()))
}

/// Every content key any simulated machine may trust (the sim's own check
/// of I1: which key is allowed is the loader's business, G1).
pub fn oracle_keys() -> &'static [TrustedKey] {
    static T: OnceLock<[TrustedKey; 2]> = OnceLock::new();
    T.get_or_init(|| [key().trusted_test_key(), key2().trusted_test_key()])
}

fn any_of(t: &TemplateType) -> Vec<CriterionSpec> {
    t.fields.iter().map(|_| CriterionSpec::Any).collect()
}

/// Criteria of `t` that test only its first string field, with `op value`
/// (folded).
fn first_str(t: &TemplateType, op: StrOp, value: &str) -> Vec<CriterionSpec> {
    let mut c = any_of(t);
    if let Some(i) = t.fields.iter().position(|f| f.ty == FieldType::Str) {
        c[i] = CriterionSpec::Str {
            op,
            value: value.into(),
            case_insensitive: true,
        };
    }
    c
}

fn spec(channel: u32, version: u64, kind: Kind) -> ChannelSpec {
    let never = first_str(
        &PROCESS_CREATE,
        StrOp::Contains,
        "never-matches-at-boot.exe",
    );
    let mut instances = vec![InstanceSpec {
        also: Vec::new(),
        unless: Vec::new(),
        metadata: Default::default(),
        id: 1,
        template: PROCESS_CREATE.id,
        action: Action::Report,
        criteria: never,
    }];
    match kind {
        Kind::Poison => instances.push(InstanceSpec {
            also: Vec::new(),
            unless: Vec::new(),
            metadata: Default::default(),
            id: 2,
            template: NAMED_PIPE_CREATE.id,
            action: Action::TestCrash,
            criteria: any_of(&NAMED_PIPE_CREATE),
        }),
        Kind::PoisonOnProperty => {
            let c = first_str(&NAMED_PIPE_CREATE, StrOp::Equals, PROPERTY_PIPE);
            instances.push(InstanceSpec {
                also: Vec::new(),
                unless: Vec::new(),
                metadata: Default::default(),
                id: 2,
                template: NAMED_PIPE_CREATE.id,
                action: Action::TestCrash,
                criteria: c,
            });
        }
        Kind::July19 => {
            let mut c = any_of(&NAMED_PIPE_CREATE);
            c.push(CriterionSpec::Any);
            instances.push(InstanceSpec {
                also: Vec::new(),
                unless: Vec::new(),
                metadata: Default::default(),
                id: 2,
                template: NAMED_PIPE_CREATE.id,
                action: Action::Report,
                criteria: c,
            });
        }
        Kind::Maximal => instances.extend(
            (0..MAXIMAL_INSTANCES)
                .map(|k| one_string_test(k + 2, "image_path", StrOp::Equals, needle(k))),
        ),
        // A `contains` on the command line is charged the field cap: the
        // dearest literal test, and cheap to build.
        Kind::Costly | Kind::OverCeiling => {
            instances.extend((0..costly_instances(kind)).map(|k| {
                let needle = format!("costly-{k}-never-at-boot");
                one_string_test(k + 2, "command_line", StrOp::Contains, needle)
            }));
        }
        _ => {}
    }
    ChannelSpec {
        channel,
        version,
        schema_id: if kind == Kind::WrongSchema {
            SCHEMA_ID ^ 0x1
        } else {
            SCHEMA_ID
        },
        instances,
    }
}

/// A ProcessCreate instance `id` whose only test is `op needle` (folded) on `field`.
fn one_string_test(id: u32, field: &str, op: StrOp, needle: String) -> InstanceSpec {
    let mut c = any_of(&PROCESS_CREATE);
    if let Some(i) = PROCESS_CREATE.field_index(field) {
        c[i] = CriterionSpec::Str {
            op,
            value: needle,
            case_insensitive: true,
        };
    }
    InstanceSpec {
        also: Vec::new(),
        unless: Vec::new(),
        metadata: Default::default(),
        id,
        template: PROCESS_CREATE.id,
        action: Action::Report,
        criteria: c,
    }
}

/// Instances of [`Kind::Costly`] and [`Kind::OverCeiling`] (each bounded at
/// 2,058 fuel: 2,049 for the `contains`, 1 per other criterion).
const fn costly_instances(kind: Kind) -> u32 {
    match kind {
        Kind::OverCeiling => 2_100,
        _ => 1_700,
    }
}

/// Instances of [`Kind::Maximal`] (each ~4.3 KB encoded).
const MAXIMAL_INSTANCES: u32 = 3_910;

/// A 4000-byte lowercase needle, distinct per `k`, that no boot event contains.
fn needle(k: u32) -> String {
    let mut x = u64::from(k).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..4000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'q' + (x % 10) as u8)
        })
        .collect()
}

/// The bytes of `(channel, version, kind)` (built once, cached).
///
/// # Panics
/// If the writer refuses a spec (a simulator bug).
pub fn bytes(channel: u32, version: u64, kind: Kind) -> Bytes {
    type Cache = Mutex<HashMap<(u32, u64, Kind), Bytes>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(b) = cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&(channel, version, kind))
    {
        return b.clone();
    }
    let base = match kind {
        Kind::Truncated | Kind::BadSig => Kind::Good,
        k => k,
    };
    let mut v = build(&spec(channel, version, base), key()).expect("sim specs build");
    match kind {
        Kind::Truncated => v.truncate(v.len() / 2),
        Kind::BadSig => {
            if let Some(last) = v.last_mut() {
                *last ^= 0x01;
            }
        }
        _ => {}
    }
    let b: Bytes = Arc::from(v);
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert((channel, version, kind), b.clone());
    b
}

/// The events every simulated boot delivers to the engine (a process start and
/// a named pipe, as early-boot services create them).
pub fn boot_events() -> [Event<'static>; 2] {
    [
        Event::ProcessCreate(vals(&PROCESS_CREATE, "c:\\windows\\system32\\smss.exe")),
        Event::NamedPipeCreate(vals(&NAMED_PIPE_CREATE, "\\device\\namedpipe\\lsass")),
    ]
}

/// The pipe only machines with the property create at boot.
pub const PROPERTY_PIPE: &str = "\\device\\namedpipe\\changuard-sim-property";

/// The boot-time event of a machine that has the property.
pub fn property_event() -> Event<'static> {
    Event::NamedPipeCreate(vals(&NAMED_PIPE_CREATE, PROPERTY_PIPE))
}

/// An event of template `t`: every string field `s`, every integer 4.
fn vals<const N: usize>(t: &TemplateType, s: &'static str) -> [Value<'static>; N] {
    std::array::from_fn(|i| match t.fields.get(i).map(|f| f.ty) {
        Some(FieldType::Int) => Value::Int(4),
        _ => Value::Str(s),
    })
}

/// `kind` content of `(channel, version)` signed by `signer` instead of
/// [`key`] (a rotated or a leaked key; not cached).
pub fn bytes_signed(channel: u32, version: u64, kind: Kind, signer: &SigningKey) -> Bytes {
    let v = build(&spec(channel, version, kind), signer).expect("sim specs build");
    Arc::from(v)
}

/// The proven cost bound of `bytes` as channel `channel` (zero when it does
/// not validate: such content is never active).
pub fn cost_bound(bytes: &[u8], channel: u32) -> changuard_format::CostBound {
    let buf = changuard_format::AlignedBytes::from_slice(bytes);
    changuard_format::validate(buf.as_ref(), &Trust::new(trusted()), channel)
        .map(|v| v.cost_bound())
        .unwrap_or_default()
}
