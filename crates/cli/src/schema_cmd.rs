//! `changuard schema`: the sensor schema content is written against, printed
//! from `changuard_format::schema` (the table the driver, the validator and
//! the interpreter are compiled with), never from a copy.
//!
//! Text: the `SCHEMA_ID`, then per template type its id, name and input
//! count and every field in criterion order (index, name, type, cap in UTF-8
//! bytes for strings, source), then what each source means.
//!
//! `--json`: one document,
//! `{"schema_id": "0x...", "templates": [{"id", "name", "inputs", "fields":
//! [{"index", "name", "type", "cap", "source"}]}], "sources": [{"name",
//! "meaning"}]}`; `cap` is `null` for integer fields.

use changuard_format::schema::{self, Source, TEMPLATE_TYPES};
use clap::Args;
use serde_json::{Value, json};
use std::fmt::Write as _;

/// Arguments of `changuard schema`.
#[derive(Args, Debug)]
pub struct SchemaArgs {
    /// One JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Every source, in the order the legend lists them.
pub const SOURCES: [Source; 3] = [Source::Callback, Source::Empty, Source::Submitted];

/// One line on what a field's source means for content.
pub const fn meaning(s: Source) -> &'static str {
    match s {
        Source::Callback => "filled by the driver's own callback on every event",
        Source::Empty => {
            "sent empty (\"\" or 0) by this driver today: a criterion that needs a value never matches a real event"
        }
        Source::Submitted => {
            "no callback yet: only events submitted with IOCTL_SUBMIT_EVENT (`changuard driver submit`, a dry run) carry it"
        }
    }
}

/// `SCHEMA_ID` as written in specs and shown by `inspect`.
pub fn schema_id_hex() -> String {
    format!("{:#018x}", schema::SCHEMA_ID)
}

/// The text form.
pub fn text() -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "schema id {}  (every channel file declares it; the validator rejects any other: wrong-schema)",
        schema_id_hex()
    );
    for t in TEMPLATE_TYPES {
        let _ = writeln!(
            out,
            "\ntemplate {} {}: {} inputs (every instance has exactly {} criteria, one per field, in this order)",
            t.id,
            t.name,
            t.input_count(),
            t.input_count()
        );
        let _ = writeln!(
            out,
            "  {:>5}  {:<26} {:<4} {:>5}  source",
            "index", "field", "type", "cap"
        );
        for (k, f) in t.fields.iter().enumerate() {
            let cap = match f.ty {
                schema::FieldType::Str => f.cap.to_string(),
                schema::FieldType::Int => "-".into(),
            };
            let _ = writeln!(
                out,
                "  {k:>5}  {:<26} {:<4} {cap:>5}  {}",
                f.name,
                f.ty.name(),
                f.source.name()
            );
        }
    }
    let _ = writeln!(
        out,
        "\ncap: the longest string the driver delivers, in UTF-8 bytes; longer values are truncated at a code point boundary before matching."
    );
    let _ = writeln!(out, "sources:");
    for s in SOURCES {
        let _ = writeln!(out, "  {:<10} {}", s.name(), meaning(s));
    }
    out
}

/// The JSON form (keys are stable; see the module docs).
pub fn to_json() -> Value {
    let templates: Vec<Value> = TEMPLATE_TYPES
        .iter()
        .map(|t| {
            let fields: Vec<Value> = t
                .fields
                .iter()
                .enumerate()
                .map(|(k, f)| {
                    json!({
                        "index": k,
                        "name": f.name,
                        "type": f.ty.name(),
                        "cap": match f.ty {
                            schema::FieldType::Str => json!(f.cap),
                            schema::FieldType::Int => Value::Null,
                        },
                        "source": f.source.name(),
                    })
                })
                .collect();
            json!({"id": t.id, "name": t.name, "inputs": t.input_count(), "fields": fields})
        })
        .collect();
    let sources: Vec<Value> = SOURCES
        .iter()
        .map(|s| json!({"name": s.name(), "meaning": meaning(*s)}))
        .collect();
    json!({"schema_id": schema_id_hex(), "templates": templates, "sources": sources})
}

/// Run `changuard schema`. Always 0.
pub fn run(a: &SchemaArgs) -> i32 {
    if a.json {
        println!("{}", to_json());
    } else {
        print!("{}", text());
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use changuard_format::schema::FieldType;

    #[test]
    fn json_parses_and_lists_every_field_of_the_table() {
        let doc: Value = serde_json::from_str(&to_json().to_string()).expect("JSON parses");
        assert_eq!(doc["schema_id"], json!(schema_id_hex()));
        assert_eq!(
            u64::from_str_radix(
                doc["schema_id"].as_str().unwrap().trim_start_matches("0x"),
                16
            )
            .unwrap(),
            schema::SCHEMA_ID
        );
        let templates = doc["templates"].as_array().expect("templates");
        assert_eq!(templates.len(), TEMPLATE_TYPES.len());
        for (t, j) in TEMPLATE_TYPES.iter().zip(templates) {
            assert_eq!(j["id"], json!(t.id));
            assert_eq!(j["name"], json!(t.name));
            assert_eq!(j["inputs"], json!(t.input_count()));
            let fields = j["fields"].as_array().expect("fields");
            assert_eq!(fields.len(), t.fields.len(), "{}", t.name);
            for (k, (f, jf)) in t.fields.iter().zip(fields).enumerate() {
                assert_eq!(jf["index"], json!(k));
                assert_eq!(jf["name"], json!(f.name));
                assert_eq!(jf["type"], json!(f.ty.name()));
                assert_eq!(jf["source"], json!(f.source.name()));
                match f.ty {
                    FieldType::Str => assert_eq!(jf["cap"], json!(f.cap)),
                    FieldType::Int => assert!(jf["cap"].is_null()),
                }
            }
        }
        let sources: Vec<&str> = doc["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(sources, ["callback", "empty", "submitted"]);
    }

    #[test]
    fn text_lists_every_field_with_type_cap_and_source() {
        let out = text();
        assert!(out.contains(&schema_id_hex()));
        for t in TEMPLATE_TYPES {
            assert!(
                out.contains(&format!(
                    "template {} {}: {} inputs",
                    t.id,
                    t.name,
                    t.input_count()
                )),
                "{out}"
            );
            for (k, f) in t.fields.iter().enumerate() {
                let cap = match f.ty {
                    FieldType::Str => f.cap.to_string(),
                    FieldType::Int => "-".into(),
                };
                let row: Vec<String> = vec![
                    k.to_string(),
                    f.name.into(),
                    f.ty.name().into(),
                    cap,
                    f.source.name().into(),
                ];
                assert!(
                    out.lines()
                        .any(|l| l.split_whitespace().collect::<Vec<_>>() == row),
                    "no row {row:?} in\n{out}"
                );
            }
        }
        for s in SOURCES {
            assert!(out.contains(meaning(s)));
        }
    }

    fn content_md() -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/CONTENT.md");
        std::fs::read_to_string(path).expect("docs/CONTENT.md")
    }

    /// docs/CONTENT.md's field tables are this table (a doc that drifts
    /// from the code fails here, not in a content author's hands).
    #[test]
    fn content_md_field_tables_match_the_schema() {
        let doc = content_md();
        assert!(doc.contains(&format!("`{}`", schema_id_hex())), "SCHEMA_ID");
        for t in TEMPLATE_TYPES {
            let head = format!(
                "### Template {} `{}`: {} fields",
                t.id,
                t.name,
                t.input_count()
            );
            let at = doc.find(&head).unwrap_or_else(|| panic!("no `{head}`"));
            let rows: Vec<&str> = doc[at..]
                .lines()
                .filter(|l| l.starts_with("| ") && !l.starts_with("| index"))
                .take_while(|l| !l.starts_with("|---"))
                .take(t.fields.len() + 1)
                .collect();
            let want: Vec<String> = t
                .fields
                .iter()
                .enumerate()
                .map(|(k, f)| {
                    let cap = match f.ty {
                        FieldType::Str => f.cap.to_string(),
                        FieldType::Int => "-".into(),
                    };
                    format!(
                        "| {k} | `{}` | {} | {cap} | {} |",
                        f.name,
                        f.ty.name(),
                        f.source.name()
                    )
                })
                .collect();
            assert_eq!(rows[..want.len().min(rows.len())], want[..], "{}", t.name);
            let next = rows.get(want.len());
            assert!(
                next.is_none_or(|l| !l.starts_with(&format!("| {} |", want.len()))),
                "{}: extra row {next:?}",
                t.name
            );
        }
    }

    /// Every TOML block of docs/CONTENT.md parses as a spec (snippets without
    /// a `channel` line get one), except its spec-error example and the
    /// keyring spec (`file=keyring.toml`: `changuard keyring build` reads
    /// it, and docs/CONTENT.md's commands build it in CI).
    #[test]
    fn content_md_toml_blocks_parse() {
        let doc = content_md();
        let mut blocks = 0;
        let mut lines = doc.lines();
        while let Some(l) = lines.next() {
            if !l.starts_with("```toml") {
                continue;
            }
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            if l.contains("file=keyring.toml") {
                assert!(body.iter().any(|b| b.starts_with("[[key]]")), "{body:?}");
                continue;
            }
            let mut src = body.join("\n");
            if !src.contains("\nchannel = ") && !src.starts_with("channel = ") {
                src = format!("channel = 1\nversion = 1\n{src}");
            }
            // The guide's spec-error example must stay an error.
            if l.contains("file=typo.toml") {
                let e = crate::spec::parse(&src).expect_err("typo.toml is the error example");
                assert!(e.message.contains("no input `image_pth`"), "{}", e.message);
            } else {
                crate::spec::parse(&src).unwrap_or_else(|e| panic!("{e:?} in\n{src}"));
            }
            blocks += 1;
        }
        assert!(blocks >= 4, "{blocks} toml blocks");
    }

    #[test]
    fn every_source_in_the_table_is_explained() {
        for t in TEMPLATE_TYPES {
            for f in t.fields {
                assert!(SOURCES.contains(&f.source), "{}", f.name);
            }
        }
    }
}
