//! Human-readable content specs (TOML) and their compilation into
//! [`changuard_format::build::ChannelSpec`].
//!
//! A spec names criteria by field (`[instance.criteria] pipe_name = { contains = "x" }`);
//! fields left out are wildcards, so a well-formed spec always has exactly the
//! template's input count. A `positional = [...]` list states every criterion
//! in field order instead; it exists so real-world content, including the
//! channel 291 replay (21 criteria on a 20-input template), can be written
//! down and shown to be rejected by the validator.
//!
//! Every error carries the byte span of the TOML it is about, so it is
//! reported with the line and column.

use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec, MetadataSpec};
use changuard_format::schema::{self, FieldType, TemplateType};
use changuard_format::{Action, Rule, StrOp};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::Spanned;

/// Errors in spec terms for what the writer or the validator would refuse.
#[path = "spec_errors.rs"]
pub mod errors;
pub use errors::check;

/// A spec error: message plus the byte span in the TOML source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub message: String,
    pub span: Option<Range<usize>>,
    /// The validator rule the content would break ([`check`]); `None` for
    /// errors that make the spec unbuildable (syntax, names, types, regexes).
    pub rule: Option<Rule>,
}

impl SpecError {
    pub(crate) fn at(span: Range<usize>, message: impl Into<String>) -> SpecError {
        SpecError {
            message: message.into(),
            span: Some(span),
            rule: None,
        }
    }
}

/// Where each part of a parsed spec is in its TOML source (byte ranges), so
/// problems found after parsing ([`check`], the writer, the validator) can be
/// shown at the line that caused them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecSpans {
    /// The `schema_id` value, if the spec overrides it.
    pub schema_id: Option<Range<usize>>,
    /// Per instance, in spec (= file) order.
    pub instances: Vec<InstanceSpans>,
}

/// Spans of one `[[instance]]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceSpans {
    /// The `id` value.
    pub id: Range<usize>,
    /// The `template` value.
    pub template: Range<usize>,
    /// The `action` value, if written.
    pub action: Option<Range<usize>>,
    /// The `positional` list, if the instance uses one.
    pub positional: Option<Range<usize>>,
    /// Per criterion index (field order): the criterion as written; `None`
    /// for a wildcard left out.
    pub criteria: Vec<Option<Range<usize>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecToml {
    channel: Spanned<u32>,
    version: Spanned<u64>,
    /// Override of the schema id (for fixtures that must be rejected); a
    /// decimal integer or a `0x` hex string.
    schema_id: Option<Spanned<toml::Value>>,
    #[serde(default, rename = "instance")]
    instances: Vec<Spanned<InstanceToml>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceToml {
    id: Spanned<u32>,
    template: Spanned<String>,
    #[serde(default)]
    action: Option<Spanned<String>>,
    #[serde(default)]
    criteria: BTreeMap<Spanned<String>, Spanned<CriterionToml>>,
    #[serde(default)]
    positional: Option<Spanned<Vec<Spanned<CriterionToml>>>>,
    /// Where the instance comes from: carried in the file's METADATA section
    /// and shown with every match.
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    rule_id: Option<String>,
    #[serde(default)]
    author: Option<String>,
    #[serde(default)]
    reference: Option<String>,
    /// AND rows (`[[instance.also]]`), by field name.
    #[serde(default)]
    also: Vec<RowToml>,
    /// UNLESS rows (`[[instance.unless]]`), by field name.
    #[serde(default)]
    unless: Vec<RowToml>,
}

/// Where each criterion of a row is in the source (`None` for a wildcard left out).
type RowSpans = Vec<Option<Range<usize>>>;

/// One AND or UNLESS row: field name -> criterion.
type RowToml = BTreeMap<Spanned<String>, Spanned<CriterionToml>>;

/// One criterion as written: exactly one operation key, plus options.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CriterionToml {
    any: Option<bool>,
    equals: Option<toml::Value>,
    prefix: Option<String>,
    suffix: Option<String>,
    contains: Option<String>,
    regex: Option<Spanned<String>>,
    range: Option<[u64; 2]>,
    mask: Option<u64>,
    value: Option<u64>,
    #[serde(default)]
    case_insensitive: bool,
}

/// Parse a TOML spec into a [`ChannelSpec`].
///
/// # Errors
/// A [`SpecError`] with the span of the offending TOML.
pub fn parse(src: &str) -> Result<ChannelSpec, SpecError> {
    parse_spanned(src).map(|(spec, _)| spec)
}

/// [`parse`], also returning where each instance and criterion is in `src`.
///
/// # Errors
/// A [`SpecError`] with the span of the offending TOML.
pub fn parse_spanned(src: &str) -> Result<(ChannelSpec, SpecSpans), SpecError> {
    let doc: SpecToml = toml::from_str(src).map_err(|e| SpecError {
        message: e.message().to_string(),
        span: e.span(),
        rule: None,
    })?;
    let schema_id = match &doc.schema_id {
        None => schema::SCHEMA_ID,
        Some(v) => parse_u64_value(v.get_ref()).ok_or_else(|| {
            SpecError::at(
                v.span(),
                "schema_id must be an integer or a \"0x...\" hex string",
            )
        })?,
    };
    let mut instances = Vec::with_capacity(doc.instances.len());
    let mut spans = SpecSpans {
        schema_id: doc.schema_id.as_ref().map(Spanned::span),
        instances: Vec::with_capacity(doc.instances.len()),
    };
    for inst in &doc.instances {
        let (i, s) = instance(inst, src)?;
        instances.push(i);
        spans.instances.push(s);
    }
    Ok((
        ChannelSpec {
            channel: *doc.channel.get_ref(),
            version: *doc.version.get_ref(),
            schema_id,
            instances,
        },
        spans,
    ))
}

fn parse_u64_value(v: &toml::Value) -> Option<u64> {
    match v {
        toml::Value::Integer(i) => u64::try_from(*i).ok(),
        toml::Value::String(s) => {
            let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
            u64::from_str_radix(&hex.replace('_', ""), 16).ok()
        }
        _ => None,
    }
}

fn instance(
    inst: &Spanned<InstanceToml>,
    src: &str,
) -> Result<(InstanceSpec, InstanceSpans), SpecError> {
    let i = inst.get_ref();
    let mut spans = InstanceSpans {
        id: i.id.span(),
        template: i.template.span(),
        action: i.action.as_ref().map(Spanned::span),
        positional: i.positional.as_ref().map(Spanned::span),
        criteria: Vec::new(),
    };
    let tname = i.template.get_ref();
    let template: &TemplateType = schema::template_type_by_name(tname).ok_or_else(|| {
        let known: Vec<&str> = schema::TEMPLATE_TYPES.iter().map(|t| t.name).collect();
        SpecError::at(
            i.template.span(),
            format!(
                "unknown template type `{tname}` (this schema has: {})",
                known.join(", ")
            ),
        )
    })?;
    let action = match &i.action {
        None => Action::Report,
        Some(a) => [Action::Report, Action::BlockCandidate, Action::TestCrash]
            .into_iter()
            .find(|x| x.name() == a.get_ref())
            .ok_or_else(|| {
                SpecError::at(
                    a.span(),
                    format!(
                        "unknown action `{}` (report, block-candidate, test-crash)",
                        a.get_ref()
                    ),
                )
            })?,
    };
    let criteria = match &i.positional {
        Some(list) => {
            if !i.criteria.is_empty() {
                return Err(SpecError::at(
                    list.span(),
                    "an instance has either `criteria` (by field name) or `positional`, not both",
                ));
            }
            // Positional criteria beyond the template's inputs are kept as
            // written (typed as the last field would be irrelevant): the
            // validator, not the spec parser, is the judge of content.
            let mut out = Vec::with_capacity(list.get_ref().len());
            for (k, c) in list.get_ref().iter().enumerate() {
                let ty = template.fields.get(k).map(|f| f.ty);
                out.push(criterion(c, ty, None, src)?);
                spans.criteria.push(Some(c.span()));
            }
            out
        }
        None => {
            let (out, row_spans) = row_by_name(template, &i.criteria, src)?;
            spans.criteria = row_spans;
            out
        }
    };
    let rows = |list: &[RowToml]| -> Result<Vec<Vec<CriterionSpec>>, SpecError> {
        list.iter()
            .map(|r| row_by_name(template, r, src).map(|(row, _)| row))
            .collect()
    };
    let also = rows(&i.also)?;
    let unless = rows(&i.unless)?;
    Ok((
        InstanceSpec {
            id: *i.id.get_ref(),
            template: template.id,
            action,
            criteria,
            also,
            unless,
            metadata: MetadataSpec {
                title: i.title.clone(),
                rule_id: i.rule_id.clone(),
                author: i.author.clone(),
                reference: i.reference.clone(),
            },
        },
        spans,
    ))
}

/// One row of criteria written by field name: every input the row leaves out
/// is a wildcard. Also returns where each criterion is in the source.
fn row_by_name(
    template: &TemplateType,
    row: &RowToml,
    src: &str,
) -> Result<(Vec<CriterionSpec>, RowSpans), SpecError> {
    let mut out = vec![CriterionSpec::Any; template.input_count()];
    let mut spans = vec![None; template.input_count()];
    for (name, c) in row {
        let idx = template.field_index(name.get_ref()).ok_or_else(|| {
            let known: Vec<&str> = template.fields.iter().map(|f| f.name).collect();
            let hint = match nearest(name.get_ref(), &known) {
                Some(n) => format!("did you mean `{n}`?"),
                None => format!("inputs: {}", known.join(", ")),
            };
            SpecError::at(
                name.span(),
                format!(
                    "template {} has no input `{}` ({hint})",
                    template.name,
                    name.get_ref()
                ),
            )
        })?;
        let ty = template.fields.get(idx).map(|f| f.ty);
        let spec = criterion(c, ty, Some(name.get_ref()), src)?;
        if let Some(slot) = out.get_mut(idx) {
            *slot = spec;
        }
        if let Some(slot) = spans.get_mut(idx) {
            *slot = Some(c.span());
        }
    }
    Ok((out, spans))
}

/// The known name closest to `word` by edit distance, if it is close (a typo).
pub fn nearest<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut diag = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let next = (diag + usize::from(ca != *cb))
                    .min(row[j] + 1)
                    .min(row[j + 1] + 1);
                diag = row[j + 1];
                row[j + 1] = next;
            }
        }
        row[b.len()]
    }
    known
        .iter()
        .map(|k| (distance(word, k), *k))
        .filter(|(d, _)| *d <= 2.max(word.len() / 5))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn criterion(
    c: &Spanned<CriterionToml>,
    ty: Option<FieldType>,
    field: Option<&str>,
    src: &str,
) -> Result<CriterionSpec, SpecError> {
    let t = c.get_ref();
    let span = c.span();
    let mut ops: Vec<&str> = Vec::new();
    for (present, name) in [
        (t.any.is_some(), "any"),
        (t.equals.is_some(), "equals"),
        (t.prefix.is_some(), "prefix"),
        (t.suffix.is_some(), "suffix"),
        (t.contains.is_some(), "contains"),
        (t.regex.is_some(), "regex"),
        (t.range.is_some(), "range"),
        (t.mask.is_some(), "mask"),
    ] {
        if present {
            ops.push(name);
        }
    }
    let what = field
        .map(|f| format!("criterion for `{f}`"))
        .unwrap_or_else(|| "criterion".into());
    if ops.len() != 1 {
        return Err(SpecError::at(
            span,
            format!(
                "{what} needs exactly one of any, equals, prefix, suffix, contains, regex, range, mask (found {})",
                if ops.is_empty() {
                    "none".to_string()
                } else {
                    ops.join(", ")
                }
            ),
        ));
    }
    if t.value.is_some() && t.mask.is_none() {
        return Err(SpecError::at(
            span,
            format!("{what}: `value` goes with `mask`"),
        ));
    }
    let ci = t.case_insensitive;
    let s = |op: StrOp, v: &str| CriterionSpec::Str {
        op,
        value: v.to_string(),
        case_insensitive: ci,
    };
    let spec = if t.any == Some(true) {
        CriterionSpec::Any
    } else if t.any == Some(false) {
        return Err(SpecError::at(
            span,
            format!("{what}: `any = false` means nothing; leave the field out"),
        ));
    } else if let Some(v) = &t.equals {
        match v {
            toml::Value::String(x) => s(StrOp::Equals, x),
            toml::Value::Integer(i) => {
                CriterionSpec::IntEquals(u64::try_from(*i).map_err(|_| {
                    SpecError::at(span.clone(), format!("{what}: integers are unsigned"))
                })?)
            }
            _ => {
                return Err(SpecError::at(
                    span,
                    format!("{what}: `equals` takes a string or an integer"),
                ));
            }
        }
    } else if let Some(v) = &t.prefix {
        s(StrOp::Prefix, v)
    } else if let Some(v) = &t.suffix {
        s(StrOp::Suffix, v)
    } else if let Some(v) = &t.contains {
        s(StrOp::Contains, v)
    } else if let Some(p) = &t.regex {
        errors::regex_syntax_check(p, ci, src, &what)?;
        CriterionSpec::Regex {
            pattern: p.get_ref().clone(),
            case_insensitive: ci,
        }
    } else if let Some([lo, hi]) = t.range {
        CriterionSpec::IntRange { lo, hi }
    } else if let Some(mask) = t.mask {
        CriterionSpec::IntMask {
            mask,
            value: t.value.unwrap_or(mask),
        }
    } else {
        return Err(SpecError::at(span, format!("{what}: no operation")));
    };
    if ci
        && !matches!(
            spec,
            CriterionSpec::Str { .. } | CriterionSpec::Regex { .. }
        )
    {
        return Err(SpecError::at(
            span,
            format!("{what}: case_insensitive applies to string and regex criteria only"),
        ));
    }
    // Type check against the schema where the field exists; criteria past the
    // last input (positional only) are left for the validator to reject.
    if let Some(ty) = ty {
        let ok = match spec {
            CriterionSpec::Any => true,
            CriterionSpec::Str { .. } | CriterionSpec::Regex { .. } => ty == FieldType::Str,
            CriterionSpec::IntEquals(_)
            | CriterionSpec::IntRange { .. }
            | CriterionSpec::IntMask { .. } => ty == FieldType::Int,
        };
        if !ok {
            return Err(SpecError::at(
                span,
                format!(
                    "{what}: `{}` does not apply to a {} input",
                    ops.join(""),
                    ty.name()
                ),
            ));
        }
    }
    Ok(spec)
}

/// The inverse of [`parse`]: render a spec as TOML (by-name criteria when the
/// instance has exactly its template's inputs, positional otherwise). Used by
/// `inspect --spec` and by the round-trip tests.
pub fn render(spec: &ChannelSpec) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "channel = {}\nversion = {}",
        spec.channel, spec.version
    );
    if spec.schema_id != schema::SCHEMA_ID {
        let _ = writeln!(out, "schema_id = \"{:#018x}\"", spec.schema_id);
    }
    for inst in &spec.instances {
        let tt = schema::template_type(inst.template);
        let _ = writeln!(out, "\n[[instance]]\nid = {}", inst.id);
        let _ = writeln!(
            out,
            "template = {}",
            toml_str(tt.map(|t| t.name).unwrap_or("?"))
        );
        let _ = writeln!(out, "action = {}", toml_str(inst.action.name()));
        for (key, value) in inst.metadata.named() {
            if let Some(v) = value {
                let _ = writeln!(out, "{key} = {}", toml_str(v));
            }
        }
        match tt {
            Some(t) if t.input_count() == inst.criteria.len() => {
                let _ = writeln!(out, "[instance.criteria]");
                for (f, c) in t.fields.iter().zip(&inst.criteria) {
                    if *c != CriterionSpec::Any {
                        let _ = writeln!(out, "{} = {}", f.name, criterion_toml(c));
                    }
                }
            }
            _ => {
                let _ = writeln!(out, "positional = [");
                for c in &inst.criteria {
                    let _ = writeln!(out, "  {},", criterion_toml(c));
                }
                let _ = writeln!(out, "]");
            }
        }
        let rows = [("also", &inst.also), ("unless", &inst.unless)];
        for (name, list) in rows {
            for row in list {
                let _ = writeln!(out, "[[instance.{name}]]");
                let fields = tt.map_or(&[][..], |t| t.fields);
                for (f, c) in fields.iter().zip(row) {
                    if *c != CriterionSpec::Any {
                        let _ = writeln!(out, "{} = {}", f.name, criterion_toml(c));
                    }
                }
            }
        }
    }
    out
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn criterion_toml(c: &CriterionSpec) -> String {
    let ci = |b: bool| if b { ", case_insensitive = true" } else { "" };
    match c {
        CriterionSpec::Any => "{ any = true }".into(),
        CriterionSpec::Str {
            op,
            value,
            case_insensitive,
        } => {
            format!(
                "{{ {} = {}{} }}",
                op.name(),
                toml_str(value),
                ci(*case_insensitive)
            )
        }
        CriterionSpec::IntEquals(v) => format!("{{ equals = {} }}", toml_u64(*v)),
        CriterionSpec::IntRange { lo, hi } => {
            format!("{{ range = [{}, {}] }}", toml_u64(*lo), toml_u64(*hi))
        }
        CriterionSpec::IntMask { mask, value } => {
            format!(
                "{{ mask = {}, value = {} }}",
                toml_u64(*mask),
                toml_u64(*value)
            )
        }
        CriterionSpec::Regex {
            pattern,
            case_insensitive,
        } => {
            format!(
                "{{ regex = {}{} }}",
                toml_str(pattern),
                ci(*case_insensitive)
            )
        }
    }
}

// TOML integers are i64; values above i64::MAX cannot be written as plain
// integers. Specs with such values are rare (masks); render them in hex,
// which TOML also limits to i64 — so clamp to what round-trips.
fn toml_u64(v: u64) -> String {
    if i64::try_from(v).is_ok() {
        v.to_string()
    } else {
        format!("{v} # exceeds TOML's i64")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use changuard_format::schema::PROCESS_CREATE;

    const PIPE: &str = r#"
channel = 291
version = 7

[[instance]]
id = 1
template = "NamedPipeCreate"
action = "report"
[instance.criteria]
pipe_name = { contains = "\\msagent_", case_insensitive = true }
creating_pid = { range = [4, 65535] }
desired_access = { mask = 3, value = 1 }
creating_image_path = { regex = "\\\\temp\\\\[^\\\\]+\\.exe$", case_insensitive = true }
"#;

    #[test]
    fn by_name_criteria_fill_every_input() {
        let spec = parse(PIPE).expect("valid spec");
        assert_eq!(spec.channel, 291);
        assert_eq!(spec.version, 7);
        assert_eq!(spec.schema_id, schema::SCHEMA_ID);
        let inst = &spec.instances[0];
        assert_eq!(inst.criteria.len(), 20);
        assert_eq!(
            inst.criteria[0],
            CriterionSpec::Str {
                op: StrOp::Contains,
                value: "\\msagent_".into(),
                case_insensitive: true
            }
        );
        assert_eq!(
            inst.criteria[6],
            CriterionSpec::IntRange { lo: 4, hi: 65535 }
        );
        assert_eq!(
            inst.criteria[10],
            CriterionSpec::IntMask { mask: 3, value: 1 }
        );
        assert_eq!(inst.criteria[2], CriterionSpec::Any);
    }

    #[test]
    fn errors_point_at_the_offending_toml() {
        let bad = PIPE.replace("creating_pid", "creating_pdi");
        let e = parse(&bad).unwrap_err();
        assert!(
            e.message.contains("no input `creating_pdi`"),
            "{}",
            e.message
        );
        let span = e.span.expect("span");
        assert_eq!(&bad[span], "creating_pdi");

        let bad = PIPE.replace("{ range = [4, 65535] }", "{ contains = \"x\" }");
        let e = parse(&bad).unwrap_err();
        assert!(
            e.message.contains("does not apply to a int input"),
            "{}",
            e.message
        );

        let bad = PIPE.replace("NamedPipeCreate", "NamedPipeCreated");
        let e = parse(&bad).unwrap_err();
        assert_eq!(&bad[e.span.unwrap()], "\"NamedPipeCreated\"");

        let bad = PIPE.replace("{ range = [4, 65535] }", "{ range = [4, 5], equals = 3 }");
        let e = parse(&bad).unwrap_err();
        assert!(e.message.contains("exactly one"), "{}", e.message);
    }

    #[test]
    fn positional_keeps_extra_criteria_for_the_validator() {
        let mut src = String::from(
            "channel = 291\nversion = 8\n[[instance]]\nid = 1\ntemplate = \"NamedPipeCreate\"\npositional = [\n",
        );
        for _ in 0..20 {
            src.push_str("{ any = true },\n");
        }
        src.push_str("{ equals = \"x\" },\n]\n");
        let spec = parse(&src).expect("parses");
        assert_eq!(spec.instances[0].criteria.len(), 21);
    }

    #[test]
    fn spans_and_checks_point_at_the_instance() {
        let src = format!("{PIPE}\n[[instance]]\nid = 1\ntemplate = \"ProcessCreate\"\n");
        let (spec, spans) = parse_spanned(&src).expect("parses");
        assert_eq!(spans.instances.len(), 2);
        assert_eq!(
            &src[spans.instances[0].criteria[6].clone().unwrap()],
            "{ range = [4, 65535] }"
        );
        assert_eq!(spans.instances[0].criteria[2], None);
        let problems = check(&spec, &spans, true);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].rule, Some(Rule::InstanceIdOrder));
        assert_eq!(problems[0].span, Some(spans.instances[1].id.clone()));
        assert!(check(&parse_spanned(PIPE).unwrap().0, &spans, true).is_empty());
    }

    #[test]
    fn render_round_trips() {
        let spec = parse(PIPE).unwrap();
        let again = parse(&render(&spec)).unwrap();
        assert_eq!(spec, again);
    }

    const ROWS: &str = r#"
channel = 300
version = 1

[[instance]]
id = 1
template = "ProcessCreate"
[instance.criteria]
image_path = { suffix = "\\rundll32.exe", case_insensitive = true }
command_line = { contains = "javascript:" }
[[instance.also]]
command_line = { contains = "RunHTMLApplication" }
[[instance.unless]]
parent_image_path = { suffix = "\\explorer.exe", case_insensitive = true }
[[instance.unless]]
integrity_level = { equals = 16384 }
"#;

    #[test]
    fn and_and_unless_rows_parse_by_name_and_round_trip() {
        let spec = parse(ROWS).unwrap();
        let inst = &spec.instances[0];
        let cmd = PROCESS_CREATE.field_index("command_line").unwrap();
        let parent = PROCESS_CREATE.field_index("parent_image_path").unwrap();
        assert_eq!(inst.also.len(), 1);
        assert_eq!(inst.unless.len(), 2);
        assert!(
            matches!(&inst.also[0][cmd], CriterionSpec::Str { value, .. } if value == "RunHTMLApplication")
        );
        assert_eq!(
            inst.also[0]
                .iter()
                .filter(|c| **c != CriterionSpec::Any)
                .count(),
            1
        );
        assert!(matches!(
            &inst.unless[0][parent],
            CriterionSpec::Str {
                op: StrOp::Suffix,
                ..
            }
        ));
        assert_eq!(inst.unless[1][8], CriterionSpec::IntEquals(16384));
        assert_eq!(parse(&render(&spec)).unwrap(), spec);
        let typo = ROWS.replace("integrity_level =", "integrity_levle =");
        let e = parse(&typo).unwrap_err();
        assert!(
            e.message.contains("did you mean `integrity_level`"),
            "{}",
            e.message
        );
    }
}
