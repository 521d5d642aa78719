//! docs/FORMAT.md's schema section is generated from the one `const` schema
//! (`schema::TEMPLATE_TYPES`), so the spec cannot drift from the code: this
//! test fails when they differ. `UPDATE_FORMAT_DOC=1 cargo test -p
//! changuard-format --test format_doc` rewrites the section.

use changuard_format::SCHEMA_ID;
use changuard_format::schema::{TEMPLATE_TYPES, TemplateType};
use std::fmt::Write as _;
use std::path::PathBuf;

const BEGIN: &str = "<!-- BEGIN GENERATED: schema (crates/format/tests/format_doc.rs) -->\n";
const END: &str = "<!-- END GENERATED: schema -->\n";

fn render() -> String {
    let mut s = String::new();
    writeln!(s, "`SCHEMA_ID` = `{SCHEMA_ID:#018x}`\n").unwrap();
    writeln!(s, "| template id | name | input count |").unwrap();
    writeln!(s, "|---|---|---|").unwrap();
    for t in TEMPLATE_TYPES {
        writeln!(s, "| {} | `{}` | {} |", t.id, t.name, t.input_count()).unwrap();
    }
    for t in TEMPLATE_TYPES {
        writeln!(
            s,
            "\n### Template {} `{}`: {} inputs\n",
            t.id,
            t.name,
            t.input_count()
        )
        .unwrap();
        writeln!(
            s,
            "| criterion / field | name | type | cap (bytes) | filled by |"
        )
        .unwrap();
        writeln!(s, "|---|---|---|---|---|").unwrap();
        for (k, f) in t.fields.iter().enumerate() {
            let cap = if f.cap == 0 {
                "-".to_string()
            } else {
                f.cap.to_string()
            };
            writeln!(
                s,
                "| {k} | `{}` | {} | {cap} | {} |",
                f.name,
                f.ty.name(),
                f.source.name()
            )
            .unwrap();
        }
    }
    s
}

#[test]
fn format_md_schema_section_matches_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/FORMAT.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = doc
        .split_once(BEGIN)
        .expect("FORMAT.md has the BEGIN marker");
    let (current, tail) = rest.split_once(END).expect("FORMAT.md has the END marker");
    let want = render();
    if std::env::var_os("UPDATE_FORMAT_DOC").is_some() {
        std::fs::write(&path, format!("{head}{BEGIN}{want}{END}{tail}")).unwrap();
        return;
    }
    assert!(
        current == want,
        "docs/FORMAT.md's schema section differs from schema::TEMPLATE_TYPES; \
         run `UPDATE_FORMAT_DOC=1 cargo test -p changuard-format --test format_doc`\n\
         --- doc\n{current}\n--- code\n{want}"
    );
}

/// SCHEMA_ID recomputed from FORMAT.md's prose ("Schema id"), not from the
/// crate's code: if the prose is wrong, this fails.
#[test]
fn schema_id_derivation_as_documented() {
    fn fnv(h: u64, b: u8) -> u64 {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    }
    fn text(mut h: u64, s: &str) -> u64 {
        for &b in s.as_bytes() {
            h = fnv(h, b);
        }
        fnv(h, 0xff)
    }
    fn schema(types: &[TemplateType]) -> u64 {
        let mut h = text(0xcbf2_9ce4_8422_2325, "changuard-schema-v1");
        for t in types {
            for b in t.id.to_le_bytes() {
                h = fnv(h, b);
            }
            h = text(h, t.name);
            for f in t.fields {
                let code = match f.ty.name() {
                    "str" => 1,
                    "int" => 2,
                    other => panic!("undocumented type {other}"),
                };
                h = text(fnv(h, code), f.name);
            }
            h = fnv(h, 0xfe);
        }
        h
    }
    assert_eq!(schema(TEMPLATE_TYPES), SCHEMA_ID);
}
