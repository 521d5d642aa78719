//! Sigma `|re` patterns (PCRE) translated to changuard's regex syntax (the
//! Rust `regex-syntax` crate, Unicode mode), exactly or not at all.
//!
//! - `\d \s \w` (and negations) are ASCII in PCRE, Unicode in Rust: written
//!   out as ASCII classes. `\b` becomes `(?-u:\b)` (ASCII word boundary,
//!   which the DFA also supports); `\B` is refused (not allowed in UTF-8 mode).
//! - `$` (without multi-line mode) and `\Z` match at the end or before a
//!   final newline in PCRE: `(?:\n?\z)`, exact for an occurs-anywhere match.
//! - Lookaround, backreferences, atomic groups, possessive quantifiers,
//!   recursion, verbs, `\G \K \R \X \h \v \C`, extended mode: refused.
//! - Literal characters Rust treats specially (`\<` `\>`, `&&` `--` `~~` and
//!   `[` inside classes) are escaped.
//! - A `{` that does not start a valid quantifier is a literal, as in PCRE.

/// Translate a PCRE pattern; the error is the refusal reason.
pub fn translate(p: &str) -> Result<String, String> {
    let chars: Vec<char> = p.chars().collect();
    let multiline = has_flag(&chars, 'm');
    let mut out = String::with_capacity(p.len() + 16);
    let mut i = 0;
    // Whether the previous item can take a quantifier (for possessive detection).
    while let Some(&c) = chars.get(i) {
        match c {
            '\\' => {
                let (s, n) = escape(&chars, i, false)?;
                out.push_str(&s);
                i += n;
            }
            '[' => {
                let (s, n) = class(&chars, i)?;
                out.push_str(&s);
                i += n;
            }
            '(' => {
                let rest: String = chars.get(i + 1..).unwrap_or(&[]).iter().take(4).collect();
                if rest.starts_with("?=") || rest.starts_with("?!") {
                    return Err("needs lookahead (regex-automata has no lookaround)".into());
                }
                if rest.starts_with("?<=") || rest.starts_with("?<!") {
                    return Err("needs lookbehind (regex-automata has no lookaround)".into());
                }
                if rest.starts_with("?>") {
                    return Err("needs an atomic group".into());
                }
                if rest.starts_with("?|")
                    || rest.starts_with("?#")
                    || rest.starts_with("?R")
                    || rest.starts_with("?&")
                    || rest.starts_with("?(")
                    || rest.starts_with("?+")
                    || rest.starts_with("?-")
                        && !rest[2..].starts_with(|c: char| c.is_ascii_alphabetic())
                    || rest.starts_with('*')
                    || rest.chars().nth(1).is_some_and(|c| c.is_ascii_digit())
                        && rest.starts_with('?')
                {
                    return Err(format!("needs PCRE group `({}`", rest));
                }
                if rest.starts_with("?P<") {
                    // Named group: Rust has the same syntax; keep it unnamed.
                    let close = find(&chars, i + 4, '>')?;
                    out.push_str("(?:");
                    i = close + 1;
                } else if rest.starts_with("?<") || rest.starts_with("?'") {
                    let end = if rest.starts_with("?<") { '>' } else { '\'' };
                    let close = find(&chars, i + 3, end)?;
                    out.push_str("(?:");
                    i = close + 1;
                } else if rest.starts_with('?') {
                    // Flags: (?flags) or (?flags:
                    let mut j = i + 2;
                    let mut flags = String::new();
                    while let Some(&f) = chars.get(j) {
                        if f == ')' || f == ':' {
                            break;
                        }
                        if !matches!(f, 'i' | 'm' | 's' | '-') {
                            return Err(format!("needs PCRE flag `{f}`"));
                        }
                        flags.push(f);
                        j += 1;
                    }
                    let Some(&end) = chars.get(j) else {
                        return Err("unterminated group".into());
                    };
                    out.push_str("(?");
                    out.push_str(&flags);
                    out.push(end);
                    i = j + 1;
                } else {
                    out.push('(');
                    i += 1;
                }
            }
            '$' => {
                out.push_str(if multiline { "$" } else { r"(?:\n?\z)" });
                i += 1;
            }
            '{' => {
                // A valid quantifier {n}, {n,}, {n,m}; otherwise a literal.
                let mut j = i + 1;
                let mut s = String::from("{");
                let mut ok = false;
                let mut digits = 0;
                while let Some(&d) = chars.get(j) {
                    if d.is_ascii_digit() {
                        digits += 1;
                        s.push(d);
                    } else if d == ',' && digits > 0 && !s.contains(',') {
                        s.push(d);
                    } else if d == '}' && digits > 0 {
                        s.push(d);
                        ok = true;
                        break;
                    } else {
                        break;
                    }
                    j += 1;
                }
                if ok {
                    out.push_str(&s);
                    i = j + 1;
                    possessive_check(&chars, i)?;
                } else {
                    out.push_str(r"\{");
                    i += 1;
                }
            }
            '*' | '+' | '?' => {
                out.push(c);
                i += 1;
                possessive_check(&chars, i)?;
                if chars.get(i) == Some(&'?') {
                    out.push('?');
                    i += 1;
                }
            }
            '}' => {
                out.push_str(r"\}");
                i += 1;
            }
            '#' | '&' | '~' | '-' | '<' | '>' | ' ' => {
                // Literal in PCRE; escape the ones Rust may treat specially.
                match c {
                    '#' | '&' | '~' | '-' => {
                        out.push('\\');
                        out.push(c);
                    }
                    _ => out.push(c),
                }
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn has_flag(chars: &[char], flag: char) -> bool {
    // Any `(?...flag...` group turning the flag on.
    let s: String = chars.iter().collect();
    s.match_indices("(?").any(|(k, _)| {
        s.get(k + 2..)
            .unwrap_or("")
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .any(|c| c == flag)
    })
}

fn possessive_check(chars: &[char], i: usize) -> Result<(), String> {
    if chars.get(i) == Some(&'+') {
        return Err("needs a possessive quantifier".into());
    }
    Ok(())
}

fn find(chars: &[char], from: usize, c: char) -> Result<usize, String> {
    (from..chars.len())
        .find(|&k| chars.get(k) == Some(&c))
        .ok_or_else(|| "unterminated group name".to_string())
}

const SPACE: &str = r"\t\n\x0B\x0C\r ";
const WORD: &str = "0-9A-Za-z_";

/// Escape a literal character for Rust regex syntax (outside or inside a class).
pub fn lit(c: char) -> String {
    if c.is_ascii_punctuation() || c == ' ' {
        if c == ' ' {
            return " ".into();
        }
        if matches!(
            c,
            '<' | '>' | '"' | '\'' | '`' | '=' | '!' | '%' | ',' | '/' | ':' | ';' | '@' | '_'
        ) {
            return c.to_string();
        }
        return format!("\\{c}");
    }
    if c.is_control() {
        return format!("\\x{{{:X}}}", c as u32);
    }
    c.to_string()
}

/// One escape at `chars[i] == '\\'`; returns the translation and how many
/// chars it used. `in_class`: inside `[...]` (classes become their contents).
fn escape(chars: &[char], i: usize, in_class: bool) -> Result<(String, usize), String> {
    let Some(&e) = chars.get(i + 1) else {
        return Err("pattern ends with `\\`".into());
    };
    let cls = |body: &str, neg: bool| -> String {
        match (in_class, neg) {
            (true, false) => body.to_string(),
            (true, true) => format!("[^{body}]"),
            (false, false) => format!("[{body}]"),
            (false, true) => format!("[^{body}]"),
        }
    };
    let s = match e {
        'd' => cls("0-9", false),
        'D' => cls("0-9", true),
        's' => cls(SPACE, false),
        'S' => cls(SPACE, true),
        'w' => cls(WORD, false),
        'W' => cls(WORD, true),
        'b' if !in_class => r"(?-u:\b)".into(),
        'b' => r"\x08".into(),
        'A' if !in_class => r"\A".into(),
        'z' if !in_class => r"\z".into(),
        'Z' if !in_class => r"(?:\n?\z)".into(),
        'n' | 'r' | 't' | 'f' | 'a' => format!("\\{e}"),
        'e' => r"\x1B".into(),
        'x' => {
            // \xhh or \x{h...}
            if chars.get(i + 2) == Some(&'{') {
                let close = find(chars, i + 3, '}')?;
                let hex: String = chars.get(i + 3..close).unwrap_or(&[]).iter().collect();
                if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(format!("bad escape \\x{{{hex}}}"));
                }
                return Ok((format!("\\x{{{hex}}}"), close + 1 - i));
            }
            let hex: String = chars
                .get(i + 2..)
                .unwrap_or(&[])
                .iter()
                .take(2)
                .take_while(|c| c.is_ascii_hexdigit())
                .collect();
            let n = hex.len();
            let v = u32::from_str_radix(if hex.is_empty() { "0" } else { &hex }, 16).unwrap_or(0);
            return Ok((format!("\\x{{{v:X}}}"), 2 + n));
        }
        'p' | 'P' => {
            if chars.get(i + 2) == Some(&'{') {
                let close = find(chars, i + 3, '}')?;
                let body: String = chars.get(i + 2..=close).unwrap_or(&[]).iter().collect();
                return Ok((format!("\\{e}{body}"), close + 1 - i));
            }
            return Err("needs a one-letter Unicode property".into());
        }
        'Q' => {
            // Literal text up to \E.
            let mut j = i + 2;
            let mut s = String::new();
            while let Some(&c) = chars.get(j) {
                if c == '\\' && chars.get(j + 1) == Some(&'E') {
                    j += 2;
                    return Ok((s, j - i));
                }
                s.push_str(&lit(c));
                j += 1;
            }
            return Ok((s, j - i));
        }
        '1'..='9' => return Err("needs a backreference".into()),
        '0' => return Err("needs an octal escape".into()),
        c if c.is_ascii_alphanumeric() => return Err(format!("needs PCRE escape \\{c}")),
        c => lit(c),
    };
    Ok((s, 2))
}

/// A class at `chars[i] == '['`; the translation and chars used.
fn class(chars: &[char], i: usize) -> Result<(String, usize), String> {
    let mut out = String::from("[");
    let mut j = i + 1;
    if chars.get(j) == Some(&'^') {
        out.push('^');
        j += 1;
    }
    let mut first = true;
    // Whether the last item written was a single character (a range start).
    let mut last_single = false;
    loop {
        let Some(&c) = chars.get(j) else {
            return Err("unterminated character class".into());
        };
        if c == ']' && !first {
            out.push(']');
            return Ok((out, j + 1 - i));
        }
        first = false;
        if c == '[' && chars.get(j + 1) == Some(&':') {
            // POSIX class [:name:], same syntax in Rust.
            let rest: String = chars.get(j..).unwrap_or(&[]).iter().collect();
            if let Some(end) = rest.find(":]") {
                let body = &rest[..end + 2];
                out.push_str(body);
                j += body.chars().count();
                last_single = false;
                continue;
            }
        }
        if c == '-' && last_single {
            // A range if followed by a single char other than `]`.
            match chars.get(j + 1) {
                Some(']') | None => {
                    out.push_str(r"\-");
                    j += 1;
                    last_single = false;
                }
                Some('\\') => {
                    let (s, n) = escape(chars, j + 1, true)?;
                    if s.chars().count() > 1 && !s.starts_with('\\') || s.starts_with('[') {
                        // `a-\d`: literal dash then a class.
                        out.push_str(r"\-");
                    } else {
                        out.push('-');
                    }
                    out.push_str(&s);
                    j += 1 + n;
                    last_single = false;
                }
                Some(&d) => {
                    out.push('-');
                    out.push_str(&lit(d));
                    j += 2;
                    last_single = false;
                }
            }
            continue;
        }
        if c == '\\' {
            let (s, n) = escape(chars, j, true)?;
            // Single-character escapes can start a range.
            last_single = matches!(
                chars.get(j + 1),
                Some('n' | 'r' | 't' | 'f' | 'a' | 'e' | 'x')
            ) || !chars.get(j + 1).is_some_and(|c| c.is_ascii_alphanumeric());
            out.push_str(&s);
            j += n;
            continue;
        }
        out.push_str(&lit(c));
        last_single = true;
        j += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn ascii_classes() {
        assert_eq!(translate(r"\d+").unwrap(), "[0-9]+");
        assert_eq!(
            translate(r"\s\S").unwrap(),
            r"[\t\n\x0B\x0C\r ][^\t\n\x0B\x0C\r ]"
        );
        assert_eq!(translate(r"\w\W").unwrap(), "[0-9A-Za-z_][^0-9A-Za-z_]");
        assert_eq!(translate(r"[\w.-]").unwrap(), r"[0-9A-Za-z_\.\-]");
        assert_eq!(translate(r"[^\d]").unwrap(), "[^0-9]");
        assert_eq!(translate(r"[\W]").unwrap(), "[[^0-9A-Za-z_]]");
        assert_eq!(translate(r"\bx\b").unwrap(), r"(?-u:\b)x(?-u:\b)");
    }

    #[test]
    fn anchors_and_literals() {
        assert_eq!(translate(r"^a$").unwrap(), r"^a(?:\n?\z)");
        assert_eq!(translate(r"(?m)^a$").unwrap(), r"(?m)^a$");
        assert_eq!(translate(r"a{2,3}b{x").unwrap(), r"a{2,3}b\{x");
        assert_eq!(translate(r"\<x\>").unwrap(), "<x>");
        assert_eq!(translate(r"[a&&b]").unwrap(), r"[a\&\&b]");
        assert_eq!(translate(r"[[]").unwrap(), r"[\[]");
        assert_eq!(translate(r"[]a]").unwrap(), r"[\]a]");
        assert_eq!(translate(r"[a-z-]").unwrap(), r"[a-z\-]");
        assert_eq!(translate(r"\Qa.b\E").unwrap(), r"a\.b");
        assert_eq!(translate(r"(?i)x").unwrap(), r"(?i)x");
        assert_eq!(translate(r"(?<n>x)").unwrap(), r"(?:x)");
        assert_eq!(translate(r"a*?").unwrap(), r"a*?");
    }

    #[test]
    fn refusals() {
        for p in [
            r"a(?=b)", r"a(?!b)", r"(?<=a)b", r"(?<!a)b", r"(a)\1", r"(?>a)", r"a++", r"a*+",
            r"a{2}+", r"\Ka", r"\Ba", r"(?x)a", "[a", r"a\",
        ] {
            assert!(translate(p).is_err(), "{p}");
        }
    }
}
