//! Sensor events: exactly the inputs the sensor supplies, one fixed-size array
//! per template type whose length is the schema's constant.
//!
//! The array length makes "the content asks for input 21 of 20" a type error on
//! the sensor side; the interpreter still checks every access (the content
//! side is only proved by the validator, and a proof checked twice is cheap).

use changuard_format::schema::{
    self, FieldType, NAMED_PIPE_CREATE_INPUTS, PROCESS_CREATE_INPUTS, TemplateType,
};

/// One input value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'e> {
    /// A string input (UTF-8; the driver transcodes UTF-16 with
    /// [`crate::text::utf16_to_utf8`]).
    Str(&'e str),
    /// An integer input.
    Int(u64),
}

impl Value<'_> {
    /// The schema type this value has.
    pub const fn field_type(&self) -> FieldType {
        match self {
            Value::Str(_) => FieldType::Str,
            Value::Int(_) => FieldType::Int,
        }
    }
}

/// A sensor event: one variant per template type, holding exactly that type's
/// inputs in schema field order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'e> {
    /// `ProcessCreate` (template id 1).
    ProcessCreate([Value<'e>; PROCESS_CREATE_INPUTS]),
    /// `NamedPipeCreate`, the IPC template type (template id 2).
    NamedPipeCreate([Value<'e>; NAMED_PIPE_CREATE_INPUTS]),
}

impl<'e> Event<'e> {
    /// The template type of this event.
    pub fn template(&self) -> &'static TemplateType {
        match self {
            Event::ProcessCreate(_) => &schema::PROCESS_CREATE,
            Event::NamedPipeCreate(_) => &schema::NAMED_PIPE_CREATE,
        }
    }

    /// The inputs, in schema field order.
    pub fn values(&self) -> &[Value<'e>] {
        match self {
            Event::ProcessCreate(v) => v,
            Event::NamedPipeCreate(v) => v,
        }
    }

    /// Build an event of template type `template_id` from `values`.
    ///
    /// Returns `None` when the template id is unknown or `values.len()` is not
    /// that type's input count. Value *types* are not checked here: a
    /// mismatched value is counted as a fault at evaluation (so a sensor bug
    /// shows up in telemetry instead of being dropped silently).
    pub fn from_values(template_id: u16, values: &[Value<'e>]) -> Option<Event<'e>> {
        if template_id == schema::PROCESS_CREATE.id {
            <[Value<'e>; PROCESS_CREATE_INPUTS]>::try_from(values)
                .ok()
                .map(Event::ProcessCreate)
        } else if template_id == schema::NAMED_PIPE_CREATE.id {
            <[Value<'e>; NAMED_PIPE_CREATE_INPUTS]>::try_from(values)
                .ok()
                .map(Event::NamedPipeCreate)
        } else {
            None
        }
    }

    /// Bit `k` set when value `k` does not have the schema's type for field
    /// `k` (or the schema has no field `k`). Shared by the engine and the
    /// reference so that both count type faults identically.
    pub(crate) fn type_fault_mask(&self) -> u64 {
        let fields = self.template().fields;
        let mut mask = 0u64;
        for (k, v) in self.values().iter().enumerate() {
            let ok = fields.get(k).is_some_and(|f| f.ty == v.field_type());
            if !ok {
                mask |= 1u64
                    .checked_shl(u32::try_from(k).unwrap_or(u32::MAX))
                    .unwrap_or(0);
            }
        }
        mask
    }
}

// Field bitmasks are u64: every template type must fit.
const _: () = assert!(schema::MAX_INPUTS <= 64, "field masks are u64");
