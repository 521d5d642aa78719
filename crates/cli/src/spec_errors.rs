//! Problems with a spec reported in spec terms (instance id, field name,
//! values in decimal, the TOML line) instead of file offsets: what the
//! validator would reject ([`check`], before anything is written), what the
//! writer could not compile ([`from_build_error`]), and validator rejections
//! of freshly built content mapped back to the spec ([`from_rejection`]).
//! Also the hint `validate` gives for a file that is not a channel file.

use super::{SpecError, SpecSpans};
use changuard_format::build::{BuildError, ChannelSpec, CriterionSpec};
use changuard_format::schema::{self, TemplateType};
use changuard_format::{Action, Rejection, Rule, layout, limits};
use std::ops::Range;
use toml::Spanned;

fn rule_tag(rule: Rule) -> String {
    format!("[{} (rule {})]", rule.code(), rule.id())
}

fn broke(span: Option<Range<usize>>, rule: Rule, message: String) -> SpecError {
    SpecError {
        message: format!("{message} {}", rule_tag(rule)),
        span,
        rule: Some(rule),
    }
}

/// The byte range in `src` of `text[start..end]`, where `text` is the value of
/// the TOML string at `span`: exact when the string is written without
/// escapes (`'...'`, or `"..."` with no backslash), else the whole string.
fn inner_span(
    src: &str,
    span: &Range<usize>,
    text: &str,
    start: usize,
    end: usize,
) -> Range<usize> {
    let raw = src.get(span.clone()).unwrap_or("");
    let simple = (raw.starts_with('\'') && !raw.starts_with("'''"))
        || (raw.starts_with('"') && !raw.starts_with("\"\"\"") && !raw.contains('\\'));
    if !simple || raw.get(1..raw.len().saturating_sub(1)) != Some(text) || start > text.len() {
        return span.clone();
    }
    // A zero-width position (e.g. "unexpected end") points at one character.
    let end = if end > start {
        end.min(text.len())
    } else {
        text.get(start..)
            .and_then(|r| r.chars().next())
            .map_or(start, |c| start + c.len_utf8())
    };
    let base = span.start + 1;
    base + start..base + end
}

/// Parse `pattern` the way the writer does (regex-automata's syntax config:
/// Unicode, UTF-8, optional case folding) and report a syntax error with
/// regex-syntax's message and its position in the pattern and in the spec.
pub(super) fn regex_syntax_check(
    p: &Spanned<String>,
    ci: bool,
    src: &str,
    what: &str,
) -> Result<(), SpecError> {
    let pattern = p.get_ref();
    let err = match regex_syntax::ParserBuilder::new()
        .unicode(true)
        .utf8(true)
        .case_insensitive(ci)
        .build()
        .parse(pattern)
    {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    let (kind, at) = match &err {
        regex_syntax::Error::Parse(e) => (e.kind().to_string(), Some(*e.span())),
        regex_syntax::Error::Translate(e) => (e.kind().to_string(), Some(*e.span())),
        _ => (err.to_string(), None),
    };
    let span = p.span();
    Err(match at {
        Some(at) => SpecError::at(
            inner_span(src, &span, pattern, at.start.offset, at.end.offset),
            format!(
                "{what}: regex {pattern:?} does not compile: {kind} (at column {} of the pattern)",
                at.start.column
            ),
        ),
        None => SpecError::at(
            span,
            format!("{what}: regex {pattern:?} does not compile: {kind}"),
        ),
    })
}

/// How an instance's criterion is named in messages.
fn field_words(tt: Option<&TemplateType>, k: usize) -> String {
    match tt.and_then(|t| t.fields.get(k)) {
        Some(f) => format!("field `{}`", f.name),
        None => format!("criterion {k} (past the template's inputs)"),
    }
}

/// Everything in `spec` the validator would reject, in spec terms and at the
/// TOML that causes it. `test_key`: the signing key is marked test-only.
/// Empty when the validator has nothing a spec can express to object to (the
/// cost ceiling is checked on the built file: see [`from_rejection`]).
pub fn check(spec: &ChannelSpec, spans: &SpecSpans, test_key: bool) -> Vec<SpecError> {
    let mut out = Vec::new();
    if spec.schema_id != schema::SCHEMA_ID {
        out.push(broke(
            spans.schema_id.clone(),
            Rule::WrongSchema,
            format!(
                "schema_id {:#018x} is not this schema's {:#018x}: the driver refuses the whole file",
                spec.schema_id,
                schema::SCHEMA_ID
            ),
        ));
    }
    if spec.instances.len() > limits::MAX_INSTANCES as usize {
        out.push(broke(
            None,
            Rule::CountTooLarge,
            format!(
                "{} instances, over the limit of {}",
                spec.instances.len(),
                limits::MAX_INSTANCES
            ),
        ));
    }
    let mut prev: Option<u32> = None;
    for (inst, sp) in spec.instances.iter().zip(&spans.instances) {
        let id = inst.id;
        if let Some(p) = prev.filter(|&p| id <= p) {
            let how = if id == p {
                format!("id {id} is used twice (the instance before this one is id {p} too)")
            } else {
                format!("id {id} comes after id {p}")
            };
            out.push(broke(
                Some(sp.id.clone()),
                Rule::InstanceIdOrder,
                format!("instance ids must be unique and increasing: {how}"),
            ));
        }
        prev = Some(id);
        let tt = schema::template_type(inst.template);
        if let Some(t) = tt {
            if inst.criteria.len() != t.input_count() {
                out.push(broke(
                    Some(sp.positional.clone().unwrap_or_else(|| sp.id.clone())),
                    Rule::CriteriaCountMismatch,
                    format!(
                        "instance id {id}: {} criteria, but template {} has {} inputs",
                        inst.criteria.len(),
                        t.name,
                        t.input_count()
                    ),
                ));
            }
        }
        if inst.action == Action::TestCrash && !test_key {
            out.push(broke(
                Some(sp.action.clone().unwrap_or_else(|| sp.id.clone())),
                Rule::TestActionNeedsTestKey,
                format!(
                    "instance id {id}: action `test-crash` needs a key marked test-only \
                     (`changuard keygen --test-only`); this key is not"
                ),
            ));
        }
        for (k, c) in inst.criteria.iter().enumerate() {
            let span = sp
                .criteria
                .get(k)
                .cloned()
                .flatten()
                .unwrap_or_else(|| sp.id.clone());
            let what = format!("instance id {id}, {}", field_words(tt, k));
            let max = limits::MAX_STRING_LEN as usize;
            match c {
                CriterionSpec::IntRange { lo, hi } if lo > hi => out.push(broke(
                    Some(span),
                    Rule::BadIntOperands,
                    format!(
                        "{what}: range [{lo}, {hi}] is empty: its low end {lo} is above its high end {hi}"
                    ),
                )),
                CriterionSpec::IntMask { mask, value } if value & !mask != 0 => out.push(broke(
                    Some(span),
                    Rule::BadIntOperands,
                    format!(
                        "{what}: value {value} has bits outside mask {mask} ({:#x}), so it could never match",
                        value & !mask
                    ),
                )),
                CriterionSpec::Str { value: s, .. }
                | CriterionSpec::Regex { pattern: s, .. }
                    if s.len() > max =>
                {
                    out.push(broke(
                        Some(span),
                        Rule::StringTooLong,
                        format!("{what}: a string of {} bytes, over the limit of {max}", s.len()),
                    ));
                }
                _ => {}
            }
        }
    }
    out
}

/// A spec's instance by position (the file keeps spec order): its id, its
/// template type and the span of its `id`.
struct At {
    id: u32,
    tt: Option<&'static TemplateType>,
    id_span: Range<usize>,
}

fn instance_at(spec: &ChannelSpec, spans: &SpecSpans, i: usize) -> Option<At> {
    let inst = spec.instances.get(i)?;
    Some(At {
        id: inst.id,
        tt: schema::template_type(inst.template),
        id_span: spans.instances.get(i).map_or(0..0, |s| s.id.clone()),
    })
}

fn criterion_span(spans: &SpecSpans, i: usize, k: usize) -> Option<Range<usize>> {
    spans.instances.get(i)?.criteria.get(k).cloned().flatten()
}

/// The validator's rejection of content just built from `spec`, in spec
/// terms: the instance by its id, the field by name, values in decimal, at the
/// instance's (or criterion's) TOML.
pub fn from_rejection(spec: &ChannelSpec, spans: &SpecSpans, r: &Rejection) -> SpecError {
    let at = r.instance.and_then(|i| usize::try_from(i).ok());
    let Some((i, At { id, tt, id_span })) =
        at.and_then(|i| Some((i, instance_at(spec, spans, i)?)))
    else {
        let span = (r.rule == Rule::WrongSchema)
            .then(|| spans.schema_id.clone())
            .flatten();
        return broke(
            span,
            r.rule,
            format!("the validator rejects the content: {r}"),
        );
    };
    let k = r.field.map(usize::from);
    let mut whom = format!("instance id {id}");
    if let Some(k) = k {
        whom = format!("{whom}, {}", field_words(tt, k));
    }
    let detail = match r.rule {
        Rule::RowNotCanonical => {
            let and_rows = spec.instances.get(i).map_or(0, |x| x.also.len());
            let row = usize::try_from(r.found).unwrap_or(usize::MAX);
            let which = if row <= and_rows {
                format!("`also` row {row}")
            } else {
                format!("`unless` row {}", row.saturating_sub(and_rows))
            };
            if k.is_some() {
                format!(
                    "{which} tests this field but the row above does not: write a field's \
                     first test in `criteria` and each further one in the next `also` row"
                )
            } else {
                format!("{which} tests nothing (every field is a wildcard): remove it")
            }
        }
        Rule::TooManyRows => format!(
            "{} rows, over the limit of {} (`also` rows at most {}, `unless` rows at most {})",
            r.found,
            r.expected,
            limits::MAX_AND_ROWS,
            limits::MAX_UNLESS_ROWS
        ),
        Rule::CostCeiling => format!(
            "one event can cost up to {} fuel, over the ceiling of {}; the template's bound \
             crosses the ceiling at this instance",
            r.found, r.expected
        ),
        Rule::CriteriaCountMismatch => format!(
            "{} criteria, but the template has {} inputs",
            r.found, r.expected
        ),
        _ if r.expected != 0 || r.found != 0 => {
            format!("expected {}, found {}", r.expected, r.found)
        }
        _ => String::from("rejected"),
    };
    // Row-level problems point at the instance: the spans are row 0's.
    let span = k
        .filter(|_| r.rule != Rule::RowNotCanonical)
        .and_then(|k| criterion_span(spans, i, k))
        .unwrap_or(id_span);
    broke(Some(span), r.rule, format!("{whom}: {detail}"))
}

/// The writer's error for `spec`, in spec terms, at the criterion's TOML.
pub fn from_build_error(spec: &ChannelSpec, spans: &SpecSpans, e: &BuildError) -> SpecError {
    let (i, k, detail) = match e {
        BuildError::RegexTooLarge {
            instance,
            field,
            pattern,
        } => (
            *instance,
            *field,
            format!(
                "regex {pattern:?} cannot be compiled: DFA too large (limit {} bytes)",
                limits::MAX_DFA_LEN
            ),
        ),
        BuildError::Regex {
            instance,
            field,
            pattern,
            message,
        } => (
            *instance,
            *field,
            format!("regex {pattern:?} does not compile: {message}"),
        ),
        BuildError::StringTooLong {
            instance,
            field,
            len,
        } => (
            *instance,
            *field,
            format!("a string of {len} bytes cannot be encoded"),
        ),
        other => {
            return SpecError {
                message: other.to_string(),
                span: None,
                rule: None,
            };
        }
    };
    let Some(At { id, tt, id_span }) = instance_at(spec, spans, i) else {
        return SpecError {
            message: e.to_string(),
            span: None,
            rule: None,
        };
    };
    SpecError {
        message: format!("instance id {id}, {}: {detail}", field_words(tt, k)),
        span: Some(criterion_span(spans, i, k).unwrap_or(id_span)),
        rule: None,
    }
}

/// A hint for a rejection that means "this is not a channel file at all":
/// `bad-magic`, or `too-short` for bytes that do not start like the magic.
pub fn not_channel_hint(rule: Rule, bytes: &[u8]) -> Option<String> {
    let head = bytes.get(..bytes.len().min(layout::MAGIC.len()))?;
    let not_magic = !layout::MAGIC.starts_with(head);
    (rule == Rule::BadMagic || (rule == Rule::TooShort && not_magic)).then(|| magic_hint(bytes))
}

/// Why a file the validator calls `bad-magic` is not a channel file, as a
/// hint: a spec given to `validate`, some other text file, or other bytes.
pub fn magic_hint(bytes: &[u8]) -> String {
    let magic = String::from_utf8_lossy(&layout::MAGIC).into_owned();
    let Ok(text) = std::str::from_utf8(bytes) else {
        let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
        return format!(
            "channel files start with the magic `{magic}`; this file starts with {}",
            if head.is_empty() {
                "nothing (it is empty)".into()
            } else {
                head.join(" ")
            }
        );
    };
    let first = text
        .trim_start_matches('\u{feff}')
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let key_is = |key: &str| {
        first
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    };
    if first.starts_with('#')
        || first.starts_with("[[instance]]")
        || key_is("channel")
        || key_is("version")
    {
        "this looks like a content spec (TOML), not a channel file: build it with \
         `changuard build SPEC.toml --key KEY` and validate the .chan that writes"
            .into()
    } else {
        format!(
            "this is a text file, not a channel file (channel files are binary and start with the magic `{magic}`)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_hints() {
        assert!(magic_hint(b"channel = 4\n").contains("content spec"));
        assert!(magic_hint(b"\n# lolbins\n").contains("content spec"));
        assert!(magic_hint(b"[[instance]]\nid = 1").contains("content spec"));
        assert!(magic_hint(b"Read me first\n").contains("text file"));
        assert!(magic_hint(&[0xff, 0x00, 0x12]).contains("ff 00 12"));
        assert!(not_channel_hint(Rule::TooShort, b"# x").is_some());
        assert!(not_channel_hint(Rule::TooShort, b"CHGD").is_none());
        assert!(not_channel_hint(Rule::BadSignature, b"# x").is_none());
    }

    #[test]
    fn inner_span_points_into_simple_strings_only() {
        let src = r#"x = "a(b" y = 'a\(b' z = "a\\(b""#;
        let s = src.find('"').unwrap();
        assert_eq!(&src[inner_span(src, &(s..s + 5), "a(b", 1, 2)], "(");
        let s = src.find('\'').unwrap();
        assert_eq!(&src[inner_span(src, &(s..s + 6), "a\\(b", 2, 2)], "(");
        let s = src.rfind("\"a").unwrap();
        assert_eq!(inner_span(src, &(s..s + 7), "a\\(b", 2, 3), s..s + 7);
    }
}
