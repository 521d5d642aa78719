//! Events files of `changuard replay` and `changuard test`: one JSON object per
//! line, its absent fields, the driver's truncation, and expected verdicts.
//!
//! # A line
//! ```json
//! {"label": "certutil-download", "template": "ProcessCreate",
//!  "fields": {"image_path": "C:\\Windows\\System32\\certutil.exe", "pid": 7012},
//!  "expect": ["300/1"]}
//! ```
//! - `template` (required): a template type of the schema.
//! - `fields`: any subset of the template's fields. An absent field is the
//!   empty string (`str` fields) or 0 (`int` fields), which is what the
//!   driver's callback sends for fields it does not collect; the output lists
//!   the absent fields of every event. An unknown field name is an error (with
//!   a "did you mean" when a field is close).
//! - `label`: echoed in the output.
//! - `expect`: the matches this event must produce, exactly (no more, no
//!   fewer), written as the output prints them: `"CHANNEL/INSTANCE"`, or
//!   `"CHANNEL/INSTANCE ACTION"` to check the action too
//!   (`"291/10 block-candidate"`); `{"channel": 291, "instance": 10}` (with an
//!   optional `"action"`) is the same. `"expect": []` means no match. A line
//!   without `expect` is evaluated but not checked.

use changuard_format::Action;
use changuard_format::schema::{self, FieldType, TemplateType};
use changuard_interp::{Match, Value};
use serde_json::Value as Json;
use std::fmt;

/// The top-level keys of an event line.
const KEYS: [&str; 4] = ["template", "fields", "label", "expect"];

/// An owned field value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owned {
    /// A `str` field.
    Str(String),
    /// An `int` field.
    Int(u64),
}

/// One parsed event line.
#[derive(Clone, Debug)]
pub struct EventLine {
    /// Its template type.
    pub template: &'static TemplateType,
    /// Every field of the template, in schema order (absent ones empty / 0).
    pub values: Vec<Owned>,
    /// The fields the line did not give, in schema order.
    pub absent: Vec<&'static str>,
    /// The optional `label`.
    pub label: Option<String>,
    /// The optional `expect` list (`Some(vec![])`: expects no match).
    pub expect: Option<Vec<Expected>>,
}

/// One expected match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    /// Channel id.
    pub channel: u32,
    /// Instance id.
    pub instance: u32,
    /// The action, when the expectation states it.
    pub action: Option<Action>,
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.channel, self.instance)?;
        if let Some(a) = self.action {
            write!(f, " {}", a.name())?;
        }
        Ok(())
    }
}

/// A match as the output prints it: `CHANNEL/INSTANCE ACTION`.
pub fn match_text(m: &Match) -> String {
    format!("{}/{} {}", m.channel, m.instance, m.action.name())
}

const ACTIONS: [Action; 3] = [Action::Report, Action::BlockCandidate, Action::TestCrash];

fn action_by_name(name: &str) -> Result<Action, String> {
    ACTIONS
        .into_iter()
        .find(|a| a.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = ACTIONS.iter().map(|a| a.name()).collect();
            format!(
                "unknown action {name:?}{} (actions: {})",
                did_you_mean(name, &names),
                names.join(", ")
            )
        })
}

impl Expected {
    /// Parse one element of an `expect` list.
    ///
    /// # Errors
    /// A message saying what the element should look like.
    pub fn parse(v: &Json) -> Result<Expected, String> {
        const FORM: &str = "an expected match is \"CHANNEL/INSTANCE\", \"CHANNEL/INSTANCE ACTION\" or {\"channel\": C, \"instance\": I}";
        match v {
            Json::String(s) => {
                let mut words = s.split_whitespace();
                let key = words.next().ok_or_else(|| format!("{FORM}, found \"\""))?;
                let action = words.next().map(action_by_name).transpose()?;
                if words.next().is_some() {
                    return Err(format!("{FORM}, found {s:?}"));
                }
                let (c, i) = key
                    .split_once('/')
                    .ok_or_else(|| format!("{FORM}, found {s:?}"))?;
                let num = |t: &str| {
                    t.parse::<u32>()
                        .map_err(|_| format!("{FORM}, found {s:?} ({t:?} is not a u32)"))
                };
                Ok(Expected {
                    channel: num(c)?,
                    instance: num(i)?,
                    action,
                })
            }
            Json::Object(o) => {
                for k in o.keys() {
                    if !matches!(k.as_str(), "channel" | "instance" | "action") {
                        return Err(format!(
                            "unknown key {k:?} in an expected match (channel, instance, action)"
                        ));
                    }
                }
                let num = |k: &str| {
                    o.get(k)
                        .and_then(Json::as_u64)
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| format!("{FORM}: {k:?} must be a u32"))
                };
                let action = match o.get("action") {
                    None => None,
                    Some(Json::String(a)) => Some(action_by_name(a)?),
                    Some(_) => return Err("\"action\" must be a string".into()),
                };
                Ok(Expected {
                    channel: num("channel")?,
                    instance: num("instance")?,
                    action,
                })
            }
            other => Err(format!("{FORM}, found {}", json_kind(other))),
        }
    }

    fn is(&self, m: &Match) -> bool {
        self.channel == m.channel
            && self.instance == m.instance
            && self.action.is_none_or(|a| a == m.action)
    }
}

/// How a verdict differs from an expectation (both empty: met).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// Expected and not matched (or matched with another action).
    pub missing: Vec<String>,
    /// Matched and not expected (or with another action than expected).
    pub unexpected: Vec<String>,
}

impl Diff {
    /// Whether the expectation was met.
    pub fn is_met(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty()
    }
}

/// Compare the matches of an evaluation with an expectation: met when every
/// expected match was found and nothing else matched.
pub fn check(expect: &[Expected], got: &[Match]) -> Diff {
    Diff {
        missing: expect
            .iter()
            .filter(|e| !got.iter().any(|m| e.is(m)))
            .map(ToString::to_string)
            .collect(),
        unexpected: got
            .iter()
            .filter(|m| !expect.iter().any(|e| e.is(m)))
            .map(match_text)
            .collect(),
    }
}

/// The largest prefix of `s` of at most `cap` bytes that ends on a char
/// boundary, and whether it is shorter than `s`: what the driver's
/// `utf16_to_utf8` leaves of the field in a `cap`-byte buffer.
pub fn truncate_to_cap(s: &str, cap: usize) -> (&str, bool) {
    if s.len() <= cap {
        return (s, false);
    }
    let mut end = cap;
    while !s.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    (s.get(..end).unwrap_or(""), true)
}

/// A string field truncation changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cut {
    /// The field.
    pub field: &'static str,
    /// Its length as given, in bytes.
    pub from: usize,
    /// Its length evaluated, in bytes.
    pub to: usize,
}

impl EventLine {
    /// The values to evaluate: with `truncate`, every string cut to its field's
    /// cap as the driver does. Also the fields truncation changed.
    pub fn values(&self, truncate: bool) -> (Vec<Value<'_>>, Vec<Cut>) {
        let mut cut = Vec::new();
        let values = self
            .template
            .fields
            .iter()
            .zip(&self.values)
            .map(|(f, v)| match v {
                Owned::Str(s) if truncate => {
                    let (t, was_cut) = truncate_to_cap(s, usize::from(f.cap));
                    if was_cut {
                        cut.push(Cut {
                            field: f.name,
                            from: s.len(),
                            to: t.len(),
                        });
                    }
                    Value::Str(t)
                }
                Owned::Str(s) => Value::Str(s),
                Owned::Int(i) => Value::Int(*i),
            })
            .collect();
        (values, cut)
    }
}

/// The known name closest to `word` (edit distance at most 2, or a fifth of
/// its length), as ` (did you mean "x"?)`, else "".
pub fn did_you_mean(word: &str, known: &[&str]) -> String {
    crate::spec::nearest(word, known)
        .map_or_else(String::new, |k| format!(" (did you mean {k:?}?)"))
}

/// Parse and check one event line against the schema.
///
/// # Errors
/// A message for the line: bad JSON, an unknown key, template or field, a
/// value of the wrong type, a malformed `expect`.
pub fn parse_line(line: &str) -> Result<EventLine, String> {
    let v: Json = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("an event must be a JSON object")?;
    for k in obj.keys() {
        if !KEYS.contains(&k.as_str()) {
            return Err(format!(
                "unknown key {k:?}{} (keys: {})",
                did_you_mean(k, &KEYS),
                KEYS.join(", ")
            ));
        }
    }
    let tname = obj
        .get("template")
        .ok_or("missing \"template\"")?
        .as_str()
        .ok_or("\"template\" must be a string")?;
    let template = schema::template_type_by_name(tname).ok_or_else(|| {
        let known: Vec<&str> = schema::TEMPLATE_TYPES.iter().map(|t| t.name).collect();
        format!(
            "unknown template {tname:?}{} (known: {})",
            did_you_mean(tname, &known),
            known.join(", ")
        )
    })?;
    let label = match obj.get("label") {
        None => None,
        Some(Json::String(s)) => Some(s.clone()),
        Some(_) => return Err("\"label\" must be a string".into()),
    };
    let empty = serde_json::Map::new();
    let fields = match obj.get("fields") {
        None => &empty,
        Some(f) => f.as_object().ok_or("\"fields\" must be an object")?,
    };
    for k in fields.keys() {
        if template.field_index(k).is_none() {
            let known: Vec<&str> = template.fields.iter().map(|f| f.name).collect();
            return Err(format!(
                "{tname} has no field {k:?}{}",
                did_you_mean(k, &known)
            ));
        }
    }
    let mut values = Vec::with_capacity(template.input_count());
    let mut absent = Vec::new();
    for f in template.fields {
        let Some(v) = fields.get(f.name) else {
            absent.push(f.name);
            values.push(match f.ty {
                FieldType::Str => Owned::Str(String::new()),
                FieldType::Int => Owned::Int(0),
            });
            continue;
        };
        values.push(match (f.ty, v) {
            (FieldType::Str, Json::String(s)) => Owned::Str(s.clone()),
            (FieldType::Int, Json::Number(n)) => Owned::Int(n.as_u64().ok_or_else(|| {
                format!(
                    "field {:?} must be an integer in 0..=2^64-1, found {n}",
                    f.name
                )
            })?),
            (ty, other) => {
                return Err(format!(
                    "field {:?} must be {}, found {}",
                    f.name,
                    if ty == FieldType::Str {
                        "a string"
                    } else {
                        "an integer"
                    },
                    json_kind(other)
                ));
            }
        });
    }
    let expect = match obj.get("expect") {
        None => None,
        Some(Json::Array(items)) => {
            let mut list: Vec<Expected> = Vec::with_capacity(items.len());
            for item in items {
                let e = Expected::parse(item).map_err(|m| format!("\"expect\": {m}"))?;
                if list
                    .iter()
                    .any(|x| (x.channel, x.instance) == (e.channel, e.instance))
                {
                    return Err(format!(
                        "\"expect\": {}/{} is listed twice",
                        e.channel, e.instance
                    ));
                }
                list.push(e);
            }
            Some(list)
        }
        Some(other) => {
            return Err(format!(
                "\"expect\" must be a list of expected matches, e.g. [\"300/1\"] ([] for no match), found {}",
                json_kind(other)
            ));
        }
    };
    Ok(EventLine {
        template,
        values,
        absent,
        label,
        expect,
    })
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use changuard_interp::text::utf16_to_utf8;
    use proptest::prelude::*;
    use serde_json::json;

    fn m(channel: u32, instance: u32, action: Action) -> Match {
        Match {
            channel,
            instance,
            action,
        }
    }

    #[test]
    fn absent_fields_are_empty_or_zero_and_listed() {
        let e = parse_line(
            r#"{"template": "ProcessCreate", "fields": {"image_path": "C:\\x.exe", "pid": 7}}"#,
        )
        .unwrap();
        assert_eq!(e.values.len(), 11);
        assert_eq!(e.values[0], Owned::Str("C:\\x.exe".into()));
        assert_eq!(e.values[1], Owned::Str(String::new()));
        assert_eq!(e.values[4], Owned::Int(7));
        assert_eq!(e.values[5], Owned::Int(0));
        assert_eq!(
            e.absent,
            [
                "command_line",
                "parent_image_path",
                "user_sid",
                "parent_pid",
                "creator_pid",
                "session_id",
                "integrity_level",
                "token_elevated",
                "parent_command_line"
            ]
        );
        // No "fields" at all: every field absent.
        let e = parse_line(r#"{"template": "NamedPipeCreate"}"#).unwrap();
        assert_eq!(e.absent.len(), 20);
        assert!(e.expect.is_none());
    }

    #[test]
    fn unknown_names_are_errors_with_a_hint() {
        let e = parse_line(r#"{"template": "ProcessCreate", "fields": {"pidd": 1}}"#).unwrap_err();
        assert_eq!(
            e,
            "ProcessCreate has no field \"pidd\" (did you mean \"pid\"?)"
        );
        let e =
            parse_line(r#"{"template": "ProcessCreate", "fields": {"zzzzzz": 1}}"#).unwrap_err();
        assert_eq!(e, "ProcessCreate has no field \"zzzzzz\"");
        let e = parse_line(r#"{"template": "ProcessCreate", "expects": []}"#).unwrap_err();
        assert!(
            e.starts_with("unknown key \"expects\" (did you mean \"expect\"?)"),
            "{e}"
        );
        let e = parse_line(r#"{"template": "ProcesCreate"}"#).unwrap_err();
        assert!(e.contains("(did you mean \"ProcessCreate\"?)"), "{e}");
    }

    #[test]
    fn expectations_parse_in_both_forms() {
        let e = parse_line(
            r#"{"template": "ProcessCreate", "expect": ["300/1", "300/2 block-candidate", {"channel": 291, "instance": 10, "action": "report"}, {"channel": 7, "instance": 3}]}"#,
        )
        .unwrap();
        let want = [
            Expected {
                channel: 300,
                instance: 1,
                action: None,
            },
            Expected {
                channel: 300,
                instance: 2,
                action: Some(Action::BlockCandidate),
            },
            Expected {
                channel: 291,
                instance: 10,
                action: Some(Action::Report),
            },
            Expected {
                channel: 7,
                instance: 3,
                action: None,
            },
        ];
        assert_eq!(e.expect.as_deref(), Some(&want[..]));
        assert_eq!(want[1].to_string(), "300/2 block-candidate");
        let none = parse_line(r#"{"template": "ProcessCreate", "expect": []}"#).unwrap();
        assert_eq!(none.expect, Some(vec![]));
        for (bad, needle) in [
            (json!("300"), "CHANNEL/INSTANCE"),
            (json!("300/x"), "\"x\" is not a u32"),
            (json!("300/1 reprot"), "did you mean \"report\""),
            (json!("300/1 report extra"), "found \"300/1 report extra\""),
            (json!(3001), "found a number"),
            (json!({"channel": 1}), "\"instance\" must be a u32"),
            (
                json!({"channel": 1, "instance": 2, "chan": 3}),
                "unknown key \"chan\"",
            ),
        ] {
            let line = json!({"template": "ProcessCreate", "expect": [bad]}).to_string();
            let e = parse_line(&line).unwrap_err();
            assert!(e.contains(needle), "{line}: {e}");
        }
        let e = parse_line(r#"{"template": "ProcessCreate", "expect": "300/1"}"#).unwrap_err();
        assert!(e.contains("must be a list"), "{e}");
        let e = parse_line(r#"{"template": "ProcessCreate", "expect": ["300/1", "300/1 report"]}"#)
            .unwrap_err();
        assert!(e.contains("300/1 is listed twice"), "{e}");
    }

    #[test]
    fn check_is_exact_and_reports_both_sides() {
        let got = [m(300, 1, Action::Report), m(300, 5, Action::Report)];
        let exp = |s: &str| Expected::parse(&json!(s)).unwrap();
        assert!(check(&[exp("300/1"), exp("300/5 report")], &got).is_met());
        let d = check(&[exp("300/1"), exp("291/10")], &got);
        assert_eq!(d.missing, ["291/10"]);
        assert_eq!(d.unexpected, ["300/5 report"]);
        // An expected action that differs: missing and unexpected.
        let d = check(&[exp("300/1 block-candidate"), exp("300/5")], &got);
        assert_eq!(d.missing, ["300/1 block-candidate"]);
        assert_eq!(d.unexpected, ["300/1 report"]);
        // [] expects no match.
        assert!(check(&[], &[]).is_met());
        assert_eq!(check(&[], &got).unexpected.len(), 2);
    }

    #[test]
    fn truncation_cuts_at_char_boundaries() {
        assert_eq!(truncate_to_cap("abc", 3), ("abc", false));
        assert_eq!(truncate_to_cap("abcd", 3), ("abc", true));
        // "é" is 2 bytes: a cap inside it drops it.
        assert_eq!(truncate_to_cap("aé", 2), ("a", true));
        assert_eq!(truncate_to_cap("a😀", 4), ("a", true));
        assert_eq!(truncate_to_cap("a😀", 5), ("a😀", false));
        let long = format!("x{}", "y".repeat(5000));
        let line = json!({"template": "ProcessCreate", "fields": {"command_line": long, "image_path": "C:\\a.exe"}});
        let e = parse_line(&line.to_string()).unwrap();
        let (values, cut) = e.values(true);
        assert_eq!(
            cut,
            [Cut {
                field: "command_line",
                from: 5001,
                to: 2048
            }]
        );
        assert_eq!(values[1], Value::Str(&long[..2048]));
        assert_eq!(values[0], Value::Str("C:\\a.exe"));
        let (values, cut) = e.values(false);
        assert!(cut.is_empty());
        assert_eq!(values[1], Value::Str(&long));
    }

    proptest! {
        /// The cut is exactly the driver's: UTF-16 transcoded into a `cap`-byte buffer.
        #[test]
        fn truncation_is_the_drivers(s in "\\PC{0,40}", cap in 0usize..120) {
            let utf16: Vec<u16> = s.encode_utf16().collect();
            let mut buf = vec![0u8; cap];
            let (driver, driver_cut) = utf16_to_utf8(&utf16, &mut buf);
            let (ours, cut) = truncate_to_cap(&s, cap);
            prop_assert_eq!(ours, driver);
            prop_assert_eq!(cut, driver_cut);
        }
    }
}
