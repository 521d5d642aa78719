//! `validate`: bytes in, [`ValidChannel`] or [`Rejection`] out.
//!
//! CONTRACT (public API other crates code against; the implementation of the
//! bodies is in progress):
//! - `validate` never panics, for any input, and does work linear in the input.
//! - `ValidChannel` accessors never panic; `None` means "validator bug", which
//!   callers count as a fault and fail closed on.

use crate::content::{Action, Criterion};
use crate::error::{Rejection, Rule};
use crate::schema::TemplateType;
use crate::trust::{KeyId, Trust};
use regex_automata::dfa::dense::DFA;

/// The decoded, signed header of a validated channel file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Format version.
    pub format_version: u16,
    /// Flags (no flags are defined yet; the validator requires 0).
    pub flags: u32,
    /// Channel id (e.g. 291).
    pub channel: u32,
    /// Content version, monotonic per channel.
    pub version: u64,
    /// Schema id the content was built for (equals [`crate::SCHEMA_ID`]).
    pub schema_id: u64,
    /// Key that signed it.
    pub key_id: KeyId,
}

/// Offsets of the validated sections (private; produced only by `validate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) header: Header,
}

/// A channel file that passed [`validate`]: the only thing the interpreter
/// accepts. Owns (or borrows) its bytes `B`; accessors decode on access.
#[derive(Clone, Copy, Debug)]
pub struct ValidChannel<B> {
    bytes: B,
    layout: Layout,
}

/// One template instance of a [`ValidChannel`].
#[derive(Clone, Copy, Debug)]
pub struct Instance<'a> {
    /// Position in the instance table.
    pub index: u32,
    /// Content-assigned instance id (strictly increasing within a file).
    pub id: u32,
    /// Its template type in this schema.
    pub template: &'static TemplateType,
    /// What a match asks for.
    pub action: Action,
    criteria: &'a [u8],
}

impl<'a> Instance<'a> {
    /// Number of criteria: always `template.input_count()` for validated content.
    pub fn criteria_len(&self) -> usize {
        self.template.input_count()
    }
    /// Criterion `k` (applies to field `k`).
    pub fn criterion(&self, _k: usize) -> Option<Criterion<'a>> {
        let _ = self.criteria;
        None
    }
}

impl<B: AsRef<[u8]>> ValidChannel<B> {
    /// The signed header.
    pub fn header(&self) -> Header {
        self.layout.header
    }
    /// Channel id.
    pub fn channel(&self) -> u32 {
        self.layout.header.channel
    }
    /// Content version.
    pub fn version(&self) -> u64 {
        self.layout.header.version
    }
    /// The whole file.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }
    /// A borrowed view (cheap: no re-validation).
    pub fn as_view(&self) -> ValidChannel<&[u8]> {
        ValidChannel {
            bytes: self.bytes.as_ref(),
            layout: self.layout,
        }
    }
    /// Give the buffer back.
    pub fn into_inner(self) -> B {
        self.bytes
    }
    /// Number of instances.
    pub fn instance_count(&self) -> u32 {
        0
    }
    /// Instance at table position `index`.
    pub fn instance(&self, _index: u32) -> Option<Instance<'_>> {
        None
    }
    /// Number of serialized DFAs.
    pub fn dfa_count(&self) -> u32 {
        0
    }
    /// DFA `index`, loaded with the checked `DFA::from_bytes` (O(size); callers
    /// load each DFA once when building an engine).
    pub fn dfa(&self, _index: u32) -> Option<DFA<&[u32]>> {
        None
    }
}

/// Validate `bytes` as a channel file for channel `expected_channel`, trusting `trust`.
///
/// # Errors
/// The first rule broken, in validation order (see docs/FORMAT.md).
///
/// # Panics
/// Never, for any input.
pub fn validate<B: AsRef<[u8]>>(
    bytes: B,
    trust: &Trust<'_>,
    expected_channel: u32,
) -> Result<ValidChannel<B>, Rejection> {
    let _ = (bytes.as_ref(), trust, expected_channel);
    Err(Rejection::new(Rule::Internal, 0))
}
