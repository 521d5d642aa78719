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
    /// Negation (pushed down to the selections by [`expand_lits`]).
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
    /// Negation where [`expand`] (positive conditions only) met it.
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

/// A literal of a condition in negation normal form: a selection, or its
/// negation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lit {
    /// The selection's name.
    pub name: String,
    /// `not name`.
    pub neg: bool,
}

/// Expand `e` (negated when `neg`) to DNF over literals: negations are
/// pushed down to the selections with De Morgan (`not (a or b)` = `not a and
/// not b`, `not 1 of x*` = all of the negations, `not all of x*` = one of
/// them, `not not a` = `a`). Within each conjunct, repeated literals are
/// merged; a conjunct with both `a` and `not a` can never match and is
/// dropped.
///
/// # Errors
/// [`CondError::Unknown`] for names that match nothing,
/// [`CondError::TooMany`] past `cap` conjuncts.
pub fn expand_lits(
    e: &Expr,
    names: &[String],
    neg: bool,
    cap: usize,
) -> Result<Dnf<Lit>, CondError> {
    let dnf = lits(e, names, neg, cap)?;
    let mut out: Dnf<Lit> = Vec::with_capacity(dnf.len());
    for mut conj in dnf {
        conj.sort();
        conj.dedup();
        let contradiction = conj
            .iter()
            .any(|l| !l.neg && conj.iter().any(|m| m.neg && m.name == l.name));
        if !contradiction && !out.contains(&conj) {
            out.push(conj);
        }
    }
    Ok(out)
}

fn lits(e: &Expr, names: &[String], neg: bool, cap: usize) -> Result<Dnf<Lit>, CondError> {
    let lit = |n: &str| {
        vec![vec![Lit {
            name: n.to_string(),
            neg,
        }]]
    };
    match e {
        Expr::Sel(n) => {
            if !names.iter().any(|x| x == n) {
                return Err(CondError::Unknown(n.clone()));
            }
            Ok(lit(n))
        }
        Expr::Not(x) => lits(x, names, !neg, cap),
        Expr::And(v) | Expr::Or(v) => {
            let parts = v
                .iter()
                .map(|x| lits(x, names, neg, cap))
                .collect::<Result<Vec<_>, _>>()?;
            // AND, or a negated OR (De Morgan), is a conjunction.
            if matches!(e, Expr::And(_)) != neg {
                dnf_and(parts, cap)
            } else {
                dnf_or(parts, cap)
            }
        }
        Expr::Of { all, pattern } => {
            let hits: Vec<&String> = names.iter().filter(|n| name_matches(pattern, n)).collect();
            if hits.is_empty() {
                return Err(CondError::Unknown(pattern.clone()));
            }
            let parts: Vec<Dnf<Lit>> = hits.into_iter().map(|n| lit(n)).collect();
            if *all != neg {
                dnf_and(parts, cap)
            } else {
                dnf_or(parts, cap)
            }
        }
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

    fn lits(s: &str) -> Result<Dnf<String>, CondError> {
        let d = expand_lits(&parse(s)?, &names(), false, 64)?;
        Ok(d.into_iter()
            .map(|c| {
                c.into_iter()
                    .map(|l| format!("{}{}", if l.neg { "!" } else { "" }, l.name))
                    .collect()
            })
            .collect())
    }

    fn v(x: &[&[&str]]) -> Dnf<String> {
        x.iter()
            .map(|c| c.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    #[test]
    fn negation_is_pushed_to_the_selections() {
        assert_eq!(
            lits("sel2 and not filter").unwrap(),
            v(&[&["!filter", "sel2"]])
        );
        // not (a or b) = not a and not b; not (a and b) = not a or not b.
        assert_eq!(
            lits("sel2 and not (filter or selection_img)").unwrap(),
            v(&[&["!filter", "sel2", "!selection_img"]])
        );
        assert_eq!(
            lits("sel2 and not (filter and selection_img)").unwrap(),
            v(&[&["!filter", "sel2"], &["sel2", "!selection_img"]])
        );
        // not 1 of x* = all of the negations; not all of x* = one of them.
        assert_eq!(
            lits("sel2 and not 1 of selection_*").unwrap(),
            v(&[&["sel2", "!selection_cli", "!selection_img"]])
        );
        assert_eq!(
            lits("sel2 and not all of selection_*").unwrap(),
            v(&[&["sel2", "!selection_img"], &["sel2", "!selection_cli"]])
        );
        // Double negation cancels; a and not a is dropped.
        assert_eq!(lits("not not sel2").unwrap(), v(&[&["sel2"]]));
        assert_eq!(lits("sel2 and not sel2").unwrap(), v(&[]));
        assert_eq!(
            lits("(sel2 or filter) and not sel2").unwrap(),
            v(&[&["filter", "!sel2"]])
        );
        // (a or b) and not (f1 or f2).
        assert_eq!(
            lits("(selection_img or selection_cli) and not (filter or sel2)").unwrap(),
            v(&[
                &["!filter", "!sel2", "selection_img"],
                &["!filter", "!sel2", "selection_cli"]
            ])
        );
        assert!(matches!(lits("not nosuch"), Err(CondError::Unknown(_))));
        // 2^7 conjuncts: past the cap.
        let s = ["not (sel2 and filter)"; 7].join(" and ");
        assert_eq!(lits(&s), Err(CondError::TooMany(64)));
    }
}
