//! The per-rule import report: outcome, reason, and the summary table.

use serde_json::{Value as Json, json};
use std::collections::BTreeMap;

/// What happened to one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Converted exactly.
    Imported,
    /// Converted, with the stated approximation.
    Approximated(String),
    /// Not converted, with the reason.
    Refused(String),
}

impl Outcome {
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Imported => "imported",
            Outcome::Approximated(_) => "approximated",
            Outcome::Refused(_) => "refused",
        }
    }
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Imported => None,
            Outcome::Approximated(r) | Outcome::Refused(r) => Some(r),
        }
    }
}

/// One rule's line in the report.
#[derive(Clone, Debug)]
pub struct RuleReport {
    pub file: String,
    pub id: String,
    pub title: String,
    pub author: String,
    pub outcome: Outcome,
    /// Extra detail (a compiler message, the offending value); not a bucket key.
    pub detail: Option<String>,
    /// The channel its instances went to.
    pub channel: Option<u32>,
    /// Instance ids written for it (in that channel).
    pub instances: Vec<u32>,
}

impl RuleReport {
    pub fn json(&self) -> Json {
        json!({
            "file": self.file,
            "id": self.id,
            "title": self.title,
            "author": self.author,
            "outcome": self.outcome.name(),
            "reason": self.outcome.reason(),
            "detail": self.detail,
            "channel": self.channel,
            "instances": self.instances,
        })
    }
}

/// The approximation of a rule whose OR alternatives test fields the sensor
/// does not have; the rule's own statement adds `: Field, Field`.
pub const DROPPED_FIELDS: &str = "drops the alternatives on fields the sensor lacks (a binary caught only through them is missed)";

/// The approximation of a rule whose exclusions (`not filter`) have
/// alternatives on fields the sensor does not have: those alternatives are
/// not applied, so the exclusion is narrower and the rule may match more;
/// the rule's own statement adds `: Field, Field`.
pub const DROPPED_FILTER_FIELDS: &str = "does not apply filter alternatives on fields the sensor lacks (may report what the rule excludes)";

/// A reason as a bucket: the list of dropped fields is per rule, not per bucket.
fn bucket(reason: &str) -> String {
    reason
        .split("; ")
        .map(|part| {
            if part.starts_with(DROPPED_FIELDS) {
                DROPPED_FIELDS
            } else if part.starts_with(DROPPED_FILTER_FIELDS) {
                DROPPED_FILTER_FIELDS
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Counts by (outcome, reason).
pub fn buckets(rules: &[RuleReport]) -> BTreeMap<(&'static str, String), usize> {
    let mut m = BTreeMap::new();
    for r in rules {
        *m.entry((r.outcome.name(), bucket(r.outcome.reason().unwrap_or(""))))
            .or_insert(0) += 1;
    }
    m
}

/// The text summary: totals per outcome, then per reason (largest first).
pub fn summary(rules: &[RuleReport]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let count = |o: &str| rules.iter().filter(|r| r.outcome.name() == o).count();
    let _ = writeln!(
        out,
        "{} rules: {} imported, {} approximated, {} refused",
        rules.len(),
        count("imported"),
        count("approximated"),
        count("refused")
    );
    let mut b: Vec<_> = buckets(rules).into_iter().collect();
    b.sort_by(|a, c| a.0.0.cmp(c.0.0).then(c.1.cmp(&a.1)).then(a.0.1.cmp(&c.0.1)));
    let _ = writeln!(out, "{:>6}  {:<13} reason", "rules", "outcome");
    for ((o, r), n) in b {
        let _ = writeln!(out, "{n:>6}  {o:<13} {r}");
    }
    out
}
