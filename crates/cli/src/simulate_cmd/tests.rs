//! `changuard simulate` output: structured JSON timelines, no Rust type names
//! in text, counts that agree between text and JSON, replay commands that
//! reproduce their violation, no progress output off a terminal.

use clap::Parser;
use serde_json::Value;

use super::*;

/// `changuard simulate ...` as the binary parses it.
#[derive(Parser, Debug)]
#[command(name = "changuard")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    Simulate(SimulateArgs),
}

fn parse(args: &[&str]) -> SimulateArgs {
    let argv = ["changuard", "simulate"].iter().chain(args);
    match Cli::try_parse_from(argv) {
        Ok(Cli {
            command: Command::Simulate(a),
        }) => a,
        Err(e) => panic!("{args:?}: {e}"),
    }
}

/// Parse a printed `changuard simulate ...` command line.
fn parse_command(line: &str) -> SimulateArgs {
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(&words[..2], ["changuard", "simulate"], "{line}");
    parse(&words[2..])
}

fn run_args(args: &[&str]) -> Outcome {
    let o = execute(&parse(args), false);
    assert!(o.stderr.is_empty(), "{args:?}: stderr {}", o.stderr);
    o
}

fn run_json(args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let o = run_args(&a);
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", o.stdout))
}

#[test]
fn mutation_names_and_traces_parse() {
    for m in Mutation::ALL {
        assert_eq!(mutation_from_name(mutation_name(*m)), Some(*m));
    }
    assert_eq!(
        mutation_from_name("no-quarantine"),
        Some(Mutation::NoQuarantine)
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

/// Issue 14 item 4: timeline entries said `boot 0` and were preformatted text.
#[test]
fn json_timeline_entries_are_structured_and_numbered() {
    let j = run_json(&["--scenario", "update-during-trial"]);
    let t = j["timeline"].as_array().unwrap();
    assert_eq!(t.len() as u64, j["boots"].as_u64().unwrap());
    for (i, e) in t.iter().enumerate() {
        assert_eq!(e["boot"], i as u64 + 1, "{e}");
        assert_eq!(e["kind"], "boot");
        let text = e["text"].as_str().unwrap();
        assert!(text.starts_with(&format!("boot {:>3}:", i + 1)), "{text}");
        assert!(e["channels"][0]["channel"] == 291, "{e}");
    }
    assert_eq!(t[1]["step_name"], "boot-early-reboot");
    assert_eq!(t[1]["end"], "rebooted-early");
    assert_eq!(t[1]["channels"][0]["version"], 7);
    assert_eq!(t[1]["channels"][0]["trial_attempt"], 1);
    assert_eq!(t[2]["end"], "healthy");
    assert_eq!(t[2]["channels"][0]["promoted"], true);
    let d = t[2]["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["reason"] == "promoted")
        .expect("a promoted decision");
    assert_eq!(d["reason_code"], 501);
    assert_eq!(d["channel"], 291);
    assert_eq!(d["version"], 8);

    // A rejection: reason code and name, the version concerned.
    let j = run_json(&["--scenario", "july-19", "--fleet", "5"]);
    let d = j["timeline"][1]["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["problem"] == true)
        .expect("a problem decision")
        .clone();
    assert_eq!(d["reason"], "candidate-rejected");
    assert_eq!(d["reason_code"], 206);
    assert_eq!(d["version"], 7);

    // A power loss and a crash, from a replayed trace.
    let j = run_json(&["--scenario", "poison-update", "--crash-trace", "3:1:0"]);
    let t = j["timeline"].as_array().unwrap();
    assert_eq!(t[1]["boot"], 2);
    assert_eq!(t[1]["end"], "power-loss");
    assert_eq!(t[1]["power_loss_after"], "state-write");
    assert_eq!(t[1]["power_loss"]["mutating_op"], 1);
    assert_eq!(t[2]["end"], "crashed");
    assert_eq!(t[2]["crashed_by"][0]["version"], 7);
    assert_eq!(j["max_crashes_per_version"], 1);

    // A campaign's replayed schedule: actions and boots, numbered from 1.
    let j = run_json(&[
        "--random",
        "--seed",
        "11",
        "--boots",
        "5000",
        "--mutation",
        "no-quarantine",
    ]);
    let t = j["timeline"].as_array().unwrap();
    assert!(!t.is_empty());
    assert_eq!(t[0]["kind"], "deliver");
    assert_eq!(t[0]["boot"], 1);
    let boots: Vec<&Value> = t.iter().filter(|e| e["kind"] == "boot").collect();
    for (i, b) in boots.iter().enumerate() {
        assert_eq!(b["boot"], i as u64 + 1, "{b}");
    }
    assert!(
        !boots.last().unwrap()["violations"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    for a in j["replay_trace"].as_array().unwrap() {
        assert!(a["kind"].as_str().is_some_and(|k| !k.is_empty()), "{a}");
    }
}

/// Brackets holding a `CamelCase` word (a Rust enum variant name), or
/// `Some(`/`None`/` { `: Debug formatting in user-facing text.
fn debug_leaks(text: &str) -> Vec<String> {
    let mut found = vec![];
    for (i, _) in text.match_indices('[') {
        let inside = text[i + 1..].split(']').next().unwrap_or("");
        for w in inside.split(|c: char| !c.is_ascii_alphanumeric()) {
            let b = w.as_bytes();
            let camel = b.len() > 2
                && b[0].is_ascii_uppercase()
                && b[1].is_ascii_lowercase()
                && b[2..].iter().any(u8::is_ascii_uppercase);
            if camel {
                found.push(format!("[{inside}]"));
            }
        }
    }
    for pat in ["Some(", "None", " { ", "FailOp", "Settle#"] {
        if text.contains(pat) {
            found.push(pat.to_owned());
        }
    }
    found
}

#[test]
fn text_output_has_no_debug_formatting() {
    assert!(!debug_leaks("x [BootEarlyReboot]").is_empty());
    assert!(debug_leaks("x [boot-early-reboot] [C-00000291-00000006.chan]").is_empty());
    let mut runs: Vec<Vec<String>> = scenario::all()
        .iter()
        .map(|s| {
            vec![
                "--scenario".into(),
                s.name.into(),
                "--fleet".into(),
                "20".into(),
            ]
        })
        .collect();
    for a in [
        "--scenario promotion-io-failure --crash-trace 3:fail-rename-always",
        "--scenario poison-update --crash-trace 1:reboot,3:1:0",
        "--scenario power-loss-during-promotion --mutation no-quarantine",
        "--scenario poison-update --mutation no-quarantine --max-trial-boots 2",
        "--random --boots 300 --seed 3",
        "--random --boots 5000 --seed 11 --mutation no-quarantine",
    ] {
        runs.push(a.split(' ').map(str::to_owned).collect());
    }
    for a in &runs {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let o = run_args(&a);
        assert!(!o.stdout.is_empty());
        let leaks = debug_leaks(&o.stdout);
        assert!(leaks.is_empty(), "{a:?}: {leaks:?}\n{}", o.stdout);
    }
    // --exhaustive (the table and the violations), on two scenarios.
    let picked: Vec<_> = ["poison-update", "promotion-io-failure"]
        .iter()
        .filter_map(|n| scenario::by_name(n))
        .collect();
    let args = parse(&["--exhaustive", "--mutation", "no-quarantine"]);
    let o = run_exhaustive(
        &args,
        &picked,
        Some(Mutation::NoQuarantine),
        false,
        Instant::now(),
    );
    assert_eq!(o.code, 1);
    let leaks = debug_leaks(&o.stdout);
    assert!(leaks.is_empty(), "{leaks:?}\n{}", o.stdout);
}

/// Issue 14 item 4: july-19 ended with "2 boots" after the fleet's boots,
/// while JSON said the sum.
#[test]
fn july19_counts_agree_between_text_and_json() {
    let args = ["--scenario", "july-19", "--fleet", "40"];
    let text = run_args(&args).stdout;
    let j = run_json(&args);
    let total = text
        .lines()
        .find_map(|l| l.strip_prefix("total: "))
        .expect("a total line");
    let boots = j["boots"].as_u64().unwrap();
    let scen = j["scenario_boots"].as_u64().unwrap();
    let fleet = j["fleet"]["boots"].as_u64().unwrap();
    assert_eq!(boots, scen + fleet);
    assert_eq!(scen, j["timeline"].as_array().unwrap().len() as u64);
    assert!(
        total.starts_with(&format!(
            "{boots} boots ({scen} scenario + {fleet} fleet), "
        )),
        "{total}"
    );
    assert!(
        total.contains(&format!(
            "{} crashes, {} invariant violations",
            j["crashes"],
            j["invariant_violations"].as_array().unwrap().len()
        )),
        "{total}"
    );
    assert!(
        text.contains(&format!("\nscenario: {scen} boots, ")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "july-19 fleet (as shipped, no mutation): {} machines, {fleet} boots, {} power losses, {} crashes",
            j["fleet"]["machines"], j["fleet"]["power_losses"], j["fleet"]["crashes"]
        )),
        "{text}"
    );

    // Other scenarios: one count line, the same as JSON.
    let args = ["--scenario", "poison-update"];
    let text = run_args(&args).stdout;
    let j = run_json(&args);
    assert!(
        text.contains(&format!(
            "\n{} boots, {} crashes (max {} per version), 0 invariant violations",
            j["boots"], j["crashes"], j["max_crashes_per_version"]
        )),
        "{text}"
    );

    // A random campaign.
    let args = ["--random", "--boots", "200", "--seed", "4"];
    let text = run_args(&args).stdout;
    let j = run_json(&args);
    assert!(
        text.starts_with(&format!(
            "random campaign seed 4: {} boots, {} crashes, {} power losses, max {} crashes per version",
            j["boots"], j["crashes"], j["power_losses"], j["max_crashes_per_version"]
        )),
        "{text}"
    );
}

/// The invariant part of a violation (after `...: `), e.g. `I3 channel 291
/// v7 crashed 2 times > MaxTrialBoots 1`.
fn invariant(msg: &str) -> &str {
    let i = msg.find(": I").map_or(0, |i| i + 2);
    &msg[i..]
}

/// Issue 14 item 4: `--exhaustive --mutation no-quarantine` printed replay
/// commands without `--mutation`, which showed 0 violations.
#[test]
fn printed_replay_commands_reproduce_their_violation() {
    for (m, name) in [
        (Mutation::NoQuarantine, "poison-update"),
        (Mutation::EvictQuarantine, "twenty-crashing-versions"),
    ] {
        let picked = vec![scenario::by_name(name).unwrap()];
        let args = parse(&["--exhaustive", "--mutation", mutation_name(m)]);
        let text = run_exhaustive(&args, &picked, Some(m), false, Instant::now());
        assert_eq!(text.code, 1, "{m:?} not caught");
        let lines: Vec<&str> = text.stdout.lines().collect();
        let mut replayed = 0;
        for (i, l) in lines.iter().enumerate() {
            let Some(cmd) = l.strip_prefix("  replay: ") else {
                continue;
            };
            let violation = lines[i - 1]
                .strip_prefix("VIOLATION ")
                .expect("after a violation");
            let want = invariant(violation);
            let again = parse_command(cmd);
            assert_eq!(again.mutation.as_deref(), Some(mutation_name(m)), "{cmd}");
            let o = execute(&again, false);
            assert_eq!(o.code, 1, "{cmd} does not violate:\n{}", o.stdout);
            assert!(
                o.stdout
                    .lines()
                    .filter_map(|l| l.strip_prefix("VIOLATION "))
                    .any(|v| invariant(v) == want),
                "{cmd}: not `{want}`:\n{}",
                o.stdout
            );
            replayed += 1;
        }
        assert!(replayed > 0, "no replay command printed:\n{}", text.stdout);

        // The same from --json, every violation (not only the ones shown).
        let mut jargs = parse(&["--exhaustive", "--mutation", mutation_name(m)]);
        jargs.json = true;
        let o = run_exhaustive(&jargs, &picked, Some(m), false, Instant::now());
        let j: Value = serde_json::from_str(&o.stdout).unwrap();
        for v in j["violations"].as_array().unwrap() {
            let a: Vec<&str> = v["replay_args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            assert_eq!(
                v["replay_command"].as_str().unwrap(),
                format!("changuard simulate {}", a.join(" "))
            );
            let mut again = parse(&a);
            again.json = true;
            let r: Value = serde_json::from_str(&execute(&again, false).stdout).unwrap();
            let want = invariant(v["message"].as_str().unwrap());
            assert!(
                r["invariant_violations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| invariant(x.as_str().unwrap()) == want),
                "{a:?}: not `{want}`: {}",
                r["invariant_violations"]
            );
        }
    }

    // A random campaign's replay command: the same violation at the same boot.
    let args = [
        "--random",
        "--boots",
        "5000",
        "--seed",
        "11",
        "--mutation",
        "no-quarantine",
    ];
    let o = run_args(&args);
    assert_eq!(o.code, 1);
    let cmd = o
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("  replay: "))
        .expect("a replay command");
    let again = execute(&parse_command(cmd), false);
    assert_eq!(again.code, 1);
    let first = |s: &str| -> String {
        s.lines()
            .find(|l| l.starts_with("VIOLATION"))
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(first(&again.stdout), first(&o.stdout));
    assert!(!first(&o.stdout).is_empty());
}

/// `--max-trial-boots` reaches the machine, and a violation found under
/// MaxTrialBoots 2 prints it.
#[test]
fn max_trial_boots_is_replayed() {
    let one = run_json(&["--scenario", "crash-during-trial"]);
    let two = run_json(&["--scenario", "crash-during-trial", "--max-trial-boots", "2"]);
    assert_eq!(one["final_active"]["291"]["quarantined"][0], 7);
    assert_ne!(one["final_active"], two["final_active"]);
    assert_eq!(two["max_trial_boots"], 2);
    let v = scenario::Violation {
        scenario: "crash-during-trial",
        trace: vec![(3, scenario::Choice::Plan(scenario::Alt::Reload))],
        message: String::new(),
        mutation: Some(Mutation::CountCleanEnds),
        max_trial_boots: 2,
    };
    let a = parse_command(&v.replay_command());
    assert_eq!(a.scenario.as_deref(), Some("crash-during-trial"));
    assert_eq!(a.mutation.as_deref(), Some("count-clean-ends"));
    assert_eq!(a.max_trial_boots, 2);
    assert_eq!(a.crash_trace.as_deref(), Some("3:reload"));
    // Outside --scenario they mean nothing: refused.
    let o = execute(&parse(&["--random", "--max-trial-boots", "2"]), false);
    assert_eq!(o.code, 2);
    let o = execute(
        &parse(&["--exhaustive", "--crash-trace", "1:reboot"]),
        false,
    );
    assert_eq!(o.code, 2);
}

/// No progress output unless stderr is a terminal; never for short runs.
#[test]
fn progress_bar_only_on_a_terminal() {
    let mut off = Bar::new("test", "boots", false);
    std::thread::sleep(progress::SHOW_AFTER);
    changuard_sim::Progress::update(&mut off, 1, 10);
    assert!(!off.is_drawn());
    off.finish();
    // Enabled: nothing before SHOW_AFTER; after it, drawn only if stderr
    // is a terminal (indicatif's stderr target hides itself otherwise).
    let mut on = Bar::new("test", "boots", true);
    on.show(1, 10, String::new);
    assert!(!on.is_drawn(), "drawn before {:?}", progress::SHOW_AFTER);
    std::thread::sleep(progress::SHOW_AFTER);
    on.show(2, 10, String::new);
    assert_eq!(on.is_drawn(), std::io::stderr().is_terminal());
    on.finish();
    // A long run with bars off prints nothing on stderr.
    let o = execute(&parse(&["--scenario", "july-19", "--fleet", "300"]), false);
    assert!(o.stderr.is_empty());
}

/// Issue 15 item 5: `--rollout` reports both strategies side by side, the
/// done-when condition, and draws the figure.
#[test]
fn rollout_reports_both_strategies_and_plots() {
    let j = run_json(&["--rollout", "--fleet", "40", "--seed", "3"]);
    assert_eq!(j["mode"], "rollout");
    assert_eq!(j["machines"], 40);
    let a = &j["all_at_once"];
    let s = &j["staged_halt"];
    assert_eq!(a["activated"], 40);
    assert_eq!(a["machines_crashed"], j["with_property"]);
    assert!(s["machines_crashed"].as_u64().unwrap() <= j["done_when"]["bound"].as_u64().unwrap());
    assert_eq!(j["done_when"]["holds"], true);
    assert_eq!(j["invariant_violations"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        s["series"]["t_secs"].as_array().map(Vec::len),
        Some(48 * 12),
        "one sample per 5-minute step over 48 h"
    );
    let o = run_args(&["--rollout", "--fleet", "40", "--seed", "3"]);
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains("staged+halt"), "{}", o.stdout);
    assert!(o.stdout.contains("done-when holds"), "{}", o.stdout);
    // `--plot` needs `--rollout`; `--rollout` runs the protocol as shipped.
    let o = execute(&parse(&["--scenario", "july-19", "--plot", "x.svg"]), false);
    assert_eq!(o.code, 2);
    let o = execute(&parse(&["--rollout", "--mutation", "no-quarantine"]), false);
    assert_eq!(o.code, 2);
}

#[test]
fn rollout_plot_is_svg_without_fonts() {
    let config = changuard_sim::fleet::Config {
        machines: 20,
        ..changuard_sim::fleet::Config::default()
    };
    let r = changuard_sim::fleet::run(&config, &mut changuard_sim::NoProgress);
    let svg = rollout::plot(&r).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
    assert!(svg.contains("machines crashed"));
    assert!(svg.trim_end().ends_with("</svg>"));
}
