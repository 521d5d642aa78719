//! Loading one Sigma rule file (untrusted YAML) into the parts the importer uses.

use serde_yaml_ng::Value;

/// The parts of a Sigma rule the importer reads.
#[derive(Clone, Debug)]
pub struct SigmaRule {
    pub id: String,
    pub title: String,
    pub author: String,
    pub category: String,
    pub product: String,
    pub service: String,
    /// Detection items in file order (`condition` and `timeframe` excluded).
    pub selections: Vec<(String, Value)>,
    /// One or more conditions (a list means OR).
    pub conditions: Vec<String>,
    /// `timeframe` present (an aggregation needs it).
    pub timeframe: bool,
}

/// Largest rule file read (SigmaHQ rules are a few KiB).
pub const MAX_RULE_LEN: u64 = 1024 * 1024;

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Sequence(xs)) => xs
            .iter()
            .map(|x| text(Some(x)))
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    }
}

/// Parse a rule's text. `Err` is a message (the caller names the file).
pub fn parse(src: &str) -> Result<SigmaRule, String> {
    let doc: Value = serde_yaml_ng::from_str(src).map_err(|e| format!("invalid YAML: {e}"))?;
    let Value::Mapping(top) = &doc else {
        return Err("not a YAML mapping".into());
    };
    let logsource = top.get("logsource");
    let ls = |k: &str| text(logsource.and_then(|l| l.get(k)));
    let Some(Value::Mapping(det)) = top.get("detection") else {
        return Err("no `detection` mapping".into());
    };
    let mut selections = Vec::new();
    let mut conditions = Vec::new();
    let mut timeframe = false;
    for (k, v) in det {
        let Value::String(name) = k else {
            return Err("a detection key is not a string".into());
        };
        match name.as_str() {
            "condition" => match v {
                Value::String(s) => conditions.push(s.clone()),
                Value::Sequence(xs) => {
                    for x in xs {
                        match x {
                            Value::String(s) => conditions.push(s.clone()),
                            _ => return Err("a condition is not a string".into()),
                        }
                    }
                }
                _ => return Err("`condition` is not a string".into()),
            },
            "timeframe" => timeframe = true,
            _ => selections.push((name.clone(), v.clone())),
        }
    }
    if conditions.is_empty() {
        return Err("no `condition`".into());
    }
    Ok(SigmaRule {
        id: text(top.get("id")),
        title: text(top.get("title")),
        author: text(top.get("author")),
        category: ls("category"),
        product: ls("product"),
        service: ls("service"),
        selections,
        conditions,
        timeframe,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rule_parts() {
        let r = parse(
            "title: T\nid: abc\nauthor: A, B\nlogsource:\n  category: process_creation\n  product: windows\n\
             detection:\n  sel:\n    Image|endswith: '\\x.exe'\n  condition: sel\n",
        )
        .unwrap();
        assert_eq!(r.title, "T");
        assert_eq!(r.author, "A, B");
        assert_eq!(r.category, "process_creation");
        assert_eq!(r.selections.len(), 1);
        assert_eq!(r.conditions, vec!["sel".to_string()]);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for s in [
            "",
            "[1, 2]",
            "title: x",
            "detection: 3",
            "detection:\n  sel: 1\n",
            ": : :",
            "a: *b",
        ] {
            assert!(parse(s).is_err(), "{s:?}");
        }
    }
}
