//! Fuzz the events-file line parser of `changuard replay` / `changuard test`
//! (untrusted input: events come from captures and from other people's
//! repositories): any text must parse to an event or a precise error, never
//! panic, and a parsed event always has exactly its template's inputs, each
//! string cut to at most its field's cap.
#![no_main]

use changuard_cli::events::parse_line;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else { return };
    let Ok(ev) = parse_line(line) else { return };
    for truncate in [true, false] {
        let (values, cut) = ev.values(truncate);
        assert_eq!(values.len(), ev.template.input_count());
        for (v, f) in values.iter().zip(ev.template.fields) {
            assert_eq!(v.field_type(), f.ty, "field {}", f.name);
            if let (true, changuard_interp::Value::Str(s)) = (truncate, v) {
                assert!(s.len() <= usize::from(f.cap), "field {} over its cap", f.name);
            }
        }
        if !truncate {
            assert!(cut.is_empty());
        }
    }
});
