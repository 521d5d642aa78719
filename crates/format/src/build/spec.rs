//! What people and tools write: a channel file as a spec, and [`to_spec`]
//! to read validated content back into one.

use std::string::{String, ToString};
use std::vec::Vec;

use crate::content::{Action, Criterion, StrOp};
use crate::error::{Rejection, Rule};
use crate::validate::ValidChannel;

/// A whole channel file, as written by people and tools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelSpec {
    /// Channel id (e.g. 291).
    pub channel: u32,
    /// Content version.
    pub version: u64,
    /// Schema id; normally [`crate::SCHEMA_ID`].
    pub schema_id: u64,
    /// Template instances, in file order.
    pub instances: Vec<InstanceSpec>,
}

/// One template instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSpec {
    /// Instance id (must be strictly increasing to validate).
    pub id: u32,
    /// Template type id.
    pub template: u16,
    /// What a match does.
    pub action: Action,
    /// One criterion per input field, in field order.
    pub criteria: Vec<CriterionSpec>,
    /// AND rows: more criteria rows that must all match too (a field's
    /// further ANDed tests; docs/FORMAT.md, "Rows").
    pub also: Vec<Vec<CriterionSpec>>,
    /// UNLESS rows: the instance does not match when one of these matches in
    /// full (`selection and not filter`).
    pub unless: Vec<Vec<CriterionSpec>>,
    /// Where the instance comes from (docs/FORMAT.md, "METADATA section").
    pub metadata: MetadataSpec,
}

/// The rule an instance came from; every field optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetadataSpec {
    /// The rule's title.
    pub title: Option<String>,
    /// The rule's id.
    pub rule_id: Option<String>,
    /// The rule's author.
    pub author: Option<String>,
    /// Where the rule comes from (a URL or a path).
    pub reference: Option<String>,
}

impl From<crate::Metadata<'_>> for MetadataSpec {
    fn from(m: crate::Metadata<'_>) -> MetadataSpec {
        let own = |s: Option<&str>| s.map(str::to_string);
        MetadataSpec {
            title: own(m.title),
            rule_id: own(m.rule_id),
            author: own(m.author),
            reference: own(m.reference),
        }
    }
}

impl InstanceSpec {
    /// Every regex criterion of every row (criteria, AND rows, UNLESS rows),
    /// in the writer's order: (field index, pattern, case-insensitive).
    pub(crate) fn regexes(&self) -> impl Iterator<Item = (usize, &str, bool)> {
        let rows = core::iter::once(&self.criteria)
            .chain(&self.also)
            .chain(&self.unless);
        rows.flat_map(|row| row.iter().enumerate())
            .filter_map(|(field, c)| match c {
                CriterionSpec::Regex {
                    pattern,
                    case_insensitive,
                } => Some((field, pattern.as_str(), *case_insensitive)),
                _ => None,
            })
    }
}

impl MetadataSpec {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == MetadataSpec::default()
    }
    pub(super) fn fields(&self) -> [&Option<String>; 4] {
        [&self.title, &self.rule_id, &self.author, &self.reference]
    }
    /// The fields with their spec keys (`title`, `rule_id`, `author`,
    /// `reference`), in record order; tools print and serialize them so.
    pub fn named(&self) -> [(&'static str, Option<&str>); 4] {
        let keys = ["title", "rule_id", "author", "reference"];
        let mut out = [("", None); 4];
        for ((o, k), v) in out.iter_mut().zip(keys).zip(self.fields()) {
            *o = (k, v.as_deref());
        }
        out
    }
}

/// One criterion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CriterionSpec {
    /// Wildcard.
    Any,
    /// String test. When `case_insensitive`, the writer stores `value`
    /// ASCII-lowercased.
    Str {
        /// Which test.
        op: StrOp,
        /// The needle.
        value: String,
        /// ASCII case-insensitive.
        case_insensitive: bool,
    },
    /// Integer equality.
    IntEquals(u64),
    /// Inclusive range.
    IntRange {
        /// Lowest matching value.
        lo: u64,
        /// Highest matching value.
        hi: u64,
    },
    /// `field & mask == value`.
    IntMask {
        /// Bits tested.
        mask: u64,
        /// Expected bits.
        value: u64,
    },
    /// Regex: matches when `pattern` occurs anywhere in the field.
    Regex {
        /// Pattern source (regex crate syntax).
        pattern: String,
        /// Unicode simple case folding.
        case_insensitive: bool,
    },
}

/// Decode validated content back into a spec: `build(to_spec(v))` rebuilds
/// the same content (regexes come back from their stored sources; needles of
/// case-insensitive criteria come back lowercased, as stored).
///
/// # Errors
/// [`Rule::Internal`] if an accessor returns `None` (a validator bug).
pub fn to_spec<B: AsRef<[u8]>>(chan: &ValidChannel<B>) -> Result<ChannelSpec, Rejection> {
    let internal = |i: u32| {
        let mut r = Rejection::new(Rule::Internal, 0);
        r.instance = Some(i);
        r
    };
    let h = chan.header();
    let mut instances = Vec::new();
    for i in 0..chan.instance_count() {
        let inst = chan.instance(i).ok_or_else(|| internal(i))?;
        let mut rows: Vec<Vec<CriterionSpec>> = Vec::with_capacity(inst.row_count());
        for r in 0..inst.row_count() {
            let mut criteria = Vec::with_capacity(inst.criteria_len());
            for k in 0..inst.criteria_len() {
                let c = inst.row_criterion(r, k).ok_or_else(|| internal(i))?;
                criteria.push(match c {
                    Criterion::Any => CriterionSpec::Any,
                    Criterion::Str {
                        op,
                        needle,
                        case_insensitive,
                    } => CriterionSpec::Str {
                        op,
                        value: needle.to_string(),
                        case_insensitive,
                    },
                    Criterion::IntEquals(v) => CriterionSpec::IntEquals(v),
                    Criterion::IntRange { lo, hi } => CriterionSpec::IntRange { lo, hi },
                    Criterion::IntMask { mask, value } => CriterionSpec::IntMask { mask, value },
                    Criterion::Regex { dfa } => CriterionSpec::Regex {
                        pattern: chan
                            .dfa_pattern(dfa)
                            .ok_or_else(|| internal(i))?
                            .to_string(),
                        case_insensitive: chan
                            .dfa_case_insensitive(dfa)
                            .ok_or_else(|| internal(i))?,
                    },
                });
            }
            rows.push(criteria);
        }
        let mut rows = rows.into_iter();
        let criteria = rows.next().ok_or_else(|| internal(i))?;
        let also: Vec<_> = rows.by_ref().take(usize::from(inst.and_rows)).collect();
        let unless: Vec<_> = rows.collect();
        instances.push(InstanceSpec {
            id: inst.id,
            template: inst.template.id,
            action: inst.action,
            criteria,
            also,
            unless,
            metadata: inst.metadata().into(),
        });
    }
    Ok(ChannelSpec {
        channel: h.channel,
        version: h.version,
        schema_id: h.schema_id,
        instances,
    })
}
