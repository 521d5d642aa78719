//! `changuard simulate`: the crash-safe loader, booted thousands of times on a
//! simulated disk and registry (crates/sim), with the invariants checked after
//! every boot.
//!
//! ```text
//! changuard simulate --scenario NAME        one scenario, boot by boot (july-19: + a 1,000-machine fleet)
//! changuard simulate --random --boots N --seed S
//! changuard simulate --exhaustive           every crash point x tear variant, clean reboot,
//!                                           reload, power cut and promotion I/O failure of every scenario
//! changuard simulate --rollout [--fleet N] [--seed S] [--plot FILE.svg]
//!                                           a fleet (default 100,000 machines) gets 19 July's bad
//!                                           update all at once vs in rings with a halt (docs/ROLLOUT.md)
//! ... [--json] [--mutation NAME] [--max-trial-boots N --crash-trace STEP:OP:VARIANT|STEP:ALT,...]
//! ```
//! Exit codes: 0 no invariant violated (and, with `--rollout`, the staged
//! rollout's done-when condition holds), 1 violations, 2 usage.
//!
//! Every replay command printed with a violation carries every flag that
//! decides the run (scenario or seed and boots, mutation, MaxTrialBoots,
//! crash trace) and reproduces the violation. Runs that may take more than a
//! second draw a progress bar on stderr when stderr is a terminal, and
//! nothing otherwise.

mod json;
mod progress;
mod rollout;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Instant;

use changuard_sim::machine::{BootEnd, BootReport, ChannelView};
use changuard_sim::{Mutation, mutation_from_name, mutation_name, random, scenario, timeline};
use serde_json::{Value, json};

use progress::Bar;

/// Arguments of `changuard simulate`.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Run one named scenario (see `--list`).
    #[arg(long, conflicts_with_all = ["random", "exhaustive", "rollout"])]
    pub scenario: Option<String>,
    /// Seeded random multi-boot campaign.
    #[arg(long, conflicts_with_all = ["exhaustive", "rollout"])]
    pub random: bool,
    /// Boots in the random campaign.
    #[arg(long, default_value_t = 10_000)]
    pub boots: u64,
    /// Seed of the random campaign (same seed, same run).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Crash at every I/O step and every tear variant of every scenario, and
    /// branch every boot into a clean reboot, a reload, a power cut and every
    /// promotion I/O failure (each scenario under MaxTrialBoots 1 and 2).
    #[arg(long, conflicts_with = "rollout")]
    pub exhaustive: bool,
    /// Fleet rollout: the same fleet of real machines gets 19 July 2024's
    /// update (valid, signed, crashes the machines with a property) all at
    /// once and in rings with a halt, side by side (with `--fleet`, `--seed`,
    /// `--plot`).
    #[arg(long)]
    pub rollout: bool,
    /// Machines in the fleet: the july-19 fleet replay (default 1,000) or
    /// `--rollout` (default 100,000).
    #[arg(long)]
    pub fleet: Option<u64>,
    /// With `--rollout`: write the crashed machines over time, both
    /// strategies, as an SVG figure to this file.
    #[arg(long)]
    pub plot: Option<std::path::PathBuf>,
    /// Inject a deliberate protocol bug (to see the simulator catch it):
    /// activate-before-persist, raise-floor-before-lkg-durable,
    /// skip-flush-on-lkg-write, no-quarantine, lkg-in-place, count-clean-ends,
    /// evict-quarantine.
    #[arg(long)]
    pub mutation: Option<String>,
    /// The MaxTrialBoots registry value the scenario's machine starts with
    /// (printed in replay commands of violations found under it), with
    /// `--scenario`.
    #[arg(long, default_value_t = 1)]
    pub max_trial_boots: u32,
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

/// Machines in the july-19 fleet replay unless `--fleet` says.
const JULY19_FLEET: u64 = 1_000;

/// What a run printed and its exit code.
#[derive(Debug, Default)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `writeln!` into a `String` (which cannot fail).
macro_rules! say {
    ($o:expr, $($t:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($o, $($t)*);
    }};
}

/// Run `changuard simulate`. Returns the process exit code.
pub fn run(args: &SimulateArgs) -> i32 {
    let o = execute(args, std::io::stderr().is_terminal());
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(o.stderr.as_bytes());
    let mut out = std::io::stdout().lock();
    if out
        .write_all(o.stdout.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        return 2;
    }
    o.code
}

/// The run; progress bars on stderr only if `bars` (stderr is a terminal).
fn execute(args: &SimulateArgs, bars: bool) -> Outcome {
    let mut o = Outcome::default();
    if args.list {
        for s in scenario::all() {
            say!(o.stdout, "{:<38} {}", s.name, s.description);
        }
        return o;
    }
    let mutation = match args.mutation.as_deref() {
        None => None,
        Some(name) => match mutation_from_name(name) {
            Some(m) => Some(m),
            None => return usage(&format!("unknown mutation {name}")),
        },
    };
    if args.plot.is_some() && !args.rollout {
        return usage("--plot draws the --rollout figure");
    }
    if args.scenario.is_none() && (args.crash_trace.is_some() || args.max_trial_boots != 1) {
        return usage("--crash-trace and --max-trial-boots replay a --scenario");
    }
    let started = Instant::now();
    if let Some(name) = &args.scenario {
        let Some(s) = scenario::by_name(name) else {
            return usage(&format!("unknown scenario {name} (try --list)"));
        };
        return run_scenario(args, &s, mutation, bars, started);
    }
    if args.random {
        return run_random(args, mutation, bars, started);
    }
    if args.exhaustive {
        return run_exhaustive(args, &scenario::all(), mutation, bars, started);
    }
    if args.rollout {
        if mutation.is_some() {
            return usage("--rollout runs the protocol as shipped (no --mutation)");
        }
        return rollout::run(args, bars, started);
    }
    usage("give one of --scenario NAME, --random, --exhaustive, --rollout (or --list)")
}

fn usage(msg: &str) -> Outcome {
    Outcome {
        code: 2,
        stdout: String::new(),
        stderr: format!("error: {msg}\n"),
    }
}

fn mutation_json(m: Option<Mutation>) -> Value {
    json!(m.map(mutation_name))
}

/// `changuard simulate ARGS`.
fn command(args: &[String]) -> String {
    format!("changuard simulate {}", args.join(" "))
}

/// The arguments replaying a random campaign up to boot `boots`.
fn random_args(seed: u64, boots: u64, mutation: Option<Mutation>) -> Vec<String> {
    let mut a = vec![
        "--random".to_owned(),
        "--seed".to_owned(),
        seed.to_string(),
        "--boots".to_owned(),
        boots.to_string(),
    ];
    if let Some(m) = mutation {
        a.push("--mutation".to_owned());
        a.push(mutation_name(m).to_owned());
    }
    a
}

fn print_final(out: &mut String, chs: &[ChannelView]) {
    say!(
        out,
        "  {:<8} {:<10} {:>8} {:>8} {:>6}  quarantined",
        "channel",
        "source",
        "active",
        "lkg",
        "floor"
    );
    for c in chs {
        say!(
            out,
            "  {:<8} {:<10} {:>8} {:>8} {:>6}  {}",
            c.channel,
            c.source.name(),
            timeline::version(c.active_version),
            timeline::version(c.lkg_version),
            c.floor,
            timeline::versions(&c.quarantined)
        );
    }
}

/// Crashes in `reports`, and the most crashes of one `(channel, version)`.
fn crash_counts<'a>(reports: impl Iterator<Item = &'a BootReport>) -> (u64, u32) {
    let mut per: BTreeMap<(u32, u64), u32> = BTreeMap::new();
    for r in reports {
        if let BootEnd::Crashed(v) = &r.end {
            for cv in v {
                *per.entry(*cv).or_default() += 1;
            }
        }
    }
    let total = per.values().map(|n| u64::from(*n)).sum();
    (total, per.values().copied().max().unwrap_or(0))
}

fn run_scenario(
    args: &SimulateArgs,
    s: &scenario::Scenario,
    mutation: Option<Mutation>,
    bars: bool,
    started: Instant,
) -> Outcome {
    let trace = match &args.crash_trace {
        Some(t) => match scenario::parse_trace(t) {
            Some(tr) => tr,
            None => return usage("--crash-trace wants STEP:OP:VARIANT or STEP:ALT[,...]"),
        },
        None => vec![],
    };
    let boots = scenario::replay_boots(s, mutation, args.max_trial_boots, &trace);
    let mut violations: Vec<String> = boots
        .iter()
        .enumerate()
        .flat_map(|(i, b)| {
            b.report
                .violations
                .iter()
                .map(move |v| format!("boot {} ({}): {v}", i + 1, b.label))
        })
        .collect();
    let scenario_violations = violations.len();
    let (crashes, worst) = crash_counts(boots.iter().map(|b| &b.report));
    let final_channels = boots
        .iter()
        .rev()
        .find(|b| !b.report.channels.is_empty())
        .map(|b| b.report.channels.clone())
        .unwrap_or_default();
    let fleet = (s.name == "july-19").then(|| {
        let mut bar = Bar::new("july-19 fleet", "machines", bars);
        let f = scenario::july19_fleet_with(args.fleet.unwrap_or(JULY19_FLEET), &mut bar);
        bar.finish();
        f
    });
    if let Some(f) = &fleet {
        violations.extend(f.violations.iter().map(|v| format!("july-19 fleet {v}")));
        if f.crashes != 0 {
            violations.push(format!("july-19 fleet: {} crashes", f.crashes));
        }
    }
    let scenario_boots = boots.len() as u64;
    let total_boots = scenario_boots + fleet.as_ref().map_or(0, |f| f.boots);
    let total_crashes = crashes + fleet.as_ref().map_or(0, |f| f.crashes);
    let mut o = Outcome {
        code: i32::from(!violations.is_empty()),
        ..Outcome::default()
    };
    if args.json {
        let mut j = json!({
            "mode": "scenario",
            "scenario": s.name,
            "mutation": mutation_json(mutation),
            "max_trial_boots": args.max_trial_boots,
            "crash_trace": args.crash_trace.as_ref().map(|_| scenario::format_trace(&trace)),
            "boots": total_boots,
            "scenario_boots": scenario_boots,
            "crashes": total_crashes,
            "scenario_crashes": crashes,
            "crash_states_explored": 0,
            "invariant_violations": violations,
            "max_crashes_per_version": worst,
            "final_active": json::final_state(&final_channels),
            "timeline": boots
                .iter()
                .enumerate()
                .map(|(i, b)| json::scenario_boot(i as u64 + 1, b))
                .collect::<Vec<_>>(),
            "elapsed_ms": started.elapsed().as_millis() as u64,
        });
        if let Some(f) = &fleet {
            j["fleet"] = json!({
                "machines": f.machines,
                "boots": f.boots,
                "crashes": f.crashes,
                "power_losses": f.power_losses,
                "on_valid_content": f.on_valid_content,
                "invariant_violations": f.violations.len(),
            });
        }
        say!(o.stdout, "{j}");
        return o;
    }
    let out = &mut o.stdout;
    say!(out, "scenario {}: {}", s.name, s.description);
    if let Some(m) = mutation {
        say!(out, "  mutation: {}", mutation_name(m));
    }
    if args.max_trial_boots != 1 {
        say!(out, "  MaxTrialBoots: {}", args.max_trial_boots);
    }
    for (i, b) in boots.iter().enumerate() {
        say!(out, "  [{}]", b.label);
        say!(out, "  {}", timeline::line(i as u64 + 1, &b.report));
    }
    say!(out, "\nfinal state:");
    print_final(out, &final_channels);
    let elapsed = started.elapsed();
    let summary = format!(
        "{scenario_boots} boots, {crashes} crashes (max {worst} per version), {scenario_violations} invariant violations"
    );
    match &fleet {
        Some(f) => {
            say!(out, "\nscenario: {summary}");
            say!(
                out,
                "july-19 fleet (as shipped, no mutation): {} machines, {} boots, {} power losses, {} crashes, {} of {} machines on valid content, {} invariant violations",
                f.machines,
                f.boots,
                f.power_losses,
                f.crashes,
                f.on_valid_content,
                f.machines,
                f.violations.len()
            );
            say!(
                out,
                "total: {total_boots} boots ({scenario_boots} scenario + {} fleet), {total_crashes} crashes, {} invariant violations ({elapsed:.1?})",
                f.boots,
                violations.len()
            );
        }
        None => say!(out, "\n{summary} ({elapsed:.1?})"),
    }
    for v in &violations {
        say!(out, "VIOLATION {v}");
    }
    o
}

fn run_random(
    args: &SimulateArgs,
    mutation: Option<Mutation>,
    bars: bool,
    started: Instant,
) -> Outcome {
    let mut bar = Bar::new("random campaign", "boots", bars);
    let r = random::campaign_with(args.seed, args.boots, mutation, false, true, &mut bar);
    bar.finish();
    let violated = !r.violations.is_empty();
    let entries = if violated {
        random::replay_entries(&r.trace, mutation)
    } else {
        vec![]
    };
    // The violation stops the campaign at boot `r.boots`: the same seed run
    // that far reproduces it.
    let replay = violated.then(|| random_args(r.seed, r.boots, mutation));
    let trace_boots = entries
        .iter()
        .filter(|e| matches!(e, random::Entry::Boot { .. }))
        .count();
    let mut o = Outcome {
        code: i32::from(violated),
        ..Outcome::default()
    };
    if args.json {
        say!(
            o.stdout,
            "{}",
            json!({
                "mode": "random",
                "seed": r.seed,
                "mutation": mutation_json(mutation),
                "boots": r.boots,
                "crashes": r.crashes,
                "power_losses": r.power_losses,
                "crash_states_explored": 0,
                "invariant_violations": r.violations,
                "max_crashes_per_version": r.max_crashes_per_version,
                "final_active": json::final_state(&r.final_channels),
                "replay_command": replay.as_deref().map(command),
                "replay_args": replay,
                "replay_trace": r.trace.iter().map(|a| Value::Object(json::action(a))).collect::<Vec<_>>(),
                "timeline": entries.iter().map(json::entry).collect::<Vec<_>>(),
                "elapsed_ms": started.elapsed().as_millis() as u64,
            })
        );
        return o;
    }
    let out = &mut o.stdout;
    say!(
        out,
        "random campaign seed {}{}: {} boots, {} crashes, {} power losses, max {} crashes per version ({:.1?})",
        r.seed,
        mutation.map_or(String::new(), |m| format!(
            ", mutation {}",
            mutation_name(m)
        )),
        r.boots,
        r.crashes,
        r.power_losses,
        r.max_crashes_per_version,
        started.elapsed()
    );
    if !r.final_channels.is_empty() {
        print_final(out, &r.final_channels);
    }
    for v in &r.violations {
        say!(out, "VIOLATION (seed {}, boot {}): {v}", r.seed, r.boots);
    }
    if let Some(a) = &replay {
        say!(out, "  replay: {}", command(a));
    }
    if !entries.is_empty() {
        say!(
            out,
            "shrunk schedule that still violates ({} actions, {trace_boots} boots):",
            r.trace.len(),
        );
        for e in &entries {
            say!(out, "  {}", e.text());
        }
    }
    o
}

/// Violations shown in the text report of `--exhaustive` (`--json` has all).
const SHOWN_VIOLATIONS: usize = 20;
/// Violations the explorer collects per scenario.
const VIOLATIONS_PER_SCENARIO: usize = 10;

/// One violation of `--exhaustive`: where, what, and how to replay it.
struct Found {
    scenario: &'static str,
    message: String,
    crash_trace: String,
    max_trial_boots: u32,
    replay: Vec<String>,
}

fn run_exhaustive(
    args: &SimulateArgs,
    all: &[scenario::Scenario],
    mutation: Option<Mutation>,
    bars: bool,
    started: Instant,
) -> Outcome {
    let mut bar = Bar::new("exhaustive", "scenarios", bars);
    let mut rows = vec![];
    let (mut states, mut boots, mut crashes, mut worst) = (0u64, 0u64, 0u64, 0u32);
    let (mut alt_states, mut alt_boots) = (0u64, [0u64; 4]);
    let mut found: Vec<Found> = vec![];
    let mut finals = vec![];
    let n = all.len() as u64;
    for (i, s) in all.iter().enumerate() {
        let ex = scenario::exhaustive_with(s, mutation, VIOLATIONS_PER_SCENARIO, &mut |b, _| {
            bar.show(i as u64, n, || format!("{}: {b} boots", s.name));
        });
        let run = scenario::run(s, mutation);
        states += ex.crash_states;
        alt_states += ex.alt_states;
        for (t, n) in alt_boots.iter_mut().zip(ex.alt_boots) {
            *t += n;
        }
        boots += ex.boots;
        crashes += ex.crashes;
        worst = worst.max(ex.max_crashes_per_version);
        found.extend(ex.violations.iter().map(|v| Found {
            scenario: v.scenario,
            message: v.message.clone(),
            crash_trace: scenario::format_trace(&v.trace),
            max_trial_boots: v.max_trial_boots,
            replay: v.replay_args(),
        }));
        // The scenario as written (nothing injected): replayed by the plain command.
        found.extend(run.violations.iter().map(|m| Found {
            scenario: s.name,
            message: m.strip_prefix(s.name).unwrap_or(m).trim_start().to_owned(),
            crash_trace: String::new(),
            max_trial_boots: 1,
            replay: scenario::scenario_args(s.name, mutation, 1, &[]),
        }));
        rows.push((
            s.name,
            ex.crash_states + ex.alt_states,
            ex.boots,
            ex.crashes,
            ex.violations.len() + run.violations.len(),
            run.final_view.clone(),
        ));
        if let Some(v) = run.final_view {
            finals.push((s.name, v));
        }
        bar.show(i as u64 + 1, n, || format!("{}: done", s.name));
    }
    bar.finish();
    let mut o = Outcome {
        code: i32::from(!found.is_empty()),
        ..Outcome::default()
    };
    if args.json {
        let fa: serde_json::Map<String, Value> = finals
            .iter()
            .map(|(n, v)| ((*n).to_owned(), json::final_state(std::slice::from_ref(v))))
            .collect();
        say!(
            o.stdout,
            "{}",
            json!({
                "mode": "exhaustive",
                "mutation": mutation_json(mutation),
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
                "invariant_violations": found.iter().map(|f| format!("scenario {}: {}", f.scenario, f.message)).collect::<Vec<_>>(),
                "violations": found.iter().map(|f| json!({
                    "scenario": f.scenario,
                    "message": f.message,
                    "crash_trace": f.crash_trace,
                    "max_trial_boots": f.max_trial_boots,
                    "replay_command": command(&f.replay),
                    "replay_args": f.replay,
                })).collect::<Vec<_>>(),
                "scenarios": rows.iter().map(|(n, st, b, c, v, _)| json!({
                    "scenario": n,
                    "distinct_states": st,
                    "boots": b,
                    "crashes": c,
                    "violations": v,
                })).collect::<Vec<_>>(),
                "max_crashes_per_version": worst,
                "final_active": fa,
                "elapsed_ms": started.elapsed().as_millis() as u64,
            })
        );
        return o;
    }
    let out = &mut o.stdout;
    if let Some(m) = mutation {
        say!(out, "mutation: {}", mutation_name(m));
    }
    say!(
        out,
        "{:<38} {:>15} {:>8} {:>8} {:>10}  final state, nothing injected",
        "scenario",
        "distinct states",
        "boots",
        "crashes",
        "violations"
    );
    for (n, st, b, c, v, f) in &rows {
        let fin = f.as_ref().map_or("-".to_owned(), |f| {
            format!(
                "{} {}, lkg {}, quarantined {}",
                f.source.name(),
                timeline::version(f.active_version),
                timeline::version(f.lkg_version),
                timeline::versions(&f.quarantined)
            )
        });
        say!(out, "{n:<38} {st:>15} {b:>8} {c:>8} {v:>10}  {fin}");
    }
    say!(
        out,
        "\ntotal: {} distinct states ({states} after a power loss, {alt_states} after a clean reboot, reload, power cut or promotion I/O failure), {boots} boots, {crashes} crashes, max {worst} crashes per version, {} violations ({:.1?})",
        states + alt_states,
        found.len(),
        started.elapsed()
    );
    say!(
        out,
        "alternative boots: {} clean reboots, {} reloads, {} power cuts, {} promotion I/O failures",
        alt_boots[0],
        alt_boots[1],
        alt_boots[2],
        alt_boots[3]
    );
    for f in found.iter().take(SHOWN_VIOLATIONS) {
        say!(out, "VIOLATION scenario {}: {}", f.scenario, f.message);
        say!(out, "  replay: {}", command(&f.replay));
    }
    if found.len() > SHOWN_VIOLATIONS {
        say!(
            out,
            "... and {} more violations (all of them, with replay commands: --json)",
            found.len() - SHOWN_VIOLATIONS
        );
    }
    o
}
