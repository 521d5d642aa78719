//! The sensor schema: which template types exist and exactly which inputs the
//! sensor supplies for each.
//!
//! This module is the single definition used by the validator, the interpreter,
//! the driver and the CLI. On 19 July 2024 the content, the validator and the
//! sensor each had their own idea of how many inputs the IPC template had (21,
//! 21 and 20). Here there is one `const` table; every input count anywhere in
//! changuard is derived from it, and the schema as a whole is identified by a
//! hash of its definition ([`SCHEMA_ID`]) that every channel file must declare.
//!
//! # Invariants
//! - Template ids are unique and the table is sorted by id.
//! - Field order is the criterion order in a channel file: criterion `i` of an
//!   instance applies to field `i` of its template type.
//! - Changing anything here (a name, a type, the order) changes [`SCHEMA_ID`],
//!   so content built for another schema is rejected instead of misread.

/// The type of one sensor input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// A string, delivered to the interpreter as UTF-8 (the driver transcodes the
    /// kernel's UTF-16; see docs/FORMAT.md, "Strings").
    Str,
    /// An unsigned integer (pids, session ids, access masks, integrity RIDs).
    Int,
}

impl FieldType {
    /// Stable one-byte code, used in the schema hash.
    pub const fn code(self) -> u8 {
        match self {
            FieldType::Str => 1,
            FieldType::Int => 2,
        }
    }

    /// Lower-case name used in specs, JSON and diagnostics.
    pub const fn name(self) -> &'static str {
        match self {
            FieldType::Str => "str",
            FieldType::Int => "int",
        }
    }
}

/// One input the sensor supplies for a template type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// snake_case name, as written in content specs and event JSON.
    pub name: &'static str,
    /// What the sensor supplies.
    pub ty: FieldType,
    /// Longest string the sensor delivers, in UTF-8 bytes: longer values are
    /// truncated at a code point boundary before evaluation. The validator's
    /// per-event cost bound is computed at these caps. 0 for integers.
    pub cap: u16,
    /// Where the driver gets the value today.
    pub source: Source,
}

/// Where the driver gets a field's value (docs/CONTENT.md, "Fields").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Filled by the driver's own callback on every event. Token fields come
    /// from the new process's token (a query that fails leaves that field
    /// empty for that event); `parent_image_path` and `parent_command_line`
    /// from the driver's table of the processes it saw start (empty for a
    /// parent that started before the driver, or when the table is full).
    Callback,
    /// Sent empty (or zero) by this prototype's callback: a criterion that
    /// needs a value here never matches a real event. (No field of this
    /// schema is; kept so a field can be declared before the driver fills it.)
    Empty,
    /// No callback yet: only events submitted with `IOCTL_SUBMIT_EVENT`
    /// (`changuard driver submit`, a dry run) carry it.
    Submitted,
}

impl Source {
    /// kebab-case name used in `changuard schema` and docs.
    pub const fn name(self) -> &'static str {
        match self {
            Source::Callback => "callback",
            Source::Empty => "empty",
            Source::Submitted => "submitted",
        }
    }
}

/// A kind of sensor event and the exact inputs the sensor supplies for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateType {
    /// Wire id (u16 in the channel file).
    pub id: u16,
    /// PascalCase name, as written in content specs and event JSON.
    pub name: &'static str,
    /// The inputs, in criterion order. `fields.len()` is the input count.
    pub fields: &'static [Field],
}

impl TemplateType {
    /// How many inputs the sensor supplies, and so exactly how many criteria
    /// every instance of this type must carry.
    pub const fn input_count(&self) -> usize {
        self.fields.len()
    }

    /// The index of the field called `name`, if any.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}

const fn s(name: &'static str, cap: u16, source: Source) -> Field {
    Field {
        name,
        ty: FieldType::Str,
        cap,
        source,
    }
}
const fn i(name: &'static str, source: Source) -> Field {
    Field {
        name,
        ty: FieldType::Int,
        cap: 0,
        source,
    }
}

/// Cap of image paths (the driver's transcoding buffer).
pub const IMAGE_PATH_CAP: u16 = 1024;
/// Cap of command lines (likewise; the parent's too, kept in the driver's
/// process table).
pub const COMMAND_LINE_CAP: u16 = 2048;
/// Cap of a SID string ("S-1-5-21-" and up to 15 sub-authorities of 10 digits
/// is 184 bytes).
pub const SID_CAP: u16 = 256;
/// Cap of a submitted string (`changuard_control::submit::MAX_STR_LEN`).
pub const SUBMITTED_CAP: u16 = 1024;

use Source::{Callback, Submitted};

/// Inputs of [`PROCESS_CREATE`], as `PsSetCreateProcessNotifyRoutineEx` supplies them.
/// New fields go last, so the criterion index of every earlier field stays put.
pub const PROCESS_CREATE_FIELDS: [Field; 11] = [
    s("image_path", IMAGE_PATH_CAP, Callback),
    s("command_line", COMMAND_LINE_CAP, Callback),
    s("parent_image_path", IMAGE_PATH_CAP, Callback),
    s("user_sid", SID_CAP, Callback),
    i("pid", Callback),
    i("parent_pid", Callback),
    i("creator_pid", Callback),
    i("session_id", Callback),
    i("integrity_level", Callback),
    i("token_elevated", Callback),
    s("parent_command_line", COMMAND_LINE_CAP, Callback),
];

/// Inputs of [`NAMED_PIPE_CREATE`], the IPC template type. Twenty inputs, like
/// the real IPC template type of 19 July 2024.
pub const NAMED_PIPE_CREATE_FIELDS: [Field; 20] = [
    s("pipe_name", SUBMITTED_CAP, Submitted),
    s("creating_image_path", SUBMITTED_CAP, Submitted),
    s("creating_command_line", SUBMITTED_CAP, Submitted),
    s("client_image_path", SUBMITTED_CAP, Submitted),
    s("server_user_sid", SUBMITTED_CAP, Submitted),
    s("client_user_sid", SUBMITTED_CAP, Submitted),
    i("creating_pid", Submitted),
    i("client_pid", Submitted),
    i("creating_session_id", Submitted),
    i("client_session_id", Submitted),
    i("desired_access", Submitted),
    i("share_access", Submitted),
    i("open_mode", Submitted),
    i("pipe_mode", Submitted),
    i("max_instances", Submitted),
    i("in_buffer_size", Submitted),
    i("out_buffer_size", Submitted),
    i("default_timeout_ms", Submitted),
    i("creating_integrity_level", Submitted),
    i("is_remote", Submitted),
];

/// Process creation (template id 1).
pub const PROCESS_CREATE: TemplateType = TemplateType {
    id: 1,
    name: "ProcessCreate",
    fields: &PROCESS_CREATE_FIELDS,
};

/// Named pipe creation, the IPC template type (template id 2).
pub const NAMED_PIPE_CREATE: TemplateType = TemplateType {
    id: 2,
    name: "NamedPipeCreate",
    fields: &NAMED_PIPE_CREATE_FIELDS,
};

/// Input count of `ProcessCreate`: the length of its event arrays, fixed at compile time.
pub const PROCESS_CREATE_INPUTS: usize = PROCESS_CREATE_FIELDS.len();
/// Input count of `NamedPipeCreate`: the length of its event arrays, fixed at compile time.
pub const NAMED_PIPE_CREATE_INPUTS: usize = NAMED_PIPE_CREATE_FIELDS.len();

/// The largest input count of any template type (sizes fixed buffers).
// Evaluated at compile time only (a panic here is a build error, not a bugcheck).
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
pub const MAX_INPUTS: usize = {
    let mut max = 0;
    let mut k = 0;
    while k < TEMPLATE_TYPES.len() {
        if TEMPLATE_TYPES[k].fields.len() > max {
            max = TEMPLATE_TYPES[k].fields.len();
        }
        k += 1;
    }
    max
};

/// Every template type, sorted by id.
pub const TEMPLATE_TYPES: &[TemplateType] = &[PROCESS_CREATE, NAMED_PIPE_CREATE];

/// The template type with wire id `id`, if this schema has one.
pub fn template_type(id: u16) -> Option<&'static TemplateType> {
    TEMPLATE_TYPES.iter().find(|t| t.id == id)
}

/// The template type called `name` (exact, case-sensitive), if any.
pub fn template_type_by_name(name: &str) -> Option<&'static TemplateType> {
    TEMPLATE_TYPES.iter().find(|t| t.name == name)
}

// FNV-1a 64: tiny, const-evaluable, and good enough to tell schemas apart (this
// is an identity check, not a security boundary: the signature is).
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

const fn fnv_byte(h: u64, b: u8) -> u64 {
    (h ^ b as u64).wrapping_mul(FNV_PRIME)
}

// Evaluated at compile time only (a panic here is a build error, not a bugcheck).
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const fn fnv_str(mut h: u64, s: &str) -> u64 {
    let b = s.as_bytes();
    let mut k = 0;
    while k < b.len() {
        h = fnv_byte(h, b[k]);
        k += 1;
    }
    // Length-terminate so ("ab","c") and ("a","bc") hash differently.
    fnv_byte(h, 0xff)
}

// Evaluated at compile time only (a panic here is a build error, not a bugcheck).
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const fn schema_hash(types: &[TemplateType]) -> u64 {
    let mut h = fnv_str(FNV_OFFSET, "changuard-schema-v1");
    let mut t = 0;
    while t < types.len() {
        let ty = &types[t];
        h = fnv_byte(h, (ty.id & 0xff) as u8);
        h = fnv_byte(h, (ty.id >> 8) as u8);
        h = fnv_str(h, ty.name);
        let mut f = 0;
        while f < ty.fields.len() {
            h = fnv_byte(h, ty.fields[f].ty.code());
            h = fnv_str(h, ty.fields[f].name);
            f += 1;
        }
        h = fnv_byte(h, 0xfe);
        t += 1;
    }
    h
}

/// Identity of this schema: a hash of every template id, name, field name and
/// field type, in order. A channel file declares the schema it was built for;
/// the validator rejects any other. A field's [`Field::cap`] and
/// [`Field::source`] are not part of it: they describe this sensor build, not
/// the meaning of a criterion, and filling an empty field or changing a cap must
/// not invalidate signed content (a cap change moves the validator's cost bound,
/// which every build re-checks).
pub const SCHEMA_ID: u64 = schema_hash(TEMPLATE_TYPES);

// Compile-time checks of the table's invariants.
// Evaluated at compile time only (a panic here is a build error, not a bugcheck).
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const _: () = {
    let mut k = 1;
    while k < TEMPLATE_TYPES.len() {
        assert!(
            TEMPLATE_TYPES[k - 1].id < TEMPLATE_TYPES[k].id,
            "template ids must be sorted and unique"
        );
        k += 1;
    }
    let mut t = 0;
    while t < TEMPLATE_TYPES.len() {
        let mut f = 0;
        while f < TEMPLATE_TYPES[t].fields.len() {
            let field = &TEMPLATE_TYPES[t].fields[f];
            assert!(
                (field.cap == 0) == matches!(field.ty, FieldType::Int),
                "string fields have a cap, integers none"
            );
            f += 1;
        }
        t += 1;
    }
    assert!(
        NAMED_PIPE_CREATE_INPUTS == 20,
        "the IPC template supplies 20 inputs"
    );
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_agree_with_table() {
        for t in TEMPLATE_TYPES {
            assert_eq!(template_type(t.id), Some(t));
            assert_eq!(template_type_by_name(t.name), Some(t));
            for (k, f) in t.fields.iter().enumerate() {
                assert_eq!(t.field_index(f.name), Some(k));
            }
        }
        assert_eq!(template_type(0), None);
        assert_eq!(template_type_by_name("processcreate"), None);
        assert_eq!(MAX_INPUTS, 20);
    }

    #[test]
    fn schema_id_depends_on_every_part() {
        const F1: [Field; 2] = [s("a", 1, Callback), i("b", Callback)];
        const F2: [Field; 2] = [s("a", 1, Callback), s("b", 1, Callback)];
        const F3: [Field; 2] = [i("b", Callback), s("a", 1, Callback)];
        const F4: [Field; 3] = [s("a", 1, Callback), i("b", Callback), i("c", Callback)];
        let base = schema_hash(&[TemplateType {
            id: 1,
            name: "T",
            fields: &F1,
        }]);
        for other in [
            schema_hash(&[TemplateType {
                id: 1,
                name: "T",
                fields: &F2,
            }]),
            schema_hash(&[TemplateType {
                id: 1,
                name: "T",
                fields: &F3,
            }]),
            schema_hash(&[TemplateType {
                id: 1,
                name: "T",
                fields: &F4,
            }]),
            schema_hash(&[TemplateType {
                id: 2,
                name: "T",
                fields: &F1,
            }]),
            schema_hash(&[TemplateType {
                id: 1,
                name: "U",
                fields: &F1,
            }]),
        ] {
            assert_ne!(base, other);
        }
        assert_eq!(
            base,
            schema_hash(&[TemplateType {
                id: 1,
                name: "T",
                fields: &F1
            }])
        );
    }
}
