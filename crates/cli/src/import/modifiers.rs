//! Sigma values and modifiers to changuard criteria.
//!
//! A string value becomes a [`Pat`]: a sequence of [`Elem`]s (a set of
//! characters, or Sigma's `*`) with an anchor at either end. Patterns that
//! are plain literals under one case mode lower to string criteria
//! (equals/prefix/suffix/contains); the rest to a regex written out so that
//! the DFA matches exactly what Sigma means (ASCII case-insensitive letters
//! as `[aA]`, non-ASCII letters with Unicode folding `(?i:ä)`).

use super::pcre;
use changuard_format::StrOp;
use changuard_format::build::CriterionSpec;

/// One position of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Elem {
    /// One character, compared case-insensitively when `ci`.
    Lit(char, bool),
    /// One of several characters (windash), exactly.
    OneOf(Vec<char>),
    /// Sigma `?`: any one character.
    AnyChar,
    /// Sigma `*`: any run of characters.
    Star,
}

/// A Sigma string value after modifiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pat {
    /// Must match at the start of the field.
    pub start: bool,
    /// Must match at the end of the field.
    pub end: bool,
    /// The body.
    pub elems: Vec<Elem>,
}

/// How a field entry's values are matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchType {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
    Re,
}

/// A field key's modifiers, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mods {
    pub ty: MatchType,
    pub all: bool,
    pub cased: bool,
    pub windash: bool,
    /// Encoding steps in order: "wide", "base64", "base64offset".
    pub encodings: Vec<&'static str>,
    /// `re` sub-flags.
    pub re_i: bool,
    pub re_m: bool,
    pub re_s: bool,
    /// Expand up to two windash positions into literal variants (string
    /// criteria, no DFA) instead of one regex with a dash class.
    pub expand_windash: bool,
}

/// Parse `mods` (the parts after the field name).
///
/// # Errors
/// The refusal reason.
pub fn parse_mods(mods: &[&str]) -> Result<Mods, String> {
    let mut m = Mods {
        ty: MatchType::Equals,
        all: false,
        cased: false,
        windash: false,
        encodings: Vec::new(),
        re_i: false,
        re_m: false,
        re_s: false,
        expand_windash: false,
    };
    let set_ty = |m: &mut Mods, t: MatchType| -> Result<(), String> {
        if m.ty != MatchType::Equals {
            return Err("needs two match-type modifiers at once".into());
        }
        m.ty = t;
        Ok(())
    };
    for &x in mods {
        match x {
            "contains" => set_ty(&mut m, MatchType::Contains)?,
            "startswith" => set_ty(&mut m, MatchType::StartsWith)?,
            "endswith" => set_ty(&mut m, MatchType::EndsWith)?,
            "re" => set_ty(&mut m, MatchType::Re)?,
            "i" if m.ty == MatchType::Re => m.re_i = true,
            "m" if m.ty == MatchType::Re => m.re_m = true,
            "s" if m.ty == MatchType::Re => m.re_s = true,
            "all" => m.all = true,
            "cased" => m.cased = true,
            "windash" => m.windash = true,
            "wide" | "utf16le" => m.encodings.push("wide"),
            "base64" => m.encodings.push("base64"),
            "base64offset" => m.encodings.push("base64offset"),
            other => return Err(format!("needs modifier |{other}")),
        }
    }
    if !m.encodings.is_empty() {
        if m.ty == MatchType::Re || m.windash {
            return Err("needs modifier |re or |windash with an encoding".into());
        }
        match m.encodings.last() {
            Some(&"base64") | Some(&"base64offset") => {}
            _ => return Err("needs matching of raw UTF-16 bytes (|wide without |base64)".into()),
        }
        if m.encodings
            .iter()
            .filter(|e| e.starts_with("base64"))
            .count()
            > 1
        {
            return Err("needs nested base64".into());
        }
        if m.encodings.contains(&"base64offset") && m.ty != MatchType::Contains {
            return Err("needs |base64offset without |contains".into());
        }
    }
    if m.ty == MatchType::Re && (m.cased || m.windash) {
        return Err("needs |re combined with |cased or |windash".into());
    }
    Ok(m)
}

/// Parse a Sigma string with `*`, `?` wildcards and `\` escapes (`\*`, `\?`,
/// `\\`; a backslash before anything else is itself).
pub fn parse_wildcards(s: &str, ci: bool) -> Vec<Elem> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        match c {
            '\\' => match chars.get(i + 1) {
                Some(&n @ ('*' | '?' | '\\')) => {
                    out.push(Elem::Lit(n, ci));
                    i += 2;
                }
                _ => {
                    out.push(Elem::Lit('\\', ci));
                    i += 1;
                }
            },
            '*' => {
                out.push(Elem::Star);
                i += 1;
            }
            '?' => {
                out.push(Elem::AnyChar);
                i += 1;
            }
            _ => {
                out.push(Elem::Lit(c, ci));
                i += 1;
            }
        }
    }
    out
}

/// The dash variants Sigma's `windash` expands `-` and `/` to.
pub const WINDASH: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

fn is_word(e: Option<&Elem>) -> bool {
    matches!(e, Some(Elem::Lit(c, _)) if c.is_alphanumeric() || *c == '_')
}

/// pySigma's windash: every `-` or `/` matching `\B[-/]\b` within a plain
/// run of the value (wildcards end a run) becomes one of [`WINDASH`].
pub fn windash(elems: &mut [Elem]) {
    let snapshot = elems.to_vec();
    for (k, e) in elems.iter_mut().enumerate() {
        if let Elem::Lit(c @ ('-' | '/'), _) = e {
            let _ = c;
            let prev_word = k > 0 && is_word(snapshot.get(k - 1));
            let next_word = is_word(snapshot.get(k + 1));
            if !prev_word && next_word {
                *e = Elem::OneOf(WINDASH.to_vec());
            }
        }
    }
}

/// Standard base64 (with padding).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let idx = |s: u32| char::from(T.get(((n >> s) & 63) as usize).copied().unwrap_or(b'A'));
        out.push(idx(18));
        out.push(idx(12));
        out.push(if chunk.len() > 1 { idx(6) } else { '=' });
        out.push(if chunk.len() > 2 { idx(0) } else { '=' });
    }
    out
}

/// pySigma's base64offset: the three encodings of `data` at byte offsets
/// 0, 1, 2 within a base64 stream, trimmed to the stable characters.
pub fn base64offset(data: &[u8]) -> Vec<String> {
    let start = [0usize, 2, 3];
    let end_trim = [0usize, 3, 2];
    (0..3)
        .map(|i| {
            let mut v = vec![b' '; i];
            v.extend_from_slice(data);
            let enc = base64(&v);
            let e = end_trim.get((data.len() + i) % 3).copied().unwrap_or(0);
            let s = start.get(i).copied().unwrap_or(0);
            enc.get(s..enc.len().saturating_sub(e))
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// The patterns one Sigma string value stands for under `m` (several for
/// base64offset; one otherwise). `Err` is a refusal reason.
pub fn value_pats(v: &str, m: &Mods) -> Result<Vec<Pat>, String> {
    let ci = !m.cased;
    let (start, end) = match m.ty {
        MatchType::Equals => (true, true),
        MatchType::Contains => (false, false),
        MatchType::StartsWith => (true, false),
        MatchType::EndsWith => (false, true),
        MatchType::Re => return Err("internal: regex value".into()),
    };
    if !m.encodings.is_empty() {
        if v.contains(['*', '?']) {
            return Err("needs wildcards inside base64-encoded values".into());
        }
        let mut bytes: Vec<u8> = v.as_bytes().to_vec();
        let mut outs: Vec<String> = Vec::new();
        for e in &m.encodings {
            match *e {
                "wide" => {
                    let s = String::from_utf8_lossy(&bytes).into_owned();
                    bytes = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
                }
                "base64" => outs = vec![base64(&bytes)],
                _ => outs = base64offset(&bytes),
            }
        }
        return Ok(outs
            .into_iter()
            .map(|s| Pat {
                start,
                end,
                elems: s.chars().map(|c| Elem::Lit(c, ci)).collect(),
            })
            .collect());
    }
    let mut elems = parse_wildcards(v, ci);
    if m.windash {
        windash(&mut elems);
    }
    let dashes: Vec<usize> = (0..elems.len())
        .filter(|&k| matches!(elems.get(k), Some(Elem::OneOf(_))))
        .collect();
    if m.expand_windash && !m.all && !dashes.is_empty() && dashes.len() <= 2 {
        let mut out = vec![elems];
        for &k in &dashes {
            out = out
                .into_iter()
                .flat_map(|e| {
                    WINDASH.iter().map(move |&d| {
                        let mut e = e.clone();
                        if let Some(slot) = e.get_mut(k) {
                            *slot = Elem::Lit(d, false);
                        }
                        e
                    })
                })
                .collect();
        }
        return Ok(out
            .into_iter()
            .map(|elems| normalize(Pat { start, end, elems }))
            .collect());
    }
    Ok(vec![normalize(Pat { start, end, elems })])
}

/// Leading/trailing `*` unanchor the pattern; runs of `*` collapse.
pub fn normalize(mut p: Pat) -> Pat {
    p.elems
        .dedup_by(|a, b| *a == Elem::Star && *b == Elem::Star);
    while p.elems.first() == Some(&Elem::Star) {
        p.elems.remove(0);
        p.start = false;
    }
    while p.elems.last() == Some(&Elem::Star) {
        p.elems.pop();
        p.end = false;
    }
    p
}

fn has_case(c: char) -> bool {
    c.to_lowercase().ne(c.to_uppercase())
}

/// Lower a pattern to one criterion.
pub fn lower(p: &Pat) -> CriterionSpec {
    // A plain literal under one ASCII case mode: a string criterion.
    let mut s = String::new();
    let mut mode: Option<bool> = None;
    let mut plain = true;
    for e in &p.elems {
        match e {
            Elem::Lit(c, ci) => {
                let ci = *ci && has_case(*c);
                if ci && !c.is_ascii() {
                    plain = false;
                    break;
                }
                if ci {
                    if mode == Some(false) {
                        plain = false;
                        break;
                    }
                    mode = Some(true);
                } else if has_case(*c) {
                    // A cased letter compared exactly.
                    if mode == Some(true) {
                        plain = false;
                        break;
                    }
                    mode = Some(false);
                }
                s.push(*c);
            }
            _ => {
                plain = false;
                break;
            }
        }
    }
    if plain {
        let case_insensitive = mode.unwrap_or(false);
        let op = match (p.start, p.end) {
            (true, true) => StrOp::Equals,
            (true, false) => StrOp::Prefix,
            (false, true) => StrOp::Suffix,
            (false, false) => StrOp::Contains,
        };
        if s.is_empty() && op != StrOp::Equals {
            return CriterionSpec::Any;
        }
        return CriterionSpec::Str {
            op,
            value: s,
            case_insensitive,
        };
    }
    CriterionSpec::Regex {
        pattern: to_regex(p),
        case_insensitive: false,
    }
}

/// The regex for elements (no anchors).
pub fn elems_regex(elems: &[Elem]) -> String {
    let mut r = String::new();
    for e in elems {
        match e {
            Elem::Lit(c, true) if has_case(*c) => {
                if c.is_ascii() {
                    r.push('[');
                    r.push(c.to_ascii_uppercase());
                    r.push(c.to_ascii_lowercase());
                    r.push(']');
                } else {
                    r.push_str("(?i:");
                    r.push(*c);
                    r.push(')');
                }
            }
            Elem::Lit(c, _) => r.push_str(&pcre::lit(*c)),
            Elem::OneOf(cs) => {
                r.push('[');
                for c in cs {
                    r.push_str(&pcre::lit(*c));
                }
                r.push(']');
            }
            Elem::AnyChar => r.push_str("(?s:.)"),
            Elem::Star => r.push_str("(?s:.*)"),
        }
    }
    r
}

/// Any of several patterns as regex alternations, exactly (each pattern
/// with its own anchors): as few criteria as keep each pattern within
/// `max_len` bytes (a longer single pattern stands alone), to be ORed; one
/// `Any` when one of them matches everything.
pub fn alternation(pats: &[Pat], max_len: usize) -> Vec<CriterionSpec> {
    let mut alts: Vec<(String, &Pat)> = Vec::with_capacity(pats.len());
    for p in pats {
        if lower(p) == CriterionSpec::Any {
            return vec![CriterionSpec::Any];
        }
        let r = to_regex(p);
        if !alts.iter().any(|(a, _)| *a == r) {
            alts.push((r, p));
        }
    }
    let mut chunks: Vec<Vec<(String, &Pat)>> = Vec::new();
    let mut len = 0usize;
    for a in alts {
        match chunks.last_mut() {
            Some(c) if len + 1 + a.0.len() <= max_len => {
                len += 1 + a.0.len();
                c.push(a);
            }
            _ => {
                len = a.0.len();
                chunks.push(vec![a]);
            }
        }
    }
    chunks
        .into_iter()
        .map(|c| match c.as_slice() {
            [(_, p)] => lower(p),
            _ => CriterionSpec::Regex {
                pattern: c
                    .iter()
                    .map(|(r, _)| r.as_str())
                    .collect::<Vec<_>>()
                    .join("|"),
                case_insensitive: false,
            },
        })
        .collect()
}

fn to_regex(p: &Pat) -> String {
    let mut r = String::new();
    if p.start {
        r.push_str(r"\A");
    }
    r.push_str(&elems_regex(&p.elems));
    if p.end {
        r.push_str(r"\z");
    }
    r
}

/// Could elements `a` and `b` match the same character? Then their meet.
fn meet(a: &Elem, b: &Elem) -> Option<Elem> {
    fn chars(e: &Elem) -> Option<Vec<char>> {
        match e {
            Elem::Lit(c, true) if has_case(*c) => {
                let mut v: Vec<char> = c.to_lowercase().chain(c.to_uppercase()).collect();
                v.push(*c);
                v.sort_unstable();
                v.dedup();
                Some(v)
            }
            Elem::Lit(c, _) => Some(vec![*c]),
            Elem::OneOf(v) => Some(v.clone()),
            Elem::AnyChar | Elem::Star => None,
        }
    }
    match (chars(a), chars(b)) {
        (None, _) => Some(b.clone()),
        (_, None) => Some(a.clone()),
        (Some(x), Some(y)) => {
            if x == y {
                return Some(a.clone());
            }
            let both: Vec<char> = x.into_iter().filter(|c| y.contains(c)).collect();
            match both.len() {
                0 => None,
                1 => both.first().map(|c| Elem::Lit(*c, false)),
                _ => Some(Elem::OneOf(both)),
            }
        }
    }
}

/// Overlay `b` onto `a` starting at offset `k` (which may run past `a`'s
/// end): the shortest element sequences that contain both with `b` at `k`.
fn overlay(a: &[Elem], b: &[Elem], k: usize) -> Option<Vec<Elem>> {
    let mut out: Vec<Elem> = a.to_vec();
    for (j, e) in b.iter().enumerate() {
        match out.get_mut(k + j) {
            Some(slot) => *slot = meet(slot, e)?,
            None => out.push(e.clone()),
        }
    }
    Some(out)
}

/// "Contains all of" several unanchored, `*`-free patterns as one regex,
/// exactly: every ordering of the needles separated by `.*`, plus (for two
/// needles) every way they can overlap. Three needles are accepted only when
/// no two can overlap; more are refused.
pub fn contains_all(needles: &[Vec<Elem>]) -> Result<CriterionSpec, String> {
    let refuse = || "needs several ANDed criteria on one field".to_string();
    if needles.iter().any(|n| n.contains(&Elem::Star)) {
        return Err(refuse());
    }
    let mut uniq: Vec<Vec<Elem>> = Vec::new();
    for n in needles {
        if !uniq.contains(n) {
            uniq.push(n.clone());
        }
    }
    // An empty needle is always contained.
    uniq.retain(|n| !n.is_empty());
    match uniq.len() {
        0 => return Ok(CriterionSpec::Any),
        1 => {
            return Ok(lower(&Pat {
                start: false,
                end: false,
                elems: uniq.remove(0),
            }));
        }
        _ => {}
    }
    let overlaps = |a: &[Elem], b: &[Elem]| -> Vec<Vec<Elem>> {
        // b placed at offsets 0..len(a) (overlapping a, or inside it).
        (0..a.len()).filter_map(|k| overlay(a, b, k)).collect()
    };
    let mut alts: Vec<String> = Vec::new();
    if uniq.len() == 2 {
        let (a, b) = (&uniq[0], &uniq[1]);
        alts.push(format!("{}(?s:.*){}", elems_regex(a), elems_regex(b)));
        alts.push(format!("{}(?s:.*){}", elems_regex(b), elems_regex(a)));
        for m in overlaps(a, b).into_iter().chain(overlaps(b, a)) {
            alts.push(elems_regex(&m));
        }
    } else if uniq.len() == 3 {
        for (x, y) in [(0, 1), (0, 2), (1, 2)] {
            if !overlaps(&uniq[x], &uniq[y]).is_empty() || !overlaps(&uniq[y], &uniq[x]).is_empty()
            {
                return Err(refuse());
            }
        }
        for [x, y, z] in [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ] {
            alts.push(format!(
                "{}(?s:.*){}(?s:.*){}",
                elems_regex(&uniq[x]),
                elems_regex(&uniq[y]),
                elems_regex(&uniq[z])
            ));
        }
    } else {
        return Err(refuse());
    }
    alts.dedup();
    Ok(CriterionSpec::Regex {
        pattern: alts.join("|"),
        case_insensitive: false,
    })
}

/// A `|re` value: the translated regex criterion.
pub fn regex_value(v: &str, m: &Mods) -> Result<CriterionSpec, String> {
    let mut p = pcre::translate(v)?;
    let mut flags = String::new();
    if m.re_m {
        flags.push('m');
    }
    if m.re_s {
        flags.push('s');
    }
    if !flags.is_empty() {
        p = format!("(?{flags}){p}");
        if m.re_m {
            // `$` was translated for single-line mode; redo with the flag.
            p = format!("(?{flags}){}", pcre::translate(&format!("(?m){v}"))?);
        }
    }
    Ok(CriterionSpec::Regex {
        pattern: p,
        case_insensitive: m.re_i,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(mods: &[&str]) -> Mods {
        parse_mods(mods).unwrap()
    }

    fn one(v: &str, mods: &[&str]) -> CriterionSpec {
        let p = value_pats(v, &m(mods)).unwrap();
        assert_eq!(p.len(), 1);
        lower(&p[0])
    }

    fn s(op: StrOp, v: &str, ci: bool) -> CriterionSpec {
        CriterionSpec::Str {
            op,
            value: v.into(),
            case_insensitive: ci,
        }
    }

    #[test]
    fn match_types_and_wildcards() {
        assert_eq!(
            one(r"\cmd.exe", &["endswith"]),
            s(StrOp::Suffix, r"\cmd.exe", true)
        );
        assert_eq!(one("cmd.exe", &[]), s(StrOp::Equals, "cmd.exe", true));
        assert_eq!(one("*cmd.exe", &[]), s(StrOp::Suffix, "cmd.exe", true));
        // Sigma escapes: `\\*` is a backslash then a wildcard; `\*` a literal star.
        assert_eq!(one("C:\\\\*", &[]), s(StrOp::Prefix, "C:\\", true));
        assert_eq!(one("C:\\*", &[]), s(StrOp::Equals, "C:*", true));
        assert_eq!(one("*x*", &[]), s(StrOp::Contains, "x", true));
        assert_eq!(one("x", &["startswith"]), s(StrOp::Prefix, "x", true));
        assert_eq!(
            one("X", &["contains", "cased"]),
            s(StrOp::Contains, "X", false)
        );
        assert_eq!(one("*", &[]), CriterionSpec::Any);
        assert_eq!(one(r"a\*b", &["contains"]), s(StrOp::Contains, "a*b", true));
        assert_eq!(
            one("a*b?", &["contains"]),
            CriterionSpec::Regex {
                pattern: "[Aa](?s:.*)[Bb](?s:.)".into(),
                case_insensitive: false
            }
        );
        assert_eq!(
            one("a*b", &[]),
            CriterionSpec::Regex {
                pattern: r"\A[Aa](?s:.*)[Bb]\z".into(),
                case_insensitive: false
            }
        );
        // Digits and punctuation have no case: compared exactly.
        assert_eq!(one("1.2", &["contains"]), s(StrOp::Contains, "1.2", false));
    }

    #[test]
    fn non_ascii_letters_use_unicode_folding_regex() {
        assert_eq!(
            one("bä", &["contains"]),
            CriterionSpec::Regex {
                pattern: "[Bb](?i:ä)".into(),
                case_insensitive: false
            }
        );
        // Cased: a literal, exact.
        assert_eq!(
            one("bä", &["contains", "cased"]),
            s(StrOp::Contains, "bä", false)
        );
    }

    #[test]
    fn windash_expands_dashes_at_word_starts() {
        let c = one(" -enc ", &["contains", "windash"]);
        let CriterionSpec::Regex { pattern, .. } = c else {
            panic!("{c:?}")
        };
        assert_eq!(pattern, " [\\-/\u{2013}\u{2014}\u{2015}][Ee][Nn][Cc] ");
        // Inside a word (a-b) or before a non-word char: unchanged.
        assert_eq!(
            one("a-b", &["contains", "windash"]),
            s(StrOp::Contains, "a-b", true)
        );
        assert_eq!(
            one("- x", &["contains", "windash"]),
            s(StrOp::Contains, "- x", true)
        );
        // Expanded: five literal variants instead of a regex.
        let mut mods = m(&["contains", "windash"]);
        mods.expand_windash = true;
        let v: Vec<CriterionSpec> = value_pats(" -enc", &mods)
            .unwrap()
            .iter()
            .map(lower)
            .collect();
        assert_eq!(v.len(), 5);
        assert_eq!(v[1], s(StrOp::Contains, " /enc", true));
        assert_eq!(v[4], s(StrOp::Contains, " \u{2015}enc", true));
    }

    #[test]
    fn base64_modifiers() {
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"fo"), "Zm8=");
        // pySigma's documented example values for base64offset("/c ...").
        assert_eq!(
            base64offset(b"http://"),
            vec!["aHR0cDovL", "h0dHA6Ly", "odHRwOi8v"]
        );
        let p = value_pats("IEX", &m(&["base64offset", "contains"])).unwrap();
        assert_eq!(p.len(), 3);
        let w = value_pats("I", &m(&["wide", "base64", "contains"])).unwrap();
        assert_eq!(lower(&w[0]), s(StrOp::Contains, "SQA=", true));
        assert!(parse_mods(&["wide", "contains"]).is_err());
        assert!(parse_mods(&["base64offset"]).is_err());
        assert!(value_pats("a*", &m(&["base64", "contains"])).is_err());
        assert!(parse_mods(&["gt"]).is_err());
    }

    #[test]
    fn contains_all_is_exact() {
        let n = |s: &str| parse_wildcards(s, true);
        // Non-overlapping pair: both orders.
        let c = contains_all(&[n("ab"), n("cd")]).unwrap();
        let CriterionSpec::Regex { pattern, .. } = c else {
            panic!()
        };
        assert_eq!(pattern, "[Aa][Bb](?s:.*)[Cc][Dd]|[Cc][Dd](?s:.*)[Aa][Bb]");
        // Overlapping pair: "abc" contains both "ab" and "bc".
        let c = contains_all(&[n("ab"), n("bc")]).unwrap();
        let CriterionSpec::Regex { pattern, .. } = c else {
            panic!()
        };
        assert!(pattern.contains("[Aa][Bb][Cc]"), "{pattern}");
        // Containment: "abc" and "b".
        let c = contains_all(&[n("abc"), n("b")]).unwrap();
        let CriterionSpec::Regex { pattern, .. } = c else {
            panic!()
        };
        assert!(pattern.split('|').any(|a| a == "[Aa][Bb][Cc]"), "{pattern}");
        // Three disjoint needles: 6 orders; overlapping three or four: refused.
        assert!(contains_all(&[n("ab"), n("cd"), n("ef")]).is_ok());
        assert!(contains_all(&[n("ab"), n("bc"), n("ef")]).is_err());
        assert!(contains_all(&[n("a"), n("c"), n("e"), n("g")]).is_err());
        // Duplicates collapse.
        assert_eq!(
            contains_all(&[n("ab"), n("ab")]).unwrap(),
            s(StrOp::Contains, "ab", true)
        );
    }

    #[test]
    fn re_values() {
        let r = regex_value(r"\d+\.exe$", &m(&["re"])).unwrap();
        assert_eq!(
            r,
            CriterionSpec::Regex {
                pattern: r"[0-9]+\.exe(?:\n?\z)".into(),
                case_insensitive: false
            }
        );
        let r = regex_value("a", &m(&["re", "i"])).unwrap();
        assert_eq!(
            r,
            CriterionSpec::Regex {
                pattern: "a".into(),
                case_insensitive: true
            }
        );
        assert!(regex_value("(?=a)", &m(&["re"])).is_err());
    }
}
