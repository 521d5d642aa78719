//! Engine vs reference (vs Vectorscan with `--features vectorscan`).
//!
//! Run (short measurement: the machine is shared):
//! `CARGO_TARGET_DIR=/work/target-interp cargo bench -p changuard-bench --bench interp`
//! Sizes: `CHANGUARD_BENCH_SIZES=100,1000` to restrict. See docs/PERFORMANCE.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use changuard_bench::*;
use changuard_interp::reference::Reference;
use changuard_interp::{Engine, EvalScratch, Event, Verdict};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn sizes(default: &[usize]) -> Vec<usize> {
    match std::env::var("CHANGUARD_BENCH_SIZES") {
        Ok(s) => s
            .split(',')
            .filter_map(|x| x.trim().parse().ok())
            .filter(|n| default.contains(n))
            .collect(),
        Err(_) => default.to_vec(),
    }
}

fn events() -> Vec<OwnedEvent> {
    let mut e = process_events(64);
    e.extend(pipe_events(64));
    e
}

fn mixed(c: &mut Criterion, group_name: &str, regex: bool, with_reference: bool) {
    let mut g = c.benchmark_group(group_name);
    g.throughput(Throughput::Elements(events().len() as u64));
    for n in sizes(&[100, 1_000, 10_000]) {
        let specs = mixed_specs(n, regex);
        let mut evs = events();
        inject_hits(&mut evs, &specs, 8);
        let bufs = build_all(&specs);
        let tk = key().trusted_key();
        let chans = validate_all(&bufs, &specs, &tk);
        let engine = Engine::new(&chans).expect("engine");
        let st = engine.stats();
        eprintln!(
            "[{group_name} n={n}] literals: {:?}",
            engine.literal_stats()
        );
        let mut v = Verdict::new();
        // One working memory for every evaluation, as the driver keeps one.
        let mut scratch = EvalScratch::new();
        let mut matches = 0;
        let mut fuel = 0;
        for e in &evs {
            engine.evaluate(&e.event(), &mut v);
            matches += v.matches().len();
            fuel += v.fuel_used;
        }
        eprintln!(
            "[{group_name} n={n}] stats: {st:?}; {matches} matches over {} events; mean fuel/event {}",
            evs.len(),
            fuel / evs.len() as u64
        );
        g.bench_with_input(BenchmarkId::new("engine", n), &n, |b, _| {
            b.iter(|| {
                for e in &evs {
                    engine.evaluate_in(black_box(&e.event()), &mut v, &mut scratch);
                }
                black_box(v.matches().len())
            })
        });
        if with_reference {
            let reference = Reference::new(&chans).expect("reference");
            let mut rv = Verdict::new();
            for e in &evs {
                engine.evaluate(&e.event(), &mut v);
                reference.evaluate(&e.event(), &mut rv);
                assert_eq!(v.matches(), rv.matches(), "engine and reference disagree");
            }
            g.bench_with_input(BenchmarkId::new("reference", n), &n, |b, _| {
                b.iter(|| {
                    for e in &evs {
                        reference.evaluate(black_box(&e.event()), &mut rv);
                    }
                    black_box(rv.matches().len())
                })
            });
        }
    }
    g.finish();
}

fn bench_mixed(c: &mut Criterion) {
    mixed(c, "mixed_10pct_regex", true, true);
}

fn bench_literal(c: &mut Criterion) {
    mixed(c, "literal_only", false, false);
}

/// Regex-only content on one string field (`field`: its index among the
/// template's string fields), engine vs Vectorscan (with the feature).
fn regex_only(
    c: &mut Criterion,
    group_name: &str,
    evs: &[OwnedEvent],
    field: usize,
    specs_for: fn(usize) -> (Vec<changuard_format::build::ChannelSpec>, Vec<String>),
) {
    let mut g = c.benchmark_group(group_name);
    g.throughput(Throughput::Elements(evs.len() as u64));
    for n in sizes(&[100, 1_000, 3_000]) {
        let (specs, pats) = specs_for(n);
        let bufs = build_all(&specs);
        let tk = key().trusted_key();
        let chans = validate_all(&bufs, &specs, &tk);
        let (bytes, count) = dfa_bytes(&chans);
        eprintln!(
            "[{group_name} n={n}] {count} DFAs, {bytes} bytes, {} bytes/pattern",
            bytes / count.max(1)
        );
        let t = Instant::now();
        let engine = Engine::new(&chans).expect("engine");
        eprintln!(
            "[{group_name} n={n}] engine build (indexes and load-time DFA analyses) {:?}",
            t.elapsed()
        );
        let mut v = Verdict::new();
        // One working memory for every evaluation, as the driver keeps one.
        let mut scratch = EvalScratch::new();
        // Event views built before timing, as Vectorscan's loop gets its
        // strings ready-made: the sensor builds each view once per kernel
        // callback, without allocating; here building one allocates.
        let values: Vec<_> = evs.iter().map(OwnedEvent::values).collect();
        let views: Vec<Event<'_>> = evs
            .iter()
            .zip(&values)
            .map(|(e, vals)| Event::from_values(e.template, vals).expect("shape"))
            .collect();
        let (mut matches, mut fuel, mut scans, mut scanned) = (0, 0, 0u64, 0);
        for e in evs {
            engine.evaluate(&e.event(), &mut v);
            matches += v.matches().len();
            fuel += v.fuel_used;
            scans += u64::from(v.dfa_scans);
            scanned += v.scanned_bytes;
        }
        let per = evs.len() as u64;
        eprintln!(
            "[{group_name} n={n}] stats: {:?}; literals: {:?}; {matches} matches over {} events; mean fuel/event {}; mean DFA scans/event {:.1} reading {} bytes",
            engine.stats(),
            engine.literal_stats(),
            evs.len(),
            fuel / per,
            scans as f64 / per as f64,
            scanned / per
        );
        g.bench_with_input(BenchmarkId::new("engine", n), &n, |b, _| {
            b.iter(|| {
                for e in &views {
                    engine.evaluate_in(black_box(e), &mut v, &mut scratch);
                }
                black_box(v.matches().len())
            })
        });
        #[cfg(feature = "vectorscan")]
        vs::bench(&mut g, group_name, n, &pats, evs, field, &engine);
        #[cfg(not(feature = "vectorscan"))]
        let _ = (pats, field);
    }
    g.finish();
}

fn bench_regex_only(c: &mut Criterion) {
    regex_only(
        c,
        "regex_only_pipe_name",
        &pipe_events(64),
        0,
        regex_only_specs,
    );
}

fn bench_regex_only_pipe_family(c: &mut Criterion) {
    regex_only(
        c,
        "regex_only_pipe_family",
        &family_pipe_events(64),
        0,
        regex_only_family_specs,
    );
}

fn bench_regex_only_command_line(c: &mut Criterion) {
    let evs = cmdline_events(64);
    let lens: Vec<usize> = evs.iter().map(|e| e.strs[1].len()).collect();
    eprintln!(
        "[regex_only_command_line] {} events, command_line bytes min {} mean {} max {}, {} non-ASCII",
        evs.len(),
        lens.iter().min().unwrap_or(&0),
        lens.iter().sum::<usize>() / lens.len().max(1),
        lens.iter().max().unwrap_or(&0),
        evs.iter().filter(|e| !e.strs[1].is_ascii()).count()
    );
    regex_only(
        c,
        "regex_only_command_line",
        &evs,
        1,
        regex_only_command_line_specs,
    );
}

/// The family sets again, laid out by the toolchain's packer instead of
/// cut into files in authored order (docs/PERFORMANCE.md, "Content packed
/// by family").
fn bench_regex_only_packed(c: &mut Criterion) {
    regex_only(
        c,
        "regex_only_pipe_family_packed",
        &family_pipe_events(64),
        0,
        regex_only_family_packed_specs,
    );
    regex_only(
        c,
        "regex_only_command_line_packed",
        &cmdline_events(64),
        1,
        regex_only_command_line_packed_specs,
    );
}

#[cfg(feature = "vectorscan")]
mod vs {
    use super::*;
    use hyperscan::prelude::*;

    /// `pats` as the content builds them: `(?i)` prefix = case-insensitive.
    /// Scans string field `field` of every event.
    pub fn bench(
        g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        group_name: &str,
        n: usize,
        pats: &[String],
        evs: &[OwnedEvent],
        field: usize,
        engine: &Engine<'_>,
    ) {
        let t = Instant::now();
        let patterns: Vec<Pattern> = pats
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (p, flags) = match p.strip_prefix("(?i)") {
                    Some(p) => (p, CompileFlags::CASELESS),
                    None => (p.as_str(), CompileFlags::empty()),
                };
                let mut pat =
                    Pattern::with_flags(p, flags | CompileFlags::SINGLEMATCH | CompileFlags::UTF8)
                        .expect("pattern");
                pat.id = Some(i);
                pat
            })
            .collect();
        let db: BlockDatabase = Patterns::from(patterns)
            .build()
            .expect("vectorscan compile");
        let scratch = db.alloc_scratch().expect("scratch");
        eprintln!(
            "[{group_name} n={n}] vectorscan compile {:?}, db {} bytes",
            t.elapsed(),
            db.size().unwrap_or(0)
        );
        // Same answers as the engine (count of matching patterns per event).
        let mut v = Verdict::new();
        for e in evs {
            let hay = e.strs[field].as_bytes();
            let mut ids = Vec::new();
            db.scan(hay, &scratch, |id, _, _, _| {
                ids.push(id);
                Matching::Continue
            })
            .expect("scan");
            engine.evaluate(&e.event(), &mut v);
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(
                ids.len().min(changuard_interp::MAX_MATCHES),
                v.matches().len(),
                "{group_name}: {:?}",
                e.strs[field]
            );
        }
        g.bench_with_input(BenchmarkId::new("vectorscan", n), &n, |b, _| {
            b.iter(|| {
                let mut hits = 0u32;
                for e in evs {
                    db.scan(
                        black_box(e.strs[field].as_bytes()),
                        &scratch,
                        |_, _, _, _| {
                            hits += 1;
                            Matching::Continue
                        },
                    )
                    .expect("scan");
                }
                black_box(hits)
            })
        });
    }
}

fn bench_load(c: &mut Criterion) {
    let mut g = c.benchmark_group("load_validate_and_build");
    for n in sizes(&[100, 1_000, 10_000]) {
        let specs = mixed_specs(n, true);
        let t = Instant::now();
        let bufs = build_all(&specs);
        let build_time = t.elapsed();
        let tk = key().trusted_key();
        let chans = validate_all(&bufs, &specs, &tk);
        let (bytes, count) = dfa_bytes(&chans);
        let file_bytes: usize = bufs.iter().map(|b| b.as_ref().len()).sum();
        let engine = Engine::new(&chans).expect("engine");
        eprintln!(
            "[load n={n}] {} files, {file_bytes} bytes; {count} DFAs, {bytes} bytes ({} bytes/pattern); engine index {} bytes; writer (build+sign) {build_time:?}",
            bufs.len(),
            bytes / count.max(1),
            engine.stats().index_bytes
        );
        g.bench_with_input(BenchmarkId::new("validate+engine", n), &n, |b, _| {
            b.iter(|| {
                let chans = validate_all(&bufs, &specs, &tk);
                let e = Engine::new(&chans).expect("engine");
                black_box(e.stats().instances)
            })
        });
    }
    g.finish();
}

/// Issue 12: the dearest content the per-file ceiling admits, and the event
/// that makes it work hardest. Prints the proven bound, the fuel the event
/// really uses and the time per fuel unit (the fuel-to-time factor of
/// docs/PERFORMANCE.md, "Cost ceiling").
fn bench_ceiling(c: &mut Criterion) {
    let mut g = c.benchmark_group("ceiling");
    for (name, spec) in [
        ("regex", ceiling_spec(true)),
        ("regex_after_range", ceiling_spec_after_range()),
        ("contains", ceiling_spec(false)),
    ] {
        let specs = vec![spec];
        let bufs = build_all(&specs);
        let tk = key().trusted_key();
        let chans = validate_all(&bufs, &specs, &tk);
        let engine = Engine::new(&chans).expect("engine");
        let bound = chans[0].cost_bound().max();
        let ev = ceiling_event();
        let mut v = Verdict::new();
        let mut scratch = EvalScratch::new();
        engine.evaluate(&ev.event(), &mut v);
        let fuel = v.fuel_used;
        let t = Instant::now();
        let runs = 20u32;
        for _ in 0..runs {
            engine.evaluate_in(&black_box(ev.event()), &mut v, &mut scratch);
        }
        let per = t.elapsed() / runs;
        eprintln!(
            "[ceiling {name}] {} instances; proven bound {bound} fuel; this event uses {fuel} fuel ({} matches) in {per:?}: {:.2} ns/fuel",
            specs[0].instances.len(),
            v.matches().len(),
            per.as_nanos() as f64 / fuel.max(1) as f64
        );
        g.bench_function(BenchmarkId::new("worst_event", name), |b| {
            b.iter(|| {
                engine.evaluate_in(&black_box(ev.event()), &mut v, &mut scratch);
                black_box(v.fuel_used)
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(10)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_mixed, bench_literal, bench_regex_only, bench_regex_only_pipe_family, bench_regex_only_command_line, bench_regex_only_packed, bench_load, bench_ceiling
}
criterion_main!(benches);
