//! The SigmaHQ process-creation content (issue 16 item 5): engine vs
//! reference, and with `--features vectorscan` Vectorscan over the content's
//! string criteria, on SigmaHQ's captured events and on generated ones.
//!
//! Run: `cargo bench -p changuard-bench --bench sigma [--features vectorscan]`.
//! Needs `../shared/sigma` (test data, absent on users' clones: then it prints
//! `SKIPPED` and does nothing). See docs/PERFORMANCE.md, "SigmaHQ
//! process-creation content".

use std::hint::black_box;
use std::time::{Duration, Instant};

use changuard_bench::sigma::{self, SigmaSet};
use changuard_bench::{OwnedEvent, build_all, dfa_bytes, key, validate_all};
use changuard_interp::reference::Reference;
use changuard_interp::{Engine, EvalScratch, Verdict};
use criterion::{Criterion, Throughput};

fn main() {
    let set = match sigma::load() {
        Ok(Some(s)) => s,
        Ok(None) => {
            println!("SKIPPED: ../shared/sigma absent");
            return;
        }
        Err(e) => panic!("SigmaHQ set: {e}"),
    };
    let specs = set.specs.clone();
    let t = Instant::now();
    let bufs = build_all(&specs);
    let build_time = t.elapsed();
    let tk = key().trusted_key();
    let chans = validate_all(&bufs, &specs, &tk);
    let engine = Engine::new(&chans).expect("engine");
    let reference = Reference::new(&chans).expect("reference");
    let (dfa, dfas) = dfa_bytes(&chans);
    eprintln!(
        "[sigma] {} rule files, {} imported; {} channels, {} instances, {} string criteria ({} regex); files {} bytes, {dfas} DFAs {dfa} bytes; build+sign {build_time:?}",
        set.rule_files,
        set.rules_imported,
        specs.len(),
        set.instance_count(),
        set.string_count(),
        set.regex_count(),
        bufs.iter().map(|b| b.as_ref().len()).sum::<usize>(),
    );
    eprintln!(
        "[sigma] engine stats: {:?}; literals: {:?}",
        engine.stats(),
        engine.literal_stats()
    );
    check(&set, &engine, &reference);

    #[cfg(feature = "vectorscan")]
    let scanner = vs::Scanner::new(&set);

    let mut c = Criterion::default()
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20)
        .configure_from_args();
    for (name, evs) in [("captured", &set.captured), ("generated", &set.generated)] {
        let mut g = c.benchmark_group(format!("sigma_{name}"));
        g.throughput(Throughput::Elements(evs.len() as u64));
        let mut v = Verdict::new();
        let mut scratch = EvalScratch::new();
        g.bench_function("engine", |b| {
            b.iter(|| {
                for e in evs {
                    engine.evaluate_in(black_box(&e.event()), &mut v, &mut scratch);
                }
                black_box(v.matches().len())
            })
        });
        g.bench_function("reference", |b| {
            b.iter(|| {
                for e in evs {
                    reference.evaluate(black_box(&e.event()), &mut v);
                }
                black_box(v.matches().len())
            })
        });
        #[cfg(feature = "vectorscan")]
        {
            scanner.check(name, evs);
            g.bench_function("vectorscan", |b| {
                b.iter(|| {
                    let mut hits = 0usize;
                    for e in evs {
                        hits += scanner.scan(black_box(e));
                    }
                    black_box(hits)
                })
            });
        }
        g.finish();
    }
    c.final_summary();
}

/// Engine and reference agree on every event (else the timing compares
/// different work); prints what matched and the fuel spent.
fn check(set: &SigmaSet, engine: &Engine<'_>, reference: &Reference<'_>) {
    let (mut v, mut rv) = (Verdict::new(), Verdict::new());
    for (name, evs) in [("captured", &set.captured), ("generated", &set.generated)] {
        let (mut matched, mut matches, mut fuel, mut scans, mut scanned) = (0, 0, 0, 0u64, 0);
        // Which rules fire, by the title each instance carries (METADATA).
        let mut by_rule: std::collections::BTreeMap<&str, usize> = Default::default();
        for e in evs {
            engine.evaluate(&e.event(), &mut v);
            reference.evaluate(&e.event(), &mut rv);
            assert_eq!(v.matches(), rv.matches(), "engine and reference disagree");
            matched += usize::from(!v.matches().is_empty());
            matches += v.matches().len();
            fuel += v.fuel_used;
            scans += u64::from(v.dfa_scans);
            scanned += v.scanned_bytes;
            let mut titles: Vec<&str> = v
                .matches()
                .iter()
                .filter_map(|m| title(set, m.channel, m.instance))
                .collect();
            titles.dedup();
            for t in titles {
                *by_rule.entry(t).or_default() += 1;
            }
        }
        eprintln!(
            "[sigma {name}] {} events, {matched} match something, {matches} matches; mean fuel/event {}; mean DFA scans/event {:.1} reading {} bytes; mean command line {} bytes",
            evs.len(),
            fuel / evs.len().max(1) as u64,
            scans as f64 / evs.len().max(1) as f64,
            scanned / evs.len().max(1) as u64,
            mean_len(evs, 1)
        );
        let mut top: Vec<(&str, usize)> = by_rule.into_iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        for (t, n) in top.iter().take(8) {
            eprintln!("[sigma {name}]   {n:>3} events match {t:?}");
        }
    }
    // SigmaHQ's own expectation: a rule's captured event matches that rule.
    let mut own_hits = 0;
    for (e, own) in set.captured.iter().zip(&set.captured_own) {
        engine.evaluate(&e.event(), &mut v);
        let hit = v
            .matches()
            .iter()
            .any(|m| own.contains(&(m.channel, m.instance)));
        if hit {
            own_hits += 1;
        } else if !own.is_empty() {
            eprintln!(
                "[sigma captured] misses its rule ({} instances from {:?}): {:?}",
                own.len(),
                own.first(),
                e.strs
            );
        }
    }
    let imported = set.captured_own.iter().filter(|o| !o.is_empty()).count();
    eprintln!(
        "[sigma captured] {own_hits} of {imported} events of imported rules match their own rule"
    );
}

/// The title of rule instance `channel/id`, from its metadata.
fn title(set: &SigmaSet, channel: u32, id: u32) -> Option<&str> {
    let spec = set.specs.iter().find(|s| s.channel == channel)?;
    let inst = spec.instances.iter().find(|i| i.id == id)?;
    inst.metadata.title.as_deref()
}

fn mean_len(evs: &[OwnedEvent], field: usize) -> usize {
    evs.iter().map(|e| e.strs[field].len()).sum::<usize>() / evs.len().max(1)
}

/// Vectorscan over the string part of the content: one block database per
/// string field holding every distinct string criterion on that field
/// (literal tests escaped and anchored, regexes as written), each field of
/// an event scanned once, every matching pattern reported (`SINGLEMATCH`:
/// once per pattern). Not in its time: integer criteria, the AND across a
/// rule's fields, instance bookkeeping and the verdict.
#[cfg(feature = "vectorscan")]
mod vs {
    use super::*;
    use changuard_bench::sigma::{literal_holds, vectorscan_expr};
    use changuard_format::build::CriterionSpec;
    use changuard_format::schema::PROCESS_CREATE;
    use hyperscan::prelude::*;

    /// One field's database.
    struct FieldDb {
        /// Index among the event's string fields.
        field: usize,
        db: BlockDatabase,
        scratch: Scratch,
        /// Pattern id -> one criterion it came from (for the literal check).
        crits: Vec<CriterionSpec>,
    }

    pub struct Scanner {
        dbs: Vec<FieldDb>,
    }

    impl Scanner {
        pub fn new(set: &SigmaSet) -> Scanner {
            let t = Instant::now();
            let str_fields: Vec<(usize, &str)> = PROCESS_CREATE
                .fields
                .iter()
                .enumerate()
                .filter(|(_, f)| f.ty == changuard_format::FieldType::Str)
                .map(|(k, f)| (k, f.name))
                .collect();
            let mut dbs = Vec::new();
            let (mut total, mut refused_regex, mut refused_literal, mut regexes) = (0, 0, 0, 0);
            for (field, &(k, name)) in str_fields.iter().enumerate() {
                // Distinct expressions: the same needle in many instances is
                // one pattern (the engine's tables dedupe too).
                let mut seen = std::collections::HashSet::new();
                let mut pats = Vec::new();
                let mut crits = Vec::new();
                for inst in set.specs.iter().flat_map(|s| &s.instances) {
                    let Some(c) = inst.criteria.get(k) else {
                        continue;
                    };
                    let Some((expr, caseless)) = vectorscan_expr(c) else {
                        continue;
                    };
                    if !seen.insert((expr.clone(), caseless)) {
                        continue;
                    }
                    let is_regex = matches!(c, CriterionSpec::Regex { .. });
                    regexes += usize::from(is_regex);
                    let mut flags = CompileFlags::SINGLEMATCH | CompileFlags::UTF8;
                    if caseless {
                        flags |= CompileFlags::CASELESS;
                    }
                    // Compiled alone first, so one refusal does not sink the
                    // field's database and is counted.
                    let mut p = Pattern::with_flags(expr.as_str(), flags).expect("pattern");
                    match p.build::<hyperscan::Block>() {
                        Ok(_) => {
                            p.id = Some(pats.len());
                            pats.push(p);
                            crits.push(c.clone());
                        }
                        Err(e) => {
                            if is_regex {
                                refused_regex += 1;
                            } else {
                                refused_literal += 1;
                            }
                            eprintln!("[sigma vectorscan] {name}: refused {expr:?}: {e}");
                        }
                    }
                }
                if pats.is_empty() {
                    continue;
                }
                total += pats.len();
                let n = pats.len();
                let db: BlockDatabase = Patterns::from(pats)
                    .build()
                    .expect("vectorscan compile of accepted patterns");
                let scratch = db.alloc_scratch().expect("scratch");
                eprintln!(
                    "[sigma vectorscan] {name}: {n} patterns, db {} bytes",
                    db.size().unwrap_or(0)
                );
                dbs.push(FieldDb {
                    field,
                    db,
                    scratch,
                    crits,
                });
            }
            eprintln!(
                "[sigma vectorscan] {total} distinct patterns in {} databases ({regexes} regexes seen; refused {refused_regex} regexes, {refused_literal} literals); compile {:?}",
                dbs.len(),
                t.elapsed()
            );
            Scanner { dbs }
        }

        /// Scan every string field of `e` once; the number of pattern hits.
        pub fn scan(&self, e: &OwnedEvent) -> usize {
            let mut hits = 0;
            for f in &self.dbs {
                let hay = e.strs.get(f.field).map_or("", String::as_str);
                f.db.scan(hay, &f.scratch, |_, _, _, _| {
                    hits += 1;
                    Matching::Continue
                })
                .expect("scan");
            }
            hits
        }

        /// Literal patterns hit exactly where the engine's semantics say
        /// (checks the escaping and anchors); prints hit counts and any
        /// disagreement.
        pub fn check(&self, name: &str, evs: &[OwnedEvent]) {
            let (mut hits, mut literal_hits, mut wrong) = (0, 0, 0);
            for e in evs {
                for f in &self.dbs {
                    let hay = e.strs.get(f.field).map_or("", String::as_str);
                    let mut ids = Vec::new();
                    f.db.scan(hay, &f.scratch, |id, _, _, _| {
                        ids.push(id as usize);
                        Matching::Continue
                    })
                    .expect("scan");
                    hits += ids.len();
                    for (id, c) in f.crits.iter().enumerate() {
                        let Some(want) = literal_holds(c, hay) else {
                            continue;
                        };
                        let got = ids.contains(&id);
                        literal_hits += usize::from(got);
                        if got != want {
                            wrong += 1;
                            if wrong <= 5 {
                                eprintln!(
                                    "[sigma vectorscan] literal {c:?} on {hay:?}: vectorscan {got}, engine semantics {want}"
                                );
                            }
                        }
                    }
                }
            }
            eprintln!(
                "[sigma vectorscan {name}] {hits} pattern hits over {} events ({literal_hits} literal); {wrong} literal disagreements",
                evs.len()
            );
        }
    }
}
