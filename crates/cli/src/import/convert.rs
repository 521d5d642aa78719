//! One Sigma rule to changuard instances: field tests to criteria, the
//! condition to DNF terms, a term's positive selections to rows 0 and AND
//! rows, its negated selections to UNLESS rows (docs/FORMAT.md, "Rows").

use super::condition::{self, CondError, Dnf, Expr};
use super::modifiers::{self, Elem, MatchType};
use super::{MAX_ALTERNATION_LEN, MAX_INSTANCES_PER_RULE, Refusal, refuse, report, yaml};
use changuard_format::build::{CriterionSpec, InstanceSpec};
use changuard_format::schema::PROCESS_CREATE;
use changuard_format::{Action, limits};
use serde_yaml_ng::Value;
use std::cell::RefCell;
use std::collections::BTreeSet;

/// One field test within a conjunct.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Atom {
    field: usize,
    crit: CriterionSpec,
    /// For unanchored, `*`-free patterns: the elements (so several can be
    /// combined into one "contains all" regex).
    needle: Option<Vec<Elem>>,
}

/// Where a Sigma field goes.
pub(super) enum Target {
    Str(usize),
    Integrity(usize),
}

/// The sensor field a Sigma field maps to; `None` when the sensor has none.
pub(super) fn field_target(name: &str) -> Option<Target> {
    let idx = |n: &str| PROCESS_CREATE.field_index(n);
    match name {
        "Image" => idx("image_path").map(Target::Str),
        "CommandLine" => idx("command_line").map(Target::Str),
        "ParentImage" => idx("parent_image_path").map(Target::Str),
        "ParentCommandLine" => idx("parent_command_line").map(Target::Str),
        "IntegrityLevel" => idx("integrity_level").map(Target::Integrity),
        _ => None,
    }
}

/// Why a rule that only tests fields the sensor lacks is refused.
pub(super) fn missing_field_reason(name: &str) -> String {
    match name {
        "User" => "needs field User (an account name; the sensor has user_sid)".into(),
        _ => format!("needs field {name}"),
    }
}

/// Sysmon's IntegrityLevel names and the mandatory-label RIDs they stand for.
pub(super) const INTEGRITY: &[(&str, u64)] = &[
    ("untrusted", 0x0000),
    ("low", 0x1000),
    ("medium", 0x2000),
    ("high", 0x3000),
    ("system", 0x4000),
];

pub(super) fn integrity_rid(v: &str) -> Option<u64> {
    if let Some(n) = v.strip_prefix("S-1-16-") {
        return n.parse().ok();
    }
    INTEGRITY
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(v))
        .map(|(_, r)| *r)
}

pub(super) fn scalar(v: &Value) -> Result<String, Refusal> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err(refuse("needs a null (field absent or empty) test")),
        _ => Err(refuse("needs a nested value (not a string)")),
    }
}

/// One `Field|mods: value(s)` entry as DNF.
pub(super) fn entry_dnf(key: &str, value: &Value, ctx: &Ctx) -> Result<Dnf<Atom>, Refusal> {
    let approx = &ctx.approx;
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or("");
    let mods: Vec<&str> = parts.collect();
    let mut m = modifiers::parse_mods(&mods).map_err(refuse)?;
    let Some(target) = field_target(field) else {
        // A test on a field the sensor lacks is taken as false: an empty DNF.
        // In a selection used positively the rule can only match less; in a
        // negated one (a filter) the exclusion is narrower and the rule may
        // match more. The caller states which (`Selections::get`).
        let mut missing = ctx.missing.borrow_mut();
        if !missing.iter().any(|f| f == field) {
            missing.push(field.to_string());
        }
        return Ok(Vec::new());
    };
    m.expand_windash = ctx.expand_windash;
    let values: Vec<&Value> = match value {
        Value::Sequence(xs) => xs.iter().collect(),
        v => vec![v],
    };
    if values.is_empty() {
        return Err(refuse("needs an empty value list"));
    }
    let mut per_value: Vec<Dnf<Atom>> = Vec::with_capacity(values.len());
    // Every value's patterns, for merging them into one alternation.
    let mut all_pats: Vec<modifiers::Pat> = Vec::new();
    for v in values {
        let s = match (v, &target) {
            (Value::Null, Target::Str(_))
                if m.ty == MatchType::Equals && m.encodings.is_empty() =>
            {
                approx.borrow_mut().insert(NULL_AS_EMPTY.into());
                String::new()
            }
            _ => scalar(v)?,
        };
        let alts: Vec<Atom> = match target {
            Target::Integrity(field) => {
                if m.ty != MatchType::Equals || m.windash || !m.encodings.is_empty() {
                    return Err(refuse("needs IntegrityLevel with a modifier"));
                }
                let rid = integrity_rid(&s)
                    .ok_or_else(|| (format!("needs IntegrityLevel value {s}"), None))?;
                vec![Atom {
                    field,
                    crit: CriterionSpec::IntEquals(rid),
                    needle: None,
                }]
            }
            Target::Str(field) => {
                if m.ty == MatchType::Re {
                    let crit = modifiers::regex_value(&s, &m)
                        .map_err(|e| (e, Some(format!("{key}: {s}"))))?;
                    if m.re_i || s.contains("(?i") {
                        approx.borrow_mut().insert(
                            "regex case-insensitivity uses Unicode simple case folding (PCRE: ASCII)"
                                .into(),
                        );
                    }
                    vec![Atom {
                        field,
                        crit,
                        needle: None,
                    }]
                } else {
                    let pats = modifiers::value_pats(&s, &m).map_err(refuse)?;
                    all_pats.extend(pats.iter().cloned());
                    pats.into_iter()
                        .map(|p| Atom {
                            field,
                            crit: modifiers::lower(&p),
                            needle: (!p.start && !p.end && !p.elems.contains(&Elem::Star))
                                .then(|| p.elems.clone()),
                        })
                        .collect()
                }
            }
        };
        per_value.push(alts.into_iter().map(|a| vec![a]).collect());
    }
    // Alternatives on one field as one exact regex: one instance (or UNLESS
    // row) instead of one per value, when the rule expands too far otherwise.
    if let Target::Str(field) = target {
        let alts: usize = per_value.iter().map(Vec::len).sum();
        if ctx.merge_alts && !m.all && m.ty != MatchType::Re && alts > 1 {
            return Ok(modifiers::alternation(&all_pats, MAX_ALTERNATION_LEN)
                .into_iter()
                .map(|crit| {
                    vec![Atom {
                        field,
                        crit,
                        needle: None,
                    }]
                })
                .collect());
        }
    }
    let cap = MAX_INSTANCES_PER_RULE;
    if m.all {
        condition::dnf_and(per_value, cap)
    } else {
        condition::dnf_or(per_value, cap)
    }
    .map_err(|e| refuse(e.to_string()))
}

/// A selection (a map of field tests, or a list of such maps = OR) as DNF.
pub(super) fn selection_dnf(v: &Value, ctx: &Ctx) -> Result<Dnf<Atom>, Refusal> {
    let cap = MAX_INSTANCES_PER_RULE;
    match v {
        Value::Mapping(m) => {
            if m.is_empty() {
                return Err(refuse("needs an empty selection"));
            }
            let mut parts = Vec::with_capacity(m.len());
            for (k, v) in m {
                let Value::String(k) = k else {
                    return Err(refuse("needs a non-string field name"));
                };
                parts.push(entry_dnf(k, v, ctx)?);
            }
            condition::dnf_and(parts, cap).map_err(|e| refuse(e.to_string()))
        }
        Value::Sequence(xs) if !xs.is_empty() && xs.iter().all(|x| x.is_mapping()) => {
            let parts = xs
                .iter()
                .map(|x| selection_dnf(x, ctx))
                .collect::<Result<Vec<_>, _>>()?;
            condition::dnf_or(parts, cap).map_err(|e| refuse(e.to_string()))
        }
        _ => Err(refuse("needs keyword search (values without a field)")),
    }
}

/// Conversion settings and what a conversion noticed on the way.
pub(super) struct Ctx {
    expand_windash: bool,
    /// Merge a field's OR-ed values into one regex alternation.
    merge_alts: bool,
    approx: RefCell<BTreeSet<String>>,
    /// Fields the rule tests that the sensor does not have, first use first.
    missing: RefCell<Vec<String>>,
}

/// Approximation: Sigma's `null` (the field is absent) as an empty value; the
/// sensor always supplies its fields, empty when the kernel had none.
pub const NULL_AS_EMPTY: &str = "takes a null test (field absent) as the field being empty";

/// Refusal: a negated selection whose every alternative tests a field the
/// sensor lacks, so nothing of the filter would remain.
pub const FILTER_ONLY_MISSING: &str = "needs a filter that tests only fields the sensor lacks (without it the rule reports what it excludes)";
/// Refusal: a term of the condition (after De Morgan) has only negated
/// selections, so it would match every process but a few.
pub const NO_POSITIVE: &str = "needs a condition with no positive selection";
/// Refusal: an instance would need more UNLESS rows than the format allows.
pub const UNLESS_CAP: &str = "needs more than 64 UNLESS rows (filter alternatives) in one instance";
/// Refusal: more ANDed tests on one field than row 0 and the AND rows hold.
pub const AND_CAP: &str = "needs more than 8 ANDed tests on one field";
/// One field's distinct tests within a conjunct, fields in order.
pub(super) fn per_field(atoms: &[Atom]) -> Vec<(usize, Vec<&Atom>)> {
    let mut fields: Vec<usize> = atoms.iter().map(|a| a.field).collect();
    fields.sort_unstable();
    fields.dedup();
    fields
        .into_iter()
        .map(|f| {
            let mut mine: Vec<&Atom> = Vec::new();
            for a in atoms.iter().filter(|a| a.field == f) {
                if a.crit != CriterionSpec::Any && !mine.iter().any(|m| m.crit == a.crit) {
                    mine.push(a);
                }
            }
            (f, mine)
        })
        .collect()
}

/// A positive conjunct's atoms as row 0 (`criteria`) and AND rows (`also`):
/// a field's first test in row 0, its second in `also[0]`, and so on (the
/// validator's canonical top-down form).
pub(super) fn conjunct_rows(
    atoms: &[Atom],
) -> Result<(Vec<CriterionSpec>, Vec<Vec<CriterionSpec>>), Refusal> {
    let n = PROCESS_CREATE.input_count();
    let fields = per_field(atoms);
    let depth = fields
        .iter()
        .map(|(_, m)| m.len())
        .max()
        .unwrap_or(0)
        .max(1);
    if depth > 1 + usize::from(limits::MAX_AND_ROWS) {
        return Err(refuse(AND_CAP));
    }
    let mut rows = vec![vec![CriterionSpec::Any; n]; depth];
    for (f, mine) in fields {
        for (row, a) in rows.iter_mut().zip(mine) {
            if let Some(slot) = row.get_mut(f) {
                *slot = a.crit.clone();
            }
        }
    }
    let criteria = rows.remove(0);
    Ok((criteria, rows))
}

/// A filter conjunct's atoms as UNLESS rows that exclude together: the
/// conjunct holds when every one of the rows matches. Several tests on one
/// field are merged into one exact "contains all" regex where they are plain
/// substrings; otherwise the field's first test goes to the first row, its
/// second to the second, and so on (other fields' tests repeat), so that
/// the rows' conjunction is the conjunct. An UNLESS row has no AND rows of
/// its own, so more than one row here costs one instance per row (see
/// `convert_with`). `None` when the conjunct tests nothing (the filter
/// matches every process).
pub(super) fn unless_rows(atoms: &[Atom]) -> Option<Vec<Vec<CriterionSpec>>> {
    let mut tests: Vec<(usize, Vec<CriterionSpec>)> = Vec::new();
    for (f, mine) in per_field(atoms) {
        let crits = match mine.as_slice() {
            [] => continue,
            [one] => vec![one.crit.clone()],
            many => {
                let needles: Option<Vec<Vec<Elem>>> =
                    many.iter().map(|a| a.needle.clone()).collect();
                match needles.map(|n| modifiers::contains_all(&n)) {
                    Some(Ok(CriterionSpec::Any)) => continue,
                    Some(Ok(c)) => vec![c],
                    _ => many.iter().map(|a| a.crit.clone()).collect(),
                }
            }
        };
        tests.push((f, crits));
    }
    let depth = tests.iter().map(|(_, c)| c.len()).max()?;
    let rows = (0..depth)
        .map(|j| {
            let mut row = vec![CriterionSpec::Any; PROCESS_CREATE.input_count()];
            for (f, crits) in &tests {
                let c = crits.get(j).or(crits.last());
                if let (Some(slot), Some(c)) = (row.get_mut(*f), c) {
                    *slot = c.clone();
                }
            }
            row
        })
        .collect();
    Some(rows)
}

/// A rule's instances (ids unset) and its approximation, if any. Windash
/// values are first expanded into literal variants (no DFA); if that takes
/// the rule past the instance or UNLESS-row limit, they become dash-class
/// regexes instead, and if it still does, each field's OR-ed values become
/// one regex alternation.
pub(super) fn convert(
    rule: &yaml::SigmaRule,
) -> Result<(Vec<InstanceSpec>, Option<String>), Refusal> {
    let too_many =
        |r: &str| r == CondError::TooMany(MAX_INSTANCES_PER_RULE).to_string() || r == UNLESS_CAP;
    match convert_with(rule, true, false) {
        Err((r, _)) if too_many(&r) => match convert_with(rule, false, false) {
            Err((r, _)) if too_many(&r) => convert_with(rule, false, true),
            other => other,
        },
        other => other,
    }
}

/// A selection's DNF and the fields the sensor lacks that it dropped.
type Expanded = (Dnf<Atom>, Vec<String>);

/// Each selection's DNF, computed once, and the fields the sensor lacks that
/// were dropped from selections used positively and negatively.
pub(super) struct Selections<'r> {
    rule: &'r yaml::SigmaRule,
    ctx: &'r Ctx,
    done: Vec<(String, Result<Expanded, Refusal>)>,
    pos_missing: Vec<String>,
    neg_missing: Vec<String>,
}

impl Selections<'_> {
    /// The fields the sensor lacks that selection `name` tests (once computed).
    fn missing_of(&self, name: &str) -> Vec<String> {
        self.done
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, r)| r.as_ref().ok())
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Selection `name`'s DNF, used negated when `neg`.
    fn get(&mut self, name: &str, neg: bool) -> Result<Dnf<Atom>, Refusal> {
        if !self.done.iter().any(|(n, _)| n == name) {
            let v = self
                .rule
                .selections
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v)
                .ok_or_else(|| refuse(CondError::Unknown(name.to_string()).to_string()))?;
            self.ctx.missing.borrow_mut().clear();
            let r = selection_dnf(v, self.ctx).map(|d| (d, self.ctx.missing.take()));
            self.done.push((name.to_string(), r));
        }
        let Some((_, r)) = self.done.iter().find(|(n, _)| n == name) else {
            return Err(refuse(CondError::Unknown(name.to_string()).to_string()));
        };
        match r {
            Ok((d, missing)) => {
                let into = if neg {
                    &mut self.neg_missing
                } else {
                    &mut self.pos_missing
                };
                for f in missing {
                    if !into.contains(f) {
                        into.push(f.clone());
                    }
                }
                Ok(d.clone())
            }
            Err((r, _)) if neg && *r == CondError::TooMany(MAX_INSTANCES_PER_RULE).to_string() => {
                Err(refuse(UNLESS_CAP))
            }
            Err(e) => Err(e.clone()),
        }
    }
}

pub(super) fn convert_with(
    rule: &yaml::SigmaRule,
    expand_windash: bool,
    merge_alts: bool,
) -> Result<(Vec<InstanceSpec>, Option<String>), Refusal> {
    if !rule.product.eq_ignore_ascii_case("windows") {
        return Err(refuse(format!("needs logsource product {}", rule.product)));
    }
    if !rule.category.eq_ignore_ascii_case("process_creation") {
        return Err(refuse(format!(
            "needs logsource category {}",
            rule.category
        )));
    }
    if !rule.service.is_empty() {
        return Err(refuse(format!("needs logsource service {}", rule.service)));
    }
    if rule.timeframe {
        return Err(refuse("needs aggregation (timeframe)"));
    }
    let mut exprs = Vec::with_capacity(rule.conditions.len());
    for c in &rule.conditions {
        exprs.push(condition::parse(c).map_err(|e| (e.to_string(), Some(c.clone())))?);
    }
    let expr = if exprs.len() == 1 {
        exprs.remove(0)
    } else {
        Expr::Or(exprs)
    };
    let names: Vec<String> = rule.selections.iter().map(|(n, _)| n.clone()).collect();
    // The condition over selections and negated selections, in DNF: each
    // term's positive selections give the instances, its negated ones the
    // UNLESS rows every one of those instances carries.
    let terms = condition::expand_lits(&expr, &names, false, MAX_INSTANCES_PER_RULE)
        .map_err(|e| refuse(e.to_string()))?;
    if terms.iter().any(|t| t.iter().all(|l| l.neg)) {
        return Err(refuse(NO_POSITIVE));
    }
    let ctx = Ctx {
        expand_windash,
        merge_alts,
        approx: RefCell::new(BTreeSet::new()),
        missing: RefCell::new(Vec::new()),
    };
    let mut sels = Selections {
        rule,
        ctx: &ctx,
        done: Vec::new(),
        pos_missing: Vec::new(),
        neg_missing: Vec::new(),
    };
    let cap = MAX_INSTANCES_PER_RULE;
    let mut insts: Vec<InstanceSpec> = Vec::new();
    'terms: for term in &terms {
        let mut pos = Vec::new();
        for l in term.iter().filter(|l| !l.neg) {
            pos.push(sels.get(&l.name, false)?);
        }
        let conjuncts = condition::dnf_and(pos, cap).map_err(|e| refuse(e.to_string()))?;
        // Every instance of the term gets one UNLESS row per filter
        // alternative; a filter alternative that needs several rows (ANDed
        // tests on one field) is `not (r1 and r2)` = `not r1 or not r2`, one
        // set of instances per row.
        let mut variants: Vec<Vec<Vec<CriterionSpec>>> = vec![Vec::new()];
        for l in term.iter().filter(|l| l.neg) {
            let filter = sels.get(&l.name, true)?;
            // Every alternative of the filter was on fields the sensor lacks:
            // without it the rule would report all the filter exists to
            // exclude (often most processes), so it is refused, not
            // approximated.
            if filter.is_empty() {
                let fields = sels.missing_of(&l.name).join(", ");
                return Err(refuse(format!("{FILTER_ONLY_MISSING}: {fields}")));
            }
            for conj in filter {
                // `not (always true)`: this term never matches.
                let Some(rows) = unless_rows(&conj) else {
                    continue 'terms;
                };
                let n = variants.len().saturating_mul(rows.len());
                if n.saturating_mul(conjuncts.len()) > cap {
                    return Err(refuse(CondError::TooMany(cap).to_string()));
                }
                let mut next = Vec::with_capacity(n);
                for v in &variants {
                    for r in &rows {
                        let mut v = v.clone();
                        if !v.contains(r) {
                            v.push(r.clone());
                        }
                        next.push(v);
                    }
                }
                variants = next;
            }
        }
        if variants
            .iter()
            .any(|v| v.len() > usize::from(limits::MAX_UNLESS_ROWS))
        {
            return Err(refuse(UNLESS_CAP));
        }
        for (conj, unless) in conjuncts
            .iter()
            .flat_map(|c| variants.iter().map(move |u| (c, u)))
        {
            let (criteria, also) = conjunct_rows(conj)?;
            if also.is_empty() && criteria.iter().all(|c| *c == CriterionSpec::Any) {
                return Err(refuse("needs no field test at all (matches every process)"));
            }
            let inst = InstanceSpec {
                id: 0,
                template: PROCESS_CREATE.id,
                action: Action::Report,
                criteria,
                also,
                unless: unless.clone(),
                metadata: Default::default(),
            };
            if !insts.contains(&inst) {
                insts.push(inst);
                if insts.len() > cap {
                    return Err(refuse(CondError::TooMany(cap).to_string()));
                }
            }
        }
    }
    let (pos_missing, neg_missing) = (sels.pos_missing, sels.neg_missing);
    if insts.is_empty() {
        return Err(refuse(pos_missing.first().map_or_else(
            || "matches nothing".to_string(),
            |f| missing_field_reason(f),
        )));
    }
    if !pos_missing.is_empty() {
        ctx.approx.borrow_mut().insert(format!(
            "{}: {}",
            report::DROPPED_FIELDS,
            pos_missing.join(", ")
        ));
    }
    if !neg_missing.is_empty() {
        ctx.approx.borrow_mut().insert(format!(
            "{}: {}",
            report::DROPPED_FILTER_FIELDS,
            neg_missing.join(", ")
        ));
    }
    let approx: Vec<String> = ctx.approx.into_inner().into_iter().collect();
    Ok((insts, (!approx.is_empty()).then(|| approx.join("; "))))
}
