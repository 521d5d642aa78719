//! Warnings about content that validates but will not do what its author
//! probably means, from the parsed spec alone (no key, no file).
//!
//! Today one check: an instance that depends on a field the driver does not
//! fill from its own callback ([`Source`] other than `Callback`, see
//! `changuard schema`):
//! - on an [`Source::Empty`] field the driver sends `""` or `0`, so the
//!   criterion either never matches a real event (and the instance never
//!   fires on one) or always matches (it acts as `any`); the warning says
//!   which;
//! - on a [`Source::Submitted`] field only events submitted with
//!   `IOCTL_SUBMIT_EVENT` (`changuard driver submit`, a dry run) carry a
//!   value, so the instance fires for submitted events only.
//!
//! One warning per instance and field. `any` criteria depend on nothing and
//! are never warned about. Warnings never change an exit code.

use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec};
use changuard_format::schema::{self, Field, FieldType, Source};
use changuard_format::{StrOp, regex_automata};
use std::fmt;

/// One warning: instance `instance` has a criterion on `field`, which the
/// driver does not fill from its callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The instance's id, as written in the spec.
    pub instance: u32,
    /// Its template type's name.
    pub template: &'static str,
    /// The field the criterion tests.
    pub field: &'static str,
    /// The criterion's position in the instance (the field's index).
    pub index: usize,
    /// The field's type.
    pub ty: FieldType,
    /// Where the driver gets the field's value today.
    pub source: Source,
    /// What follows for the instance.
    pub effect: Effect,
}

/// What a criterion on a field that is not filled by the callback means for
/// real (not submitted) events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// The criterion rejects the empty value: the instance never matches a
    /// real event.
    NeverMatches,
    /// The criterion accepts the empty value: it matches every real event,
    /// as `any` would.
    AlwaysMatches,
    /// The field has no callback: the instance can only match submitted events.
    SubmittedOnly,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let empty = match self.ty {
            FieldType::Int => "0",
            FieldType::Str => "\"\"",
        };
        let why = match self.effect {
            Effect::NeverMatches => format!(
                "the driver sends it empty ({empty}) today and this criterion does not accept that, \
                 so the instance never matches a real event"
            ),
            Effect::AlwaysMatches => format!(
                "the driver sends it empty ({empty}) today and this criterion accepts that, \
                 so it matches every real event (as `any`)"
            ),
            Effect::SubmittedOnly => format!(
                "the driver has no callback for {} yet: only events submitted with \
                 IOCTL_SUBMIT_EVENT (`changuard driver submit`, a dry run) carry it, \
                 so the instance only matches those",
                self.template
            ),
        };
        write!(
            f,
            "instance {}: field `{}` (source: {}): {why}",
            self.instance,
            self.field,
            self.source.name()
        )
    }
}

/// Every warning for `spec`, in instance order, then field order.
pub fn lint(spec: &ChannelSpec) -> Vec<Warning> {
    spec.instances.iter().flat_map(instance).collect()
}

/// Warnings shown one by one per (field, effect) before the rest are
/// counted: an imported rule set can warn on hundreds of instances, and
/// the first few name the problem as well as all of them.
pub const SHOWN_PER_KIND: usize = 5;

/// The lines to print for `warnings`: the first [`SHOWN_PER_KIND`] of each
/// (field, effect) in full, then one line counting the rest with their
/// first and last instance ids.
pub fn condensed(warnings: &[Warning]) -> Vec<String> {
    let mut out = Vec::new();
    let mut kinds: Vec<(&str, Effect)> = Vec::new();
    for w in warnings {
        if !kinds.contains(&(w.field, w.effect)) {
            kinds.push((w.field, w.effect));
        }
    }
    for (field, effect) in kinds {
        let same: Vec<&Warning> = warnings
            .iter()
            .filter(|w| w.field == field && w.effect == effect)
            .collect();
        for w in same.iter().take(SHOWN_PER_KIND) {
            out.push(w.to_string());
        }
        let rest = &same[same.len().min(SHOWN_PER_KIND)..];
        if let (Some(first), Some(last)) = (rest.first(), rest.last()) {
            out.push(format!(
                "{} more instances ({} to {}) have the same problem with field `{field}`",
                rest.len(),
                first.instance,
                last.instance
            ));
        }
    }
    out
}

fn instance(inst: &InstanceSpec) -> Vec<Warning> {
    let Some(t) = schema::template_type(inst.template) else {
        return Vec::new();
    };
    // Criteria past the template's inputs (positional specs) are the
    // validator's to reject, not the linter's to explain.
    t.fields
        .iter()
        .zip(&inst.criteria)
        .enumerate()
        .filter_map(|(index, (field, c))| {
            let effect = effect(field, c)?;
            Some(Warning {
                instance: inst.id,
                template: t.name,
                field: field.name,
                index,
                ty: field.ty,
                source: field.source,
                effect,
            })
        })
        .collect()
}

fn effect(field: &Field, c: &CriterionSpec) -> Option<Effect> {
    if *c == CriterionSpec::Any {
        return None;
    }
    match field.source {
        Source::Callback => None,
        Source::Submitted => Some(Effect::SubmittedOnly),
        Source::Empty => Some(if accepts_empty(c) {
            Effect::AlwaysMatches
        } else {
            Effect::NeverMatches
        }),
    }
}

/// Whether `c` matches the value the driver sends for an empty field: `""`
/// for strings, `0` for integers. A regex that does not compile counts as not
/// matching (`build` reports it).
fn accepts_empty(c: &CriterionSpec) -> bool {
    match c {
        CriterionSpec::Any => true,
        // Every string test with an empty needle accepts the empty string;
        // with any other needle none does.
        CriterionSpec::Str { op, value, .. } => {
            matches!(
                op,
                StrOp::Equals | StrOp::Prefix | StrOp::Suffix | StrOp::Contains
            ) && value.is_empty()
        }
        CriterionSpec::IntEquals(v) => *v == 0,
        CriterionSpec::IntRange { lo, hi } => *lo == 0 && *hi >= *lo,
        CriterionSpec::IntMask { value, .. } => *value == 0,
        CriterionSpec::Regex {
            pattern,
            case_insensitive,
        } => regex_matches_empty(pattern, *case_insensitive).unwrap_or(false),
    }
}

/// Whether `pattern` (changuard's regex syntax configuration) matches `""`.
fn regex_matches_empty(pattern: &str, ci: bool) -> Option<bool> {
    use regex_automata::Input;
    use regex_automata::dfa::{Automaton, dense};
    use regex_automata::util::syntax;
    let limit = usize::try_from(changuard_format::limits::MAX_DFA_LEN).ok()?;
    let dfa = dense::Builder::new()
        .configure(
            dense::Config::new()
                .dfa_size_limit(Some(limit))
                .determinize_size_limit(Some(limit)),
        )
        .syntax(
            syntax::Config::new()
                .unicode(true)
                .utf8(true)
                .case_insensitive(ci),
        )
        .build(pattern)
        .ok()?;
    dfa.try_search_fwd(&Input::new(""))
        .ok()
        .map(|m| m.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec;
    use std::path::Path;

    fn example(name: &str) -> ChannelSpec {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/content")
            .join(name);
        spec::parse(&std::fs::read_to_string(path).expect("example spec")).expect("parses")
    }

    #[test]
    fn the_process_example_only_tests_fields_the_driver_fills() {
        assert_eq!(lint(&example("process.toml")), Vec::new());
    }

    #[test]
    fn an_empty_field_never_or_always_matches() {
        use changuard_format::schema::FieldType;
        let field = |ty| Field {
            name: "f",
            ty,
            cap: 16,
            source: Source::Empty,
        };
        let never = effect(
            &field(FieldType::Str),
            &CriterionSpec::Str {
                op: StrOp::Suffix,
                value: "\\x.exe".into(),
                case_insensitive: true,
            },
        );
        assert_eq!(never, Some(Effect::NeverMatches));
        let always = effect(
            &field(FieldType::Int),
            &CriterionSpec::IntRange { lo: 0, hi: 4096 },
        );
        assert_eq!(always, Some(Effect::AlwaysMatches));
        assert_eq!(effect(&field(FieldType::Int), &CriterionSpec::Any), None);
        let w = Warning {
            instance: 3,
            template: "ProcessCreate",
            field: "f",
            index: 2,
            ty: FieldType::Int,
            source: Source::Empty,
            effect: Effect::AlwaysMatches,
        };
        let text = w.to_string();
        assert!(
            text.starts_with("instance 3: field `f` (source: empty)"),
            "{text}"
        );
        assert!(text.contains("sends it empty (0)"), "{text}");
    }

    #[test]
    fn submitted_only_template_warns_per_instance_and_field() {
        let w = lint(&example("pipes.toml"));
        assert!(!w.is_empty());
        assert!(w.iter().all(|w| w.effect == Effect::SubmittedOnly
            && w.source == Source::Submitted
            && w.template == "NamedPipeCreate"));
        let pairs: Vec<(u32, &str)> = w.iter().map(|w| (w.instance, w.field)).collect();
        let mut dedup = pairs.clone();
        dedup.dedup();
        assert_eq!(pairs, dedup, "one warning per instance and field");
        assert!(pairs.contains(&(30, "desired_access")));
        assert!(w[0].to_string().contains("IOCTL_SUBMIT_EVENT"));
    }

    #[test]
    fn many_alike_warnings_are_counted_not_repeated() {
        let mut spec = example("pipes.toml");
        let model = spec
            .instances
            .iter()
            .find(|i| {
                !lint(&ChannelSpec {
                    instances: vec![(*i).clone()],
                    ..spec.clone()
                })
                .is_empty()
            })
            .expect("an instance that warns")
            .clone();
        spec.instances = (1..=40)
            .map(|id| InstanceSpec {
                also: Vec::new(),
                unless: Vec::new(),
                metadata: Default::default(),
                id,
                ..model.clone()
            })
            .collect();
        let all = lint(&spec);
        let per_instance = all.len() / 40;
        assert!(per_instance >= 1 && all.len() == 40 * per_instance);
        let lines = condensed(&all);
        // Per kind: five in full and one count of the other 35.
        assert_eq!(lines.len(), per_instance * (SHOWN_PER_KIND + 1));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("35 more instances (6 to 40)")),
            "{lines:#?}"
        );
        // Few warnings are all shown.
        assert_eq!(condensed(&all[..3]).len(), 3);
    }

    #[test]
    fn callback_fields_and_wildcards_are_quiet() {
        let src = r#"
channel = 1
version = 1
[[instance]]
id = 1
template = "ProcessCreate"
[instance.criteria]
image_path = { suffix = "\\x.exe" }
pid = { range = [4, 100] }
parent_image_path = { any = true }
"#;
        assert!(lint(&spec::parse(src).unwrap()).is_empty());
    }

    #[test]
    fn empty_value_acceptance_per_kind() {
        let s = |op, v: &str| CriterionSpec::Str {
            op,
            value: v.into(),
            case_insensitive: false,
        };
        let r = |p: &str| CriterionSpec::Regex {
            pattern: p.into(),
            case_insensitive: true,
        };
        for (c, want) in [
            (s(StrOp::Equals, ""), true),
            (s(StrOp::Contains, "x"), false),
            (s(StrOp::Suffix, "x"), false),
            (CriterionSpec::IntEquals(0), true),
            (CriterionSpec::IntEquals(1), false),
            (CriterionSpec::IntRange { lo: 0, hi: 9 }, true),
            (CriterionSpec::IntRange { lo: 1, hi: 9 }, false),
            (CriterionSpec::IntMask { mask: 3, value: 0 }, true),
            (CriterionSpec::IntMask { mask: 3, value: 1 }, false),
            (r("^$"), true),
            (r("a*"), true),
            (r("winword"), false),
            (r("("), false),
        ] {
            assert_eq!(accepts_empty(&c), want, "{c:?}");
        }
    }
}
