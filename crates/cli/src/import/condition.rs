//! Sigma `condition` expressions: tokenizer, parser, and expansion into
//! disjunctive normal form (an OR of ANDs).
//!
//! Grammar (Sigma 2.0, without aggregations):
//! `expr := term ("or" term)*`, `term := factor ("and" factor)*`,
//! `factor := "not" factor | "(" expr ")" | ("1" | "all") "of" (NAME | PATTERN* | "them") | NAME`.
//! Keywords are case-insensitive. `them` means every selection whose name
//! does not start with `_`.

use std::fmt;

/// A parsed condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// A selection by name.
    Sel(String),
    /// Negation (not expressible in changuard today).
    Not(Box<Expr>),
    /// All of the operands.
    And(Vec<Expr>),
    /// Any of the operands.
    Or(Vec<Expr>),
    /// `1 of X` (`all == false`) or `all of X`; `X` is a name, a `*` pattern or `them`.
    Of { all: bool, pattern: String },
}

/// Why a condition cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CondError {
    /// Malformed expression.
    Syntax(String),
    /// Negation somewhere in the expanded condition.
    Negation,
    /// A name or pattern that matches no selection.
    Unknown(String),
    /// Expansion grew past the instance limit.
    TooMany(usize),
    /// An aggregation (`| count() ...`) or another unsupported construct.
    Unsupported(String),
}

impl fmt::Display for CondError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CondError::Syntax(s) => write!(f, "condition syntax: {s}"),
            CondError::Negation => write!(f, "needs negation"),
            CondError::Unknown(s) => write!(f, "condition names unknown selection `{s}`"),
            CondError::TooMany(n) => write!(f, "expands past {n} instances"),
            CondError::Unsupported(s) => write!(f, "needs {s}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    One,
    All,
    Of,
    Word(String),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, CondError> {
    if s.contains('|') {
        return Err(CondError::Unsupported(
            "aggregation (`|` in condition)".into(),
        ));
    }
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' {
            chars.next();
            out.push(Tok::LParen);
        } else if c == ')' {
            chars.next();
            out.push(Tok::RParen);
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '(' || c == ')' {
                    break;
                }
                w.push(c);
                chars.next();
            }
            let t = match w.to_ascii_lowercase().as_str() {
                "and" => Tok::And,
                "or" => Tok::Or,
                "not" => Tok::Not,
                "1" => Tok::One,
                "all" => Tok::All,
                "of" => Tok::Of,
                _ => {
                    if !w.chars().all(|c| {
                        c.is_alphanumeric() || c == '_' || c == '*' || c == '-' || c == '.'
                    }) {
                        return Err(CondError::Syntax(format!("unexpected `{w}`")));
                    }
                    Tok::Word(w)
                }
            };
            out.push(t);
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 64;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn expr(&mut self) -> Result<Expr, CondError> {
        let mut v = vec![self.term()?];
        while self.peek() == Some(&Tok::Or) {
            self.next();
            v.push(self.term()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::Or(v)
        })
    }
    fn term(&mut self) -> Result<Expr, CondError> {
        let mut v = vec![self.factor()?];
        while self.peek() == Some(&Tok::And) {
            self.next();
            v.push(self.factor()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Expr::And(v)
        })
    }
    fn factor(&mut self) -> Result<Expr, CondError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(CondError::Syntax("nested too deeply".into()));
        }
        let r = match self.next() {
            Some(Tok::Not) => Ok(Expr::Not(Box::new(self.factor()?))),
            Some(Tok::LParen) => {
                let e = self.expr()?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err(CondError::Syntax("missing `)`".into())),
                }
            }
            Some(t @ (Tok::One | Tok::All)) => {
                if self.next() != Some(Tok::Of) {
                    return Err(CondError::Syntax("expected `of`".into()));
                }
                match self.next() {
                    Some(Tok::Word(w)) => Ok(Expr::Of {
                        all: t == Tok::All,
                        pattern: w,
                    }),
                    _ => Err(CondError::Syntax("expected a name after `of`".into())),
                }
            }
            Some(Tok::Word(w)) => {
                if w.contains('*') {
                    Err(CondError::Syntax(format!(
                        "wildcard `{w}` outside `1 of`/`all of`"
                    )))
                } else {
                    Ok(Expr::Sel(w))
                }
            }
            Some(t) => Err(CondError::Syntax(format!("unexpected {t:?}"))),
            None => Err(CondError::Syntax("unexpected end".into())),
        };
        self.depth -= 1;
        r
    }
}

/// Parse one condition string.
pub fn parse(s: &str) -> Result<Expr, CondError> {
    let toks = tokenize(s)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let e = p.expr()?;
    if p.pos != p.toks.len() {
        return Err(CondError::Syntax(format!(
            "unexpected {:?}",
            p.toks.get(p.pos)
        )));
    }
    Ok(e)
}

/// `name` matches Sigma pattern `pat` (`*` wildcard only).
pub fn name_matches(pat: &str, name: &str) -> bool {
    if pat == "them" {
        return !name.starts_with('_');
    }
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|k| go(rest, n.get(k..).unwrap_or(&[]))),
            Some((c, rest)) => n.first() == Some(c) && go(rest, n.get(1..).unwrap_or(&[])),
        }
    }
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// Disjunctive normal form over atoms of type `A`: an OR of ANDs.
pub type Dnf<A> = Vec<Vec<A>>;

/// OR of DNFs, failing past `cap` conjuncts.
pub fn dnf_or<A: Clone>(parts: Vec<Dnf<A>>, cap: usize) -> Result<Dnf<A>, CondError> {
    let mut out = Vec::new();
    for p in parts {
        out.extend(p);
        if out.len() > cap {
            return Err(CondError::TooMany(cap));
        }
    }
    Ok(out)
}

/// AND of DNFs (the cross product), failing past `cap` conjuncts.
pub fn dnf_and<A: Clone>(parts: Vec<Dnf<A>>, cap: usize) -> Result<Dnf<A>, CondError> {
    let mut acc: Dnf<A> = vec![Vec::new()];
    for p in parts {
        let n = acc.len().saturating_mul(p.len());
        if n > cap {
            return Err(CondError::TooMany(cap));
        }
        let mut next = Vec::with_capacity(n);
        for a in &acc {
            for b in &p {
                let mut c = a.clone();
                c.extend(b.iter().cloned());
                next.push(c);
            }
        }
        acc = next;
    }
    Ok(acc)
}

/// Expand `e` to DNF, where `sel` gives each selection's own DNF (in the
/// rule's selection order `names`).
///
/// # Errors
/// [`CondError::Negation`] for `not`, [`CondError::Unknown`] for names that
/// match nothing, [`CondError::TooMany`] past `cap` conjuncts.
pub fn expand<A: Clone>(
    e: &Expr,
    names: &[String],
    sel: &dyn Fn(&str) -> Result<Dnf<A>, CondError>,
    cap: usize,
) -> Result<Dnf<A>, CondError> {
    match e {
        Expr::Sel(n) => {
            if !names.iter().any(|x| x == n) {
                return Err(CondError::Unknown(n.clone()));
            }
            sel(n)
        }
        Expr::Not(_) => Err(CondError::Negation),
        Expr::And(v) => {
            let parts = v
                .iter()
                .map(|x| expand(x, names, sel, cap))
                .collect::<Result<Vec<_>, _>>()?;
            dnf_and(parts, cap)
        }
        Expr::Or(v) => {
            let parts = v
                .iter()
                .map(|x| expand(x, names, sel, cap))
                .collect::<Result<Vec<_>, _>>()?;
            dnf_or(parts, cap)
        }
        Expr::Of { all, pattern } => {
            let hits: Vec<&String> = names.iter().filter(|n| name_matches(pattern, n)).collect();
            if hits.is_empty() {
                return Err(CondError::Unknown(pattern.clone()));
            }
            let parts = hits
                .into_iter()
                .map(|n| sel(n))
                .collect::<Result<Vec<_>, _>>()?;
            if *all {
                dnf_and(parts, cap)
            } else {
                dnf_or(parts, cap)
            }
        }
    }
}

/// Whether `e` contains a negation anywhere (checked before expansion so the
/// reason is stable: a rule with a filter is refused for the negation, not
/// for whatever else its filter needs).
pub fn has_not(e: &Expr) -> bool {
    match e {
        Expr::Not(_) => true,
        Expr::And(v) | Expr::Or(v) => v.iter().any(has_not),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        [
            "selection_img",
            "selection_cli",
            "sel2",
            "filter",
            "_hidden",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn sel(n: &str) -> Result<Dnf<String>, CondError> {
        if n == "sel2" {
            // Two alternatives.
            Ok(vec![vec!["sel2a".into()], vec!["sel2b".into()]])
        } else {
            Ok(vec![vec![n.to_string()]])
        }
    }

    fn dnf(s: &str) -> Result<Dnf<String>, CondError> {
        expand(&parse(s)?, &names(), &sel, 64)
    }

    #[test]
    fn parses_precedence_and_parens() {
        assert_eq!(
            parse("a or b and c").unwrap(),
            Expr::Or(vec![
                Expr::Sel("a".into()),
                Expr::And(vec![Expr::Sel("b".into()), Expr::Sel("c".into())])
            ])
        );
        assert_eq!(
            parse("(a or b) AND c").unwrap(),
            Expr::And(vec![
                Expr::Or(vec![Expr::Sel("a".into()), Expr::Sel("b".into())]),
                Expr::Sel("c".into())
            ])
        );
        assert!(parse("a and").is_err());
        assert!(parse("(a").is_err());
        assert!(parse("a b").is_err());
        assert!(parse("1 of").is_err());
        assert!(matches!(
            parse("selection | count() > 5"),
            Err(CondError::Unsupported(_))
        ));
        let deep = "(".repeat(500) + "a" + &")".repeat(500);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn expands_to_dnf() {
        assert_eq!(
            dnf("selection_img and selection_cli").unwrap(),
            vec![vec!["selection_img".to_string(), "selection_cli".into()]]
        );
        assert_eq!(dnf("1 of selection_*").unwrap().len(), 2);
        assert_eq!(dnf("all of selection_*").unwrap().len(), 1);
        // (a) and (b1 or b2) = a b1 | a b2
        assert_eq!(
            dnf("selection_img and sel2").unwrap(),
            vec![
                vec!["selection_img".to_string(), "sel2a".into()],
                vec!["selection_img".to_string(), "sel2b".into()]
            ]
        );
        // them excludes names starting with `_`.
        let all = dnf("all of them").unwrap();
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|c| !c.contains(&"_hidden".to_string())));
        assert_eq!(dnf("1 of them").unwrap().len(), 5);
        assert_eq!(dnf("selection_img or not filter"), Err(CondError::Negation));
        assert!(matches!(dnf("nosuch"), Err(CondError::Unknown(_))));
        assert!(matches!(dnf("1 of nosuch*"), Err(CondError::Unknown(_))));
    }

    #[test]
    fn caps_expansion() {
        // sel2 and sel2 ... (7 times) = 2^7 = 128 > 64.
        let s = ["sel2"; 7].join(" and ");
        assert_eq!(dnf(&s), Err(CondError::TooMany(64)));
        let s = ["sel2"; 6].join(" and ");
        assert_eq!(dnf(&s).unwrap().len(), 64);
    }

    #[test]
    fn name_patterns() {
        assert!(name_matches("selection*", "selection"));
        assert!(name_matches("sel*_x", "sel_a_x"));
        assert!(!name_matches("sel*_x", "sel_a_y"));
        assert!(name_matches("them", "a"));
        assert!(!name_matches("them", "_a"));
    }
}
