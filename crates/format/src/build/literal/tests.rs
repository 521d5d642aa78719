use super::*;
use crate::build::regex::{compile_regex, dense_dfa};
use regex_automata::Input;
use regex_automata::dfa::Automaton;
use std::string::ToString;
use std::{eprintln, format};

/// The single literal (the runs [`literal_runs`] finds), whether or not
/// [`required_literal`] prefers a set to it.
fn lit(p: &str, ci: bool) -> Option<(String, bool)> {
    single_literal(&parse(p, ci)?).map(|h| (h.text, h.folded))
}
fn some(t: &str, folded: bool) -> Option<(String, bool)> {
    Some((t.to_string(), folded))
}

fn set(p: &str, ci: bool) -> Option<(Vec<String>, bool)> {
    required_literal(p, ci)
        .filter(|h| h.set)
        .map(|h| (h.text.split('\0').map(String::from).collect(), h.folded))
}

#[test]
fn literal_sets_take_one_literal_per_branch() {
    // The benchmark's encoded-command family: no single literal, one
    // member per branch (regex-syntax factors `SQB` out of two of them;
    // the prefix extractor multiplies it back in).
    assert_eq!(
        set(
            r#"\s[-/][eE][a-zA-Z]*\s+(SQBFAFgA|aQBlAHgA|SQBuAHYAbwBrAGUA)[A-Za-z0-9+/]{20,}"#,
            false
        ),
        Some((
            std::vec![
                "SQBFAFgA".into(),
                "SQBuAHYAbwBrAGUA".into(),
                "aQBlAHgA".into()
            ],
            false
        ))
    );
    // Case-insensitive: folded members, one per branch (no `k` or `s`:
    // their KELVIN SIGN and LONG S variants would be members too).
    assert_eq!(
        set(r"[0-9](Mimidogz|procdump)[0-9]", true),
        Some((std::vec!["mimidogz".into(), "procdump".into()], true))
    );
    // A single literal of 4 bytes or more wins, unless every member is
    // SET_OVER_LITERAL bytes longer; a branch without one (or with a
    // short one) leaves no set.
    assert_eq!(set(r"(abc|efg)-urlcache", false), None);
    // A run of items, into a repetition's first iteration, gives a
    // whole set (`[0-9]+` begins with `[0-9]`).
    let members = |prefixes: &[&str], tails: &str| -> Vec<String> {
        prefixes
            .iter()
            .flat_map(|p| tails.chars().map(move |c| std::format!("{p}{c}")))
            .collect()
    };
    assert_eq!(
        set(r"(abcd|efgh)-urlcache[0-9]+", false),
        Some((
            members(&["abcd-urlcache", "efgh-urlcache"], "0123456789"),
            false
        ))
    );
    // The benchmark's weak `http` family: a run through the optional
    // `s` (with its LONG S spelling) into `[0-9]{1,3}`, 30 members;
    // the tail's own members were shortened to `https://`.
    assert_eq!(
        set(r"(curl|wget)\s.*https?://[0-9]{1,3}\.[0-9]", true),
        Some((
            members(&["http://", "https://", "http\u{17f}://"], "0123456789"),
            true
        ))
    );
    // Not 4 bytes longer than `-urlcache`: the single literal stays.
    assert_eq!(set(r"(abcdefgh|ijklmnop)[0-9]{3}-urlcache", false), None);
    assert_eq!(
        set(r"(abcd|efgh)-urlcache", false),
        Some((
            std::vec!["abcd-urlcache".into(), "efgh-urlcache".into()],
            false
        ))
    );
    // No item gives 4-byte members, but a tail of the concatenation does.
    assert_eq!(
        set(r"[0-9]+-(ab|cd)-xy", false),
        Some((std::vec!["-ab-xy".into(), "-cd-xy".into()], false))
    );
    assert_eq!(set(r"(abcd|ef)[0-9]", false), None);
    assert_eq!(set(r"(abcd|[a-z]+)[0-9]", false), None);
    // The Cobalt Strike pipe family (examples/content): one member per
    // branch (`\\postex_ssh_` contains `\\postex_`), with the LONG S
    // spellings the case-insensitive DFA also matches.
    assert_eq!(
        set(
            r"\\(msagent_|postex_|status_|postex_ssh_)[0-9a-f]{2,4}$",
            true
        ),
        Some((
            [
                "\\msagent_",
                "\\m\u{17f}agent_",
                "\\postex_",
                "\\po\u{17f}tex_",
                "\\status_",
                "\\statu\u{17f}_",
                "\\\u{17f}tatus_",
                "\\\u{17f}tatu\u{17f}_"
            ]
            .map(String::from)
            .to_vec(),
            true
        ))
    );
    // A single literal under 4 bytes gives way to a set.
    assert_eq!(
        set(r"foo(bar)?baz", false),
        Some((std::vec!["foobarbaz".into(), "foobaz".into()], false))
    );
    // Two-case classes (SigmaHQ's spelling of case-insensitivity) give
    // one folded member each, not their case variants.
    assert_eq!(
        set(r"[Cc][Mm][Dd] /[Cc]|[Pp][Ss] /[Xx]", false),
        Some((std::vec!["cmd /c".into(), "ps /x".into()], true))
    );
    // A member that contains another is dropped.
    assert_eq!(
        set(r"(abcd|xabcdx|efgh)[0-9]", false),
        Some((std::vec!["abcd".into(), "efgh".into()], false))
    );
}

#[test]
fn example_patterns() {
    // examples/content: the Cobalt Strike pipe family has no single
    // literal but `\` (alternation); see the set tests.
    assert_eq!(
        lit(
            r"\\(msagent_|postex_|status_|postex_ssh_)[0-9a-f]{2,4}$",
            true
        ),
        None
    );
    assert_eq!(
        lit(r"(?i)-urlcache.*https?://", false),
        some("-urlcache", true)
    );
    assert_eq!(
        lit(r"\\MSSE-[0-9]{1,5}-server$", false),
        some("-server", false)
    );
    assert_eq!(
        lit(r"(?i)\\(winword|excel|powerpnt)\.exe$", false),
        some(".exe", true)
    );
    assert_eq!(
        lit(
            r"(?i)\s-(e|ec|enc|encodedcommand)\s+[A-Za-z0-9+/=]{20,}",
            false
        ),
        None
    );
    assert_eq!(
        lit(
            r"(?i)\\appdata\\local\\temp\\[^\\]*[^\x00-\x7f][^\\]*\.exe$",
            false
        ),
        some(r"\appdata\local\temp\", true)
    );
    // (?i)k and (?i)s also match KELVIN SIGN and LONG S: they cut runs.
    assert_eq!(lit(r"(?i)mimikatz", false), some("mimi", true));
    assert_eq!(lit(r"(?i)powershell", false), some("power", true));
    assert_eq!(lit(r"(?i-u)powershell", false), some("powershell", true));
    // A two-case ASCII class folds the run; exact letters around it too.
    assert_eq!(lit(r"[Mm]imiKatz", false), some("mimikatz", true));
    assert_eq!(lit(r"lsass\.(dmp|exe)", false), some("lsass.", false));
    assert_eq!(lit(r"(?i)mimikatz|lsass\.dmp", false), None);
    // Optional and alternated parts are never required; ties: more distinct bytes.
    assert_eq!(lit(r"foo(bar)?baz", false), some("baz", false));
    // Of an alternation, what every branch begins and ends with.
    assert_eq!(lit(r"x(abc|abd)y", false), some("xab", false));
    assert_eq!(lit(r"(?i)\s+-(nop|noprofile)\s", false), some("-nop", true));
    assert_eq!(lit(r"(zbcd|ybcd)ef[0-9]", false), some("bcdef", false));
    assert_eq!(lit(r"q((ab)+c|abd)", false), some("qab", false));
    assert_eq!(lit(r"(a(xyz|wyz)|byz)z[0-9]", false), some("yzz", false));
    assert_eq!(lit(r"(abc|)xyz", false), some("xyz", false));
    assert_eq!(lit(r"lsass\.(dmp|dump)", false), some("lsass.d", false));
    assert_eq!(lit(r"(?:zz)*abc", false), some("abc", false));
    // Inside a repetition with min >= 1, the sub-expression's runs count.
    assert_eq!(lit(r"(-enc\s)+[a-z]", false), some("-enc", false));
    assert_eq!(lit(r"(-enc\s)*[a-z]", false), None);
    // Zero-width assertions do not cut; captures are inlined.
    assert_eq!(lit(r"^c:\\(win)dows\b", false), some(r"c:\windows", false));
    // Non-ASCII literals stay exact (and UTF-8).
    assert_eq!(lit(r"счет_\d+", false), some("счет_", false));
    assert_eq!(lit(r"(?i)é\.exe", false), some(".exe", true));
    // Too short, or does not parse.
    assert_eq!(lit(r"ab", false), None);
    assert_eq!(lit(r"(", false), None);
    // Capped at MAX_DFA_LITERAL_LEN, at a character boundary.
    let long = "é".repeat(300);
    let h = required_literal(&long, false).unwrap();
    assert_eq!(h.text.len(), limits::MAX_DFA_LITERAL_LEN as usize);
    assert!(h.text.chars().all(|c| c == 'é'));
}

/// Tiny deterministic PRNG (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const CHARS: &[char] = &[
    'a', 'b', 'k', 's', 'K', 'S', 'e', 'x', '-', '\\', '1', '.', 'é', 'É', 'ſ', '\u{212A}',
];

/// A random pattern and a haystack made to match it often: each node
/// renders its regex source and appends one sample of what it matches
/// (with case variants, Kelvin sign and long s, when case-insensitive).
fn gen_node(r: &mut Rng, depth: u32, ci: bool, re: &mut String, sample: &mut String) {
    let pick = if depth == 0 { r.below(3) } else { r.below(10) };
    match pick {
        0 | 1 => {
            let c = CHARS[r.below(CHARS.len())];
            re.push_str(&regex_syntax::escape(&c.to_string()));
            let v = if ci {
                match (c, r.below(4)) {
                    ('k' | 'K', 0) => '\u{212A}',
                    ('s' | 'S', 0) => 'ſ',
                    (c, 1) => c.to_ascii_uppercase(),
                    (c, 2) => c.to_ascii_lowercase(),
                    (c, _) => c,
                }
            } else {
                c
            };
            sample.push(v);
        }
        2 if r.below(2) == 0 => {
            re.push_str("[a-e]");
            sample.push(['a', 'c', 'e'][r.below(3)]);
        }
        2 => {
            // A two-case class, as SigmaHQ writes case-insensitivity.
            let c = ['a', 'k', 's', 'x'][r.below(4)];
            re.push_str(&format!("[{}{c}]", c.to_ascii_uppercase()));
            sample.push(if r.below(2) == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            });
        }
        3 => {
            let n = 1 + r.below(3);
            for _ in 0..n {
                gen_node(r, depth - 1, ci, re, sample);
            }
        }
        4 => {
            // Half the time both branches share a leading and a trailing
            // literal, which the extractor may take.
            let edge = |r: &mut Rng| -> String {
                if r.below(2) == 0 {
                    return String::new();
                }
                (0..1 + r.below(4))
                    .map(|_| CHARS[r.below(CHARS.len())])
                    .collect()
            };
            let (pre, suf) = (edge(r), edge(r));
            let (pre_re, suf_re) = (regex_syntax::escape(&pre), regex_syntax::escape(&suf));
            re.push_str("(?:");
            let take = r.below(2);
            let (mut a, mut b) = (String::new(), String::new());
            re.push_str(&pre_re);
            gen_node(r, depth - 1, ci, re, &mut a);
            re.push_str(&suf_re);
            re.push('|');
            re.push_str(&pre_re);
            gen_node(r, depth - 1, ci, re, &mut b);
            re.push_str(&suf_re);
            re.push(')');
            sample.push_str(&pre);
            sample.push_str(if take == 0 { &a } else { &b });
            sample.push_str(&suf);
        }
        5 | 6 => {
            let (op, min) = [("?", 0), ("*", 0), ("+", 1), ("{2}", 2), ("{1,3}", 1)][r.below(5)];
            re.push_str("(?:");
            let mut one = String::new();
            gen_node(r, depth - 1, ci, re, &mut one);
            re.push(')');
            re.push_str(op);
            for _ in 0..min.max(r.below(2)) {
                sample.push_str(&one);
            }
        }
        7 => {
            re.push('(');
            gen_node(r, depth - 1, ci, re, sample);
            re.push(')');
        }
        8 => {
            re.push_str(["^", "$", r"(?-u:\b)"][r.below(3)]);
        }
        _ => {
            let n = 2 + r.below(4);
            for _ in 0..n {
                gen_node(r, depth - 1, ci, re, sample);
            }
        }
    }
}

/// Soundness of the extractor against regex-automata itself: whenever the
/// DFA (compiled exactly as `build` compiles it) matches a haystack, the
/// haystack contains the literal (ASCII case-insensitively if folded).
/// The proof's alphabet (shared with the interpreter, which walks one
/// representative byte per pair) is the number of distinct (byte class,
/// column) pairs, and its trie has a node per distinct prefix: both
/// counted here the slow way on random patterns and sets.
#[test]
fn proof_alphabet_and_trie_count_what_the_proof_walks() {
    use crate::analysis::literal_proof_alphabet;
    let mut r = Rng(0x2545_f491_4f6c_dd1d);
    let mut checked = 0u32;
    for _ in 0..400 {
        let ci = r.below(2) == 0;
        let (mut re, mut sample) = (String::new(), String::new());
        gen_node(&mut r, 3, ci, &mut re, &mut sample);
        let Ok(dfa) = dense_dfa(&re, ci) else {
            continue;
        };
        let pool = b"aAbBzZ09_-.\\ \xff";
        let lits: Vec<Vec<u8>> = (0..1 + r.below(3))
            .map(|_| {
                (0..1 + r.below(4))
                    .map(|_| pool[r.below(pool.len())])
                    .collect()
            })
            .collect();
        let refs: Vec<&[u8]> = lits.iter().map(Vec::as_slice).collect();
        let folded = r.below(2) == 0;
        let fold = |b: u8| if folded { b.to_ascii_lowercase() } else { b };
        let members: std::collections::BTreeSet<u8> =
            lits.iter().flatten().map(|&b| fold(b)).collect();
        let classes = dfa.byte_classes();
        let pairs: std::collections::BTreeSet<(u8, Option<u8>)> = (0..=255u8)
            .map(|b| (classes.get(b), members.contains(&fold(b)).then(|| fold(b))))
            .collect();
        assert_eq!(
            literal_proof_alphabet(&dfa.as_ref(), &refs, folded),
            pairs.len(),
            "{re} {lits:?} folded={folded}"
        );
        // Trie nodes: the root and each distinct (folded) prefix.
        let prefixes: std::collections::BTreeSet<Vec<u8>> = lits
            .iter()
            .flat_map(|l| (1..=l.len()).map(move |n| l[..n].iter().map(|&b| fold(b)).collect()))
            .collect();
        assert_eq!(
            crate::analysis::literal_trie_nodes(&refs, folded),
            prefixes.len() + 1,
            "{lits:?} folded={folded}"
        );
        checked += 1;
    }
    assert!(checked > 300, "{checked}");
}

/// A whole literal set 4 bytes longer than the single literal is taken
/// while the interpreter can prove it; on a DFA where the proof is over
/// its cap, the writer falls back to the single literal (an unproven set
/// would leave the regex scanned on every event).
#[test]
fn a_set_over_the_proof_cap_gives_way_to_the_single_literal() {
    use crate::analysis::literal_proof_steps;
    let small = r"[0-9]+(abcdabcdabcd|efghefghefgh)-urlcache-urlcache";
    let want = [
        "abcdabcdabcd-urlcache-urlcache",
        "efghefghefgh-urlcache-urlcache",
    ];
    let members: Vec<&[u8]> = want.iter().map(|m| m.as_bytes()).collect();
    let hint = |p: &str| literal_hint(p, false, || compile_regex(p, false).ok());
    let h = hint(small).unwrap();
    assert!(h.set);
    assert_eq!(h.text.split('\0').collect::<Vec<_>>(), want);
    // `x[a-z]{10}` before the set: thousands of states (the unanchored
    // DFA remembers where each of the last 11 `x`s was); 8.3 M steps.
    let big = r"x[a-z]{10}(abcdabcdabcd|efghefghefgh)-urlcache-urlcache";
    let dfa = dense_dfa(big, false).unwrap();
    let steps = literal_proof_steps(&dfa.as_ref(), &members, false);
    assert!(steps > limits::LITERAL_PROOF_STEPS, "{steps}");
    assert_eq!(required_literal(big, false).map(|h| h.set), Some(true));
    let h = hint(big).unwrap();
    assert_eq!((h.text.as_str(), h.set), ("-urlcache-urlcache", false));
    let dfa = dense_dfa(small, false).unwrap();
    assert!(literal_proof_steps(&dfa.as_ref(), &members, false) <= limits::LITERAL_PROOF_STEPS);
}

#[test]
fn required_literal_is_sound() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut with_literal, mut checked, mut sets) = (0u32, 0u32, 0u32);
    for case in 0..20_000 {
        let ci = r.below(2) == 0;
        let (mut re, mut sample) = (String::new(), String::new());
        gen_node(&mut r, 4, ci, &mut re, &mut sample);
        let Ok(dfa) = dense_dfa(&re, ci) else {
            continue;
        };
        let Some(h) = required_literal(&re, ci) else {
            continue;
        };
        with_literal += 1;
        sets += u32::from(h.set);
        assert!(h.text.len() >= MIN_LITERAL_LEN);
        assert!(!h.folded || !h.text.bytes().any(|b| b.is_ascii_uppercase()));
        let members: Vec<&str> = if h.set {
            h.text.split('\0').collect()
        } else {
            std::vec![h.text.as_str()]
        };
        if h.set {
            assert!((2..=limits::MAX_LITERAL_SET as usize).contains(&members.len()));
            assert!(members.iter().all(|m| m.len() >= SET_MEMBER_MIN), "{h:?}");
        }
        for k in 0..8 {
            let noise = |r: &mut Rng| -> String {
                (0..r.below(4))
                    .map(|_| CHARS[r.below(CHARS.len())])
                    .collect()
            };
            let hay = match k {
                0 => sample.clone(),
                1..=5 => format!("{}{sample}{}", noise(&mut r), noise(&mut r)),
                _ => noise(&mut r) + &noise(&mut r) + &noise(&mut r),
            };
            let m = dfa.try_search_fwd(&Input::new(&hay)).unwrap().is_some();
            if !m {
                continue;
            }
            checked += 1;
            let folded_hay = hay.to_ascii_lowercase();
            let contains = members.iter().any(|m| {
                if h.folded {
                    folded_hay.contains(m)
                } else {
                    hay.contains(m)
                }
            });
            assert!(
                contains,
                "case {case}: pattern {re:?} (ci {ci}) matches {hay:?}, which lacks {h:?}"
            );
        }
    }
    eprintln!(
        "patterns with a literal: {with_literal} ({sets} sets), matching haystacks checked: {checked}"
    );
    assert!(
        with_literal > 800 && checked > 3000 && sets > 50,
        "{with_literal} {checked} {sets}"
    );
}
