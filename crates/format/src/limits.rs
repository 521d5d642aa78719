//! Caps on everything that comes from input, checked before any other work
//! (TigerBeetle: "put a limit on everything"). The loader checks
//! [`MAX_FILE_LEN`] against the file size before it allocates.

/// Largest channel file accepted, in bytes.
pub const MAX_FILE_LEN: usize = 16 * 1024 * 1024;
/// Most template instances in one file.
pub const MAX_INSTANCES: u32 = 100_000;
/// Most criteria records in one file.
pub const MAX_CRITERIA: u32 = 2_000_000;
/// Most strings in one file.
pub const MAX_STRINGS: u32 = 1_000_000;
/// Longest string (needle) in bytes.
pub const MAX_STRING_LEN: u32 = 4096;
/// Most serialized DFAs in one file.
pub const MAX_DFAS: u32 = 16_384;
/// Largest single serialized DFA, in bytes.
pub const MAX_DFA_LEN: u32 = 1024 * 1024;
/// Largest total of all serialized DFAs, in bytes.
pub const MAX_TOTAL_DFA_LEN: u32 = 8 * 1024 * 1024;
/// Longest required-literal hint of a DFA, in bytes (a prefix of a required
/// literal is required too, so the writer truncates longer ones).
pub const MAX_DFA_LITERAL_LEN: u32 = 512;
/// Most members of one literal set (a required-literal hint with
/// `DFA_FLAG_LITERAL_SET`: one literal per alternation branch); the whole
/// set, separators included, is still at most [`MAX_DFA_LITERAL_LEN`] bytes.
pub const MAX_LITERAL_SET: u32 = 32;
/// Most distinct members, and their most bytes, of the union of a regex
/// group's literal sets for changuard's interpreter to anchor the group on it.
/// Not a format rule: a larger union is valid content, and its group is
/// scanned on every event instead; the writer keeps set groups within it.
pub const GROUP_SET_MEMBERS: usize = 64;
/// See [`GROUP_SET_MEMBERS`].
pub const GROUP_SET_BYTES: usize = 2048;
/// Most steps changuard's interpreter spends proving one DFA's required
/// literal or literal set ([`crate::analysis::literal_proof_steps`]). Not a
/// format rule: a hint over it is valid content that the interpreter leaves
/// unproven (its regex is then evaluated on every event); the writer picks
/// hints within it.
pub const LITERAL_PROOF_STEPS: usize = 1 << 22;
/// Most AND rows of one instance (rows of criteria that must also match: up to
/// this many more ANDed tests on one field).
pub const MAX_AND_ROWS: u8 = 7;
/// Most UNLESS rows of one instance (rows of criteria any of which, matching in
/// full, vetoes the instance: `selection and not filter`).
pub const MAX_UNLESS_ROWS: u16 = 64;
/// Most patterns in one regex group's DFA (the interpreter keeps one bit per
/// pattern of a group in a `u64`).
pub const MAX_GROUP_PATTERNS: u32 = 64;
/// Most regex groups one file may declare for one template type. With the
/// loader's 16 channels that is 256 per template type, within the
/// interpreter's per-event group cache (`changuard_interp::GROUP_SLOTS`,
/// 1,024), so each group is scanned at most once per event.
pub const MAX_GROUPS_PER_TEMPLATE: u32 = 16;
