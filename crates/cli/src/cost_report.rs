//! How the proven per-event cost bound (changuard_format::cost) reads in
//! `build`, `validate` and `inspect`: fuel per template type, next to the
//! ceilings, in decimal.

use changuard_format::CostBound;
use changuard_format::cost::{SET_CEILING, TEMPLATE_CEILING};
use changuard_format::schema::TEMPLATE_TYPES;
use serde_json::{Value, json};

/// `12345678` as `12,345,678`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (k, ch) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// One line: each template type with its bound (a type without instances
/// costs only its type check).
pub fn line(b: &CostBound) -> String {
    let parts: Vec<String> = TEMPLATE_TYPES
        .iter()
        .zip(b.fuel.iter())
        .map(|(t, f)| format!("{} {}", t.name, grouped(*f)))
        .collect();
    let what = parts.join(", ");
    format!(
        "cost bound per event (fuel): {what}; ceiling {} per file, {} for all channels",
        grouped(TEMPLATE_CEILING),
        grouped(SET_CEILING)
    )
}

/// The same as JSON: `{"templates": [{"template", "bound"}], "ceiling", "set_ceiling"}`.
pub fn json(b: &CostBound) -> Value {
    let templates: Vec<Value> = TEMPLATE_TYPES
        .iter()
        .zip(b.fuel.iter())
        .map(|(t, f)| json!({"template": t.name, "bound": f}))
        .collect();
    json!({"unit": "fuel", "templates": templates, "ceiling": TEMPLATE_CEILING, "set_ceiling": SET_CEILING})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_puts_commas_every_three_digits() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(16_777_216), "16,777,216");
        assert_eq!(grouped(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn the_line_names_every_template_in_decimal() {
        let mut b = CostBound::default();
        b.fuel[0] = 12_345;
        let l = line(&b);
        assert!(l.contains("ProcessCreate 12,345"), "{l}");
        assert!(l.contains("NamedPipeCreate 0"), "{l}");
        let j = json(&b);
        assert_eq!(j["templates"][0]["bound"], 12_345);
        assert_eq!(j["templates"][1]["bound"], 0);
        assert_eq!(j["ceiling"], TEMPLATE_CEILING);
    }
}
