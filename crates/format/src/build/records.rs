//! INSTANCES, CRITERIA and METADATA: the spec's records in file order, with
//! every string interned and every regex's DFA entry (or its whole group's
//! entries) laid out at its first use, which is the order the validator's
//! first-use walk expects.

use std::collections::HashMap;
use std::string::String;
use std::vec::Vec;

use super::group::{Planned, Regexes};
use super::sections::{DfaEntry, Strings, field_put, to_u32};
use super::{BuildError, ChannelSpec, CriterionSpec, InstanceSpec};
use crate::content::StrOp;
use crate::layout::{self, kind};

/// The records of a spec, and the strings and DFA entries they refer to.
pub(super) struct Records<'r> {
    pub(super) strings: Strings,
    pub(super) dfas: Vec<DfaEntry>,
    /// The entry of each (pattern, case-insensitive) laid out so far.
    dfa_index: HashMap<(String, bool), u32>,
    regexes: &'r Regexes,
    /// Groups not laid out yet (taken at their first member's first use).
    planned: Vec<Option<Planned>>,
    /// Each grouped regex's group.
    group_of: HashMap<(String, bool), usize>,
}

impl<'r> Records<'r> {
    /// Records for `regexes` (the spec's, compiled), grouped as
    /// [`Regexes::plan`] plans when `group_regexes`.
    pub(super) fn new(regexes: &'r Regexes, group_regexes: bool) -> Records<'r> {
        let (planned, group_of) = if group_regexes {
            regexes.plan()
        } else {
            (Vec::new(), HashMap::new())
        };
        Records {
            strings: Strings::default(),
            dfas: Vec::new(),
            dfa_index: HashMap::new(),
            regexes,
            planned: planned.into_iter().map(Some).collect(),
            group_of,
        }
    }

    /// The INSTANCES and CRITERIA sections, and the criteria count.
    pub(super) fn instances(
        &mut self,
        spec: &ChannelSpec,
    ) -> Result<(Vec<u8>, Vec<u8>, usize), BuildError> {
        let mut instances: Vec<u8> = Vec::new();
        let mut criteria: Vec<u8> = Vec::new();
        let mut n_criteria: usize = 0;
        for (ii, inst) in spec.instances.iter().enumerate() {
            instances.extend_from_slice(&instance_record(inst, n_criteria)?);
            let rows = core::iter::once(&inst.criteria)
                .chain(&inst.also)
                .chain(&inst.unless);
            for (fi, c) in rows.flat_map(|row| row.iter().enumerate()) {
                criteria.extend_from_slice(&self.criterion(ii, fi, c)?);
                n_criteria = n_criteria.checked_add(1).ok_or(BuildError::TooLarge {
                    what: "criteria count",
                })?;
            }
        }
        Ok((instances, criteria, n_criteria))
    }

    /// The record of criterion `fi` of instance `ii`.
    fn criterion(
        &mut self,
        ii: usize,
        fi: usize,
        c: &CriterionSpec,
    ) -> Result<[u8; layout::CRITERION_LEN], BuildError> {
        let (k, flags, index, a, b) = match c {
            CriterionSpec::Any => (kind::ANY, 0, 0, 0, 0),
            CriterionSpec::Str {
                op,
                value,
                case_insensitive,
            } => {
                if value.len() > usize::from(u16::MAX) {
                    return Err(BuildError::StringTooLong {
                        instance: ii,
                        field: fi,
                        len: value.len(),
                    });
                }
                let k = match op {
                    StrOp::Equals => kind::EQUALS,
                    StrOp::Prefix => kind::PREFIX,
                    StrOp::Suffix => kind::SUFFIX,
                    StrOp::Contains => kind::CONTAINS,
                };
                let (stored, flags) = if *case_insensitive {
                    (
                        value.to_ascii_lowercase(),
                        layout::CRITERION_FLAG_CASE_INSENSITIVE,
                    )
                } else {
                    (value.clone(), 0)
                };
                (k, flags, self.strings.intern(&stored)?, 0, 0)
            }
            CriterionSpec::IntEquals(v) => (kind::INT_EQUALS, 0, 0, *v, 0),
            CriterionSpec::IntRange { lo, hi } => (kind::INT_RANGE, 0, 0, *lo, *hi),
            CriterionSpec::IntMask { mask, value } => (kind::INT_MASK, 0, 0, *mask, *value),
            CriterionSpec::Regex {
                pattern,
                case_insensitive,
            } => (
                kind::REGEX,
                0,
                self.regex((pattern.clone(), *case_insensitive))?,
                0,
                0,
            ),
        };
        let mut rec = [0u8; layout::CRITERION_LEN];
        field_put(&mut rec, 0, layout::criterion::KIND, &[k])?;
        field_put(&mut rec, 0, layout::criterion::FLAGS, &[flags])?;
        field_put(&mut rec, 0, layout::criterion::INDEX, &index.to_le_bytes())?;
        field_put(&mut rec, 0, layout::criterion::A, &a.to_le_bytes())?;
        field_put(&mut rec, 0, layout::criterion::B, &b.to_le_bytes())?;
        Ok(rec)
    }

    /// The DFA entry of regex `key`. At its first use, the regex's entry, or
    /// its whole group's entries (members in pattern order), each with its
    /// pattern string then its literal string.
    fn regex(&mut self, key: (String, bool)) -> Result<u32, BuildError> {
        if let Some(&i) = self.dfa_index.get(&key) {
            return Ok(i);
        }
        // (regex, group word and blob when grouped)
        type Emit = (usize, Option<(u32, Vec<u8>)>);
        let group = self
            .group_of
            .get(&key)
            .and_then(|&g| self.planned.get_mut(g)?.take());
        let members: Vec<Emit> = match group {
            Some(g) => {
                let [t0, t1] = g.template.to_le_bytes();
                let mut blob = Some(g.blob);
                let mut out = Vec::new();
                for (pid, &m) in g.members.iter().enumerate() {
                    let pid =
                        u8::try_from(pid).map_err(|_| BuildError::TooLarge { what: "group" })?;
                    let word = u32::from_le_bytes([pid, g.field, t0, t1]);
                    out.push((m, Some((word, blob.take().unwrap_or_default()))));
                }
                out
            }
            None => std::vec![(self.regexes.position(&key), None)],
        };
        for (m, grouped) in members {
            let r = self
                .regexes
                .get(m)
                .ok_or(BuildError::TooLarge { what: "regex" })?;
            let pattern = self.strings.intern(&r.pattern)?;
            let literal = match &r.literal {
                Some(h) => Some((self.strings.intern(&h.text)?, h.folded, h.set)),
                None => None,
            };
            let i = to_u32(self.dfas.len(), "dfa count")?;
            let (blob, group) = match grouped {
                Some((w, b)) => (b, Some(w)),
                None => (r.blob.clone(), None),
            };
            self.dfas.push(DfaEntry {
                blob,
                pattern,
                case_insensitive: r.case_insensitive,
                literal,
                group,
            });
            self.dfa_index
                .insert((r.pattern.clone(), r.case_insensitive), i);
        }
        self.dfa_index
            .get(&key)
            .copied()
            .ok_or(BuildError::TooLarge { what: "regex" })
    }

    /// The METADATA section, empty when no instance has any. Its strings are
    /// numbered after every criterion's (the validator's first-use walk does
    /// the same), so call it after [`Records::instances`].
    pub(super) fn metadata(&mut self, spec: &ChannelSpec) -> Result<Vec<u8>, BuildError> {
        let mut metadata: Vec<u8> = Vec::new();
        if spec.instances.iter().all(|i| i.metadata.is_empty()) {
            return Ok(metadata);
        }
        for inst in &spec.instances {
            let mut rec = [0u8; layout::METADATA_LEN];
            for (r, value) in layout::metadata::ALL
                .into_iter()
                .zip(inst.metadata.fields())
            {
                let index = match value {
                    Some(v) if v.len() > usize::from(u16::MAX) => {
                        return Err(BuildError::TooLarge {
                            what: "metadata string",
                        });
                    }
                    Some(v) => self.strings.intern(v)?,
                    None => layout::NO_STRING,
                };
                field_put(&mut rec, 0, r, &index.to_le_bytes())?;
            }
            metadata.extend_from_slice(&rec);
        }
        Ok(metadata)
    }
}

/// The INSTANCES record of `inst`, whose criteria start at `first`.
fn instance_record(
    inst: &InstanceSpec,
    first: usize,
) -> Result<[u8; layout::INSTANCE_LEN], BuildError> {
    let mut rec = [0u8; layout::INSTANCE_LEN];
    let cc = u16::try_from(inst.criteria.len()).map_err(|_| BuildError::TooLarge {
        what: "criteria count",
    })?;
    use layout::instance as i;
    field_put(&mut rec, 0, i::ID, &inst.id.to_le_bytes())?;
    field_put(&mut rec, 0, i::TEMPLATE, &inst.template.to_le_bytes())?;
    field_put(&mut rec, 0, i::CRITERIA_COUNT, &cc.to_le_bytes())?;
    field_put(
        &mut rec,
        0,
        i::FIRST_CRITERION,
        &to_u32(first, "criteria count")?.to_le_bytes(),
    )?;
    field_put(&mut rec, 0, i::ACTION, &[inst.action.code()])?;
    let and_rows =
        u8::try_from(inst.also.len()).map_err(|_| BuildError::TooLarge { what: "and rows" })?;
    let unless_rows = u16::try_from(inst.unless.len()).map_err(|_| BuildError::TooLarge {
        what: "unless rows",
    })?;
    field_put(&mut rec, 0, i::AND_ROWS, &[and_rows])?;
    field_put(&mut rec, 0, i::UNLESS_ROWS, &unless_rows.to_le_bytes())?;
    Ok(rec)
}
