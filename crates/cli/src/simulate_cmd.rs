//! `changuard simulate`: the crash-safe loader, booted thousands of times on a
//! simulated disk and registry (crates/sim), with the invariants checked after
//! every boot.
//!
//! ```text
//! changuard simulate --scenario NAME        one scenario, boot by boot (july-19: + a 1,000-machine fleet)
//! changuard simulate --random --boots N --seed S
//! changuard simulate --exhaustive           every crash point x tear variant, clean reboot,
//!                                           reload, power cut and promotion I/O failure of every scenario
//! ... [--json] [--mutation NAME] [--crash-trace STEP:OP:VARIANT|STEP:ALT,...]
//! ```
//! Exit codes: 0 no invariant violated, 1 violations, 2 usage.

use std::io::IsTerminal;
use std::time::Instant;

use changuard_sim::machine::{BootEnd, BootReport, ChannelView};
use changuard_sim::{Mutation, random, scenario, timeline};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

/// Arguments of `changuard simulate`.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Run one named scenario (see `--list`).
    #[arg(long, conflicts_with_all = ["random", "exhaustive"])]
    pub scenario: Option<String>,
    /// Seeded random multi-boot campaign.
    #[arg(long, conflicts_with = "exhaustive")]
    pub random: bool,
    /// Boots in the random campaign.
    #[arg(long, default_value_t = 10_000)]
    pub boots: u64,
    /// Seed of the random campaign (same seed, same run).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Crash at every I/O step and every tear variant of every scenario, and
    /// branch every boot into a clean reboot, a reload, a power cut and every
    /// promotion I/O failure.
    #[arg(long)]
    pub exhaustive: bool,
    /// Machines in the july-19 fleet replay.
    #[arg(long, default_value_t = 1_000)]
    pub fleet: u64,
    /// Inject a deliberate protocol bug (to see the simulator catch it):
    /// activate-before-persist, raise-floor-before-lkg-durable,
    /// skip-flush-on-lkg-write, no-quarantine, lkg-in-place, count-clean-ends,
    /// evict-quarantine.
    #[arg(long)]
    pub mutation: Option<String>,
    /// Replay explorer choices printed with a violation (`STEP:OP:VARIANT` for a
    /// power loss, `STEP:ALT` for reboot, reload, power-cut, fail-rename[-always], ...),
    /// with `--scenario`.
    #[arg(long)]
    pub crash_trace: Option<String>,
    /// List the scenarios and exit.
    #[arg(long)]
    pub list: bool,
    /// One JSON object on stdout instead of the human report.
    #[arg(long)]
    pub json: bool,
}

fn parse_mutation(s: &str) -> Option<Mutation> {
    Mutation::ALL
        .iter()
        .copied()
        .find(|m| kebab(&format!("{m:?}")) == s)
}

fn kebab(s: &str) -> String {
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
    out
}

fn bar(len: u64, json: bool, what: &str) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() || len < 2_000 {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{what} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} ({{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

fn final_json(chs: &[ChannelView]) -> Value {
    let mut o = serde_json::Map::new();
    for c in chs {
        o.insert(
            c.channel.to_string(),
            json!({
                "active_version": c.active_version,
                "active_source": c.source.name(),
                "lkg_version": c.lkg_version,
                "quarantined": c.quarantined,
                "floor": c.floor,
                "last_problem": c.last_problem,
            }),
        );
    }
    Value::Object(o)
}

fn print_final(chs: &[ChannelView]) {
    println!(
        "  {:<8} {:<10} {:>8} {:>8} {:>6}  quarantined",
        "channel", "source", "active", "lkg", "floor"
    );
    for c in chs {
        println!(
            "  {:<8} {:<10} {:>8} {:>8} {:>6}  {:?}",
            c.channel,
            c.source.name(),
            c.active_version.map_or("-".into(), |v| format!("v{v}")),
            c.lkg_version.map_or("-".into(), |v| format!("v{v}")),
            c.floor,
            c.quarantined
        );
    }
}

fn crashes_in(reports: &[&BootReport]) -> u64 {
    reports
        .iter()
        .map(|r| {
            if let BootEnd::Crashed(v) = &r.end {
                v.len() as u64
            } else {
                0
            }
        })
        .sum()
}

/// Run `changuard simulate`. Returns the process exit code.
pub fn run(args: &SimulateArgs) -> i32 {
    if args.list {
        for s in scenario::all() {
            println!("{:<28} {}", s.name, s.description);
        }
        return 0;
    }
    let mutation = match args.mutation.as_deref().map(|m| (m, parse_mutation(m))) {
        None => None,
        Some((_, Some(m))) => Some(m),
        Some((name, None)) => {
            eprintln!("error: unknown mutation {name}");
            return 2;
        }
    };
    let started = Instant::now();
    if let Some(name) = &args.scenario {
        let Some(s) = scenario::by_name(name) else {
            eprintln!("error: unknown scenario {name} (try --list)");
            return 2;
        };
        return run_scenario(args, &s, mutation, started);
    }
    if args.random {
        return run_random(args, mutation, started);
    }
    if args.exhaustive {
        return run_exhaustive(args, mutation, started);
    }
    eprintln!("error: give one of --scenario NAME, --random, --exhaustive (or --list)");
    2
}

fn run_scenario(
    args: &SimulateArgs,
    s: &scenario::Scenario,
    mutation: Option<Mutation>,
    started: Instant,
) -> i32 {
    let boots: Vec<(String, BootReport)> = match &args.crash_trace {
        Some(t) => match scenario::parse_trace(t) {
            Some(tr) => scenario::replay(s, mutation, &tr),
            None => {
                eprintln!("error: --crash-trace wants STEP:OP:VARIANT or STEP:ALT[,...]");
                return 2;
            }
        },
        None => scenario::run(s, mutation)
            .boots
            .into_iter()
            .map(|(_, l, r)| (l, r))
            .collect(),
    };
    let reports: Vec<&BootReport> = boots.iter().map(|(_, r)| r).collect();
    let mut violations: Vec<String> = reports.iter().flat_map(|r| r.violations.clone()).collect();
    let crashes = crashes_in(&reports);
    let final_channels = reports
        .iter()
        .rev()
        .find(|r| !r.channels.is_empty())
        .map(|r| r.channels.clone())
        .unwrap_or_default();
    let fleet = (s.name == "july-19").then(|| {
        let pb = bar(args.fleet, args.json, "july-19 fleet");
        let f = scenario::july19_fleet(args.fleet, |n| pb.set_position(n));
        pb.finish_and_clear();
        f
    });
    if let Some(f) = &fleet {
        violations.extend(f.violations.iter().cloned());
        if f.crashes != 0 {
            violations.push(format!("july-19 fleet: {} crashes", f.crashes));
        }
    }
    let total_crashes = crashes + fleet.as_ref().map_or(0, |f| f.crashes);
    if args.json {
        let mut o = json!({
            "mode": "scenario",
            "scenario": s.name,
            "mutation": mutation.map(|m| kebab(&format!("{m:?}"))),
            "boots": reports.len() as u64 + fleet.as_ref().map_or(0, |f| f.boots),
            "crashes": total_crashes,
            "crash_states_explored": 0,
            "invariant_violations": violations,
            "max_crashes_per_version": crashes,
            "final_active": final_json(&final_channels),
            "timeline": boots.iter().map(|(l, r)| json!({"step": l, "line": timeline::line(0, r)})).collect::<Vec<_>>(),
            "elapsed_ms": started.elapsed().as_millis() as u64,
        });
        if let Some(f) = &fleet {
            o["fleet"] = json!({"machines": f.machines, "boots": f.boots, "crashes": f.crashes, "power_losses": f.power_losses, "on_valid_content": f.on_valid_content});
        }
        println!("{o}");
    } else {
        println!("scenario {}: {}", s.name, s.description);
        for (i, (label, r)) in boots.iter().enumerate() {
            println!("  [{label}]");
            println!("  {}", timeline::line(i as u64 + 1, r));
        }
        println!("\nfinal state:");
        print_final(&final_channels);
        if let Some(f) = &fleet {
            println!(
                "\njuly-19 fleet: {} machines, {} boots, {} power losses, {} crashes, {} of {} on valid content",
                f.machines, f.boots, f.power_losses, f.crashes, f.on_valid_content, f.machines
            );
        }
        println!(
            "\n{} boots, {} crashes, {} invariant violations ({:.1?})",
            reports.len(),
            crashes,
            violations.len(),
            started.elapsed()
        );
        for v in &violations {
            println!("VIOLATION {v}");
        }
    }
    i32::from(!violations.is_empty())
}

fn run_random(args: &SimulateArgs, mutation: Option<Mutation>, started: Instant) -> i32 {
    let pb = bar(args.boots, args.json, "random");
    let r = random::campaign(args.seed, args.boots, mutation, false, |n| {
        pb.set_position(n)
    });
    pb.finish_and_clear();
    let replay_lines = if r.violations.is_empty() {
        vec![]
    } else {
        random::replay_timeline(&r.trace, mutation)
    };
    if args.json {
        println!(
            "{}",
            json!({
                "mode": "random",
                "seed": r.seed,
                "mutation": mutation.map(|m| kebab(&format!("{m:?}"))),
                "boots": r.boots,
                "crashes": r.crashes,
                "power_losses": r.power_losses,
                "crash_states_explored": 0,
                "invariant_violations": r.violations,
                "max_crashes_per_version": r.max_crashes_per_version,
                "final_active": final_json(&r.final_channels),
                "replay_trace": r.trace.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>(),
                "elapsed_ms": started.elapsed().as_millis() as u64,
            })
        );
    } else {
        println!(
            "random campaign seed {}: {} boots, {} crashes, {} power losses, max {} crashes per version ({:.1?})",
            r.seed,
            r.boots,
            r.crashes,
            r.power_losses,
            r.max_crashes_per_version,
            started.elapsed()
        );
        if !r.final_channels.is_empty() {
            print_final(&r.final_channels);
        }
        for v in &r.violations {
            println!("VIOLATION (seed {}): {v}", r.seed);
        }
        if !replay_lines.is_empty() {
            println!(
                "minimal trace ({} actions), replay with --seed {}:",
                r.trace.len(),
                r.seed
            );
            for l in &replay_lines {
                println!("  {l}");
            }
        }
    }
    i32::from(!r.violations.is_empty())
}

fn run_exhaustive(args: &SimulateArgs, mutation: Option<Mutation>, started: Instant) -> i32 {
    let all = scenario::all();
    let pb = bar(all.len() as u64 * 1000, args.json, "exhaustive");
    let mut rows = vec![];
    let (mut states, mut boots, mut crashes, mut worst) = (0u64, 0u64, 0u64, 0u32);
    let (mut alt_states, mut alt_boots) = (0u64, [0u64; 4]);
    let mut violations = vec![];
    let mut finals = vec![];
    for (i, s) in all.iter().enumerate() {
        let ex = scenario::exhaustive(s, mutation, 10);
        let run = scenario::run(s, mutation);
        states += ex.crash_states;
        alt_states += ex.alt_states;
        for (t, n) in alt_boots.iter_mut().zip(ex.alt_boots) {
            *t += n;
        }
        boots += ex.boots;
        crashes += ex.crashes;
        worst = worst.max(ex.max_crashes_per_version);
        violations.extend(ex.violations.iter().map(ToString::to_string));
        violations.extend(run.violations.iter().cloned());
        rows.push((
            s.name,
            ex.crash_states + ex.alt_states,
            ex.boots,
            ex.crashes,
            ex.violations.len(),
            run.final_view.clone(),
        ));
        if let Some(v) = run.final_view {
            finals.push((s.name, v));
        }
        pb.set_position((i as u64 + 1) * 1000);
    }
    pb.finish_and_clear();
    if args.json {
        let fa: serde_json::Map<String, Value> = finals
            .iter()
            .map(|(n, v)| ((*n).to_owned(), final_json(std::slice::from_ref(v))))
            .collect();
        println!(
            "{}",
            json!({
                "mode": "exhaustive",
                "mutation": mutation.map(|m| kebab(&format!("{m:?}"))),
                "boots": boots,
                "crashes": crashes,
                "crash_states_explored": states,
                "alternative_states_explored": alt_states,
                "distinct_states_explored": states + alt_states,
                "alternative_boots": {
                    "clean_reboots": alt_boots[0],
                    "reloads": alt_boots[1],
                    "power_cuts": alt_boots[2],
                    "promotion_io_failures": alt_boots[3],
                },
                "invariant_violations": violations,
                "max_crashes_per_version": worst,
                "final_active": fa,
                "elapsed_ms": started.elapsed().as_millis() as u64,
            })
        );
    } else {
        println!(
            "{:<28} {:>12} {:>8} {:>8} {:>10}  final (nothing injected)",
            "scenario", "states", "boots", "crashes", "violations"
        );
        for (n, st, b, c, v, f) in &rows {
            let fin = f.as_ref().map_or("-".to_owned(), |f| {
                format!(
                    "{} {} lkg {} q {:?}",
                    f.source.name(),
                    f.active_version.map_or("-".into(), |v| format!("v{v}")),
                    f.lkg_version.map_or("-".into(), |v| format!("v{v}")),
                    f.quarantined
                )
            });
            println!("{n:<28} {st:>12} {b:>8} {c:>8} {v:>10}  {fin}");
        }
        println!(
            "\ntotal: {} distinct states ({states} after a power loss, {alt_states} after a clean reboot, reload, power cut or promotion I/O failure), {boots} boots, {crashes} crashes, max {worst} crashes per version, {} violations ({:.1?})",
            states + alt_states,
            violations.len(),
            started.elapsed()
        );
        println!(
            "alternative boots: {} clean reboots, {} reloads, {} power cuts, {} promotion I/O failures",
            alt_boots[0], alt_boots[1], alt_boots[2], alt_boots[3]
        );
        for v in violations.iter().take(20) {
            println!("VIOLATION {v}");
        }
    }
    i32::from(!violations.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutation_names_and_traces_parse() {
        assert_eq!(
            parse_mutation("no-quarantine"),
            Some(Mutation::NoQuarantine)
        );
        assert_eq!(
            parse_mutation("raise-floor-before-lkg-durable"),
            Some(Mutation::RaiseFloorBeforeLkgDurable)
        );
        use scenario::{Alt, Choice, format_trace, parse_trace};
        let t = parse_trace("3:1:0,4:4:3,5:reload,6:fail-rename-always").unwrap();
        assert_eq!(t[0], (3, Choice::Crash { op: 1, variant: 0 }));
        assert_eq!(t[2], (5, Choice::Plan(Alt::Reload)));
        assert_eq!(
            format_trace(&t),
            "3:1:0,4:4:3,5:reload,6:fail-rename-always"
        );
        assert_eq!(parse_trace("3:1"), None);
    }
}
