//! The boot-loop kit (docs/TESTING-ON-WINDOWS.md, "Content kit") for channel 291,
//! signed with the TEST-ONLY key: the files `scripts/bootloop-matrix.json` names,
//! built the way the simulator builds its own (`crates/sim/src/content.rs`), except
//! that the poison instance is a ProcessCreate (the driver's sensor delivers process
//! creations; the simulator's boot also has a named pipe).
use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec, build};
use changuard_format::schema::{NAMED_PIPE_CREATE, PROCESS_CREATE, TemplateType};
use changuard_format::{Action, SCHEMA_ID, StrOp};

/// The matrix's channel.
pub const CHANNEL: u32 = 291;

/// What a kit file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kit {
    /// Valid and harmless.
    Good,
    /// Valid, with a TestCrash instance that matches every process creation.
    Poison,
    /// Correctly signed for another schema id.
    WrongSchema,
    /// The 19 July 2024 replay: a NamedPipeCreate instance with 21 criteria.
    July19,
}

fn any_of(t: &TemplateType) -> Vec<CriterionSpec> {
    t.fields.iter().map(|_| CriterionSpec::Any).collect()
}

/// The bytes of kit file (291, `version`, `kind`).
pub fn kit(version: u64, kind: Kit) -> Vec<u8> {
    let mut never = any_of(&PROCESS_CREATE);
    never[0] = CriterionSpec::Str { op: StrOp::Contains, value: "never-matches-at-boot.exe".into(), case_insensitive: true };
    let mut instances = vec![InstanceSpec { id: 1, template: PROCESS_CREATE.id, action: Action::Report, criteria: never, also: Vec::new(), unless: Vec::new(), metadata: Default::default() }];
    match kind {
        Kit::Poison => {
            instances.push(InstanceSpec { id: 2, template: PROCESS_CREATE.id, action: Action::TestCrash, criteria: any_of(&PROCESS_CREATE), also: Vec::new(), unless: Vec::new(), metadata: Default::default() });
        }
        Kit::July19 => {
            let mut c = any_of(&NAMED_PIPE_CREATE);
            c.push(CriterionSpec::Any);
            instances.push(InstanceSpec { id: 2, template: NAMED_PIPE_CREATE.id, action: Action::Report, criteria: c, also: Vec::new(), unless: Vec::new(), metadata: Default::default() });
        }
        Kit::Good | Kit::WrongSchema => {}
    }
    let spec = ChannelSpec {
        channel: CHANNEL,
        version,
        schema_id: if kind == Kit::WrongSchema { SCHEMA_ID ^ 1 } else { SCHEMA_ID },
        instances,
    };
    build(&spec, &super::test_key()).expect("kit spec builds")
}

/// The kit file name of `version`.
pub fn name(version: u64) -> String {
    format!("C-{CHANNEL:08}-{version:08}.chan")
}
