//! Proof that the event path allocates nothing: a counting global allocator
//! (`stats_alloc`) wraps the system allocator, and evaluation of many events (matching and
//! not, long fields, wrong types, exhausted fuel) must leave the count at 0.
//!
//! The count is process-wide, so this runs without the libtest harness
//! (`harness = false`): nothing else runs while it counts.

mod common;

use std::alloc::System;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

use changuard_format::build::CriterionSpec;
use changuard_format::schema::{NAMED_PIPE_CREATE, PROCESS_CREATE};
use changuard_format::{Action, StrOp};
use changuard_interp::text::utf16_to_utf8;
use changuard_interp::{Engine, Event, Value, Verdict};
use common::*;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    evaluate_allocates_nothing();
    println!("no_alloc: the event path allocated nothing");
}

fn evaluate_allocates_nothing() {
    let pc = &PROCESS_CREATE;
    let np = &NAMED_PIPE_CREATE;
    let mut insts = Vec::new();
    let mut id = 0;
    let mut next = || {
        id += 1;
        id
    };
    for k in 0..50 {
        insts.push(inst(
            next(),
            pc,
            Action::Report,
            &[(
                "image_path",
                s(StrOp::Suffix, &format!("\\tool{k}.exe"), true),
            )],
        ));
        insts.push(inst(
            next(),
            pc,
            Action::Report,
            &[(
                "command_line",
                s(StrOp::Contains, &format!("-payload{k}"), false),
            )],
        ));
        insts.push(inst(
            next(),
            pc,
            Action::Report,
            &[(
                "parent_image_path",
                s(StrOp::Equals, &format!("c:\\p{k}.exe"), true),
            )],
        ));
        insts.push(inst(
            next(),
            pc,
            Action::Report,
            &[("pid", CriterionSpec::IntEquals(k))],
        ));
        insts.push(inst(
            next(),
            np,
            Action::Report,
            &[(
                "pipe_name",
                s(
                    StrOp::Prefix,
                    &format!("\\Device\\NamedPipe\\evil{k}"),
                    false,
                ),
            )],
        ));
    }
    insts.push(inst(
        next(),
        pc,
        Action::Report,
        &[(
            "command_line",
            CriterionSpec::Regex {
                pattern: r"(?i)-enc(odedcommand)?\s+[a-z0-9+/=]{8,}".into(),
                case_insensitive: false,
            },
        )],
    ));
    insts.push(inst(
        next(),
        np,
        Action::Report,
        &[(
            "pipe_name",
            CriterionSpec::Regex {
                pattern: r"msagent_[0-9a-f]{2}$".into(),
                case_insensitive: true,
            },
        )],
    ));
    insts.push(inst(
        next(),
        pc,
        Action::Report,
        &[(
            "integrity_level",
            CriterionSpec::IntRange {
                lo: 0x3000,
                hi: 0x4000,
            },
        )],
    ));
    let specs = vec![spec(291, insts)];
    let (bufs, tk) = build_aligned(&specs);
    let chans = validate_all(&bufs, &specs, &tk);
    let engine = Engine::new(&chans).unwrap();
    let long = "A".repeat(50_000);
    let utf16: Vec<u16> = r"C:\Users\Jörg\文档\tool7.EXE".encode_utf16().collect();
    let mut verdict = Verdict::new();
    let mut hits = 0;

    let region = Region::new(GLOBAL);
    for round in 0..200u64 {
        let mut buf = [0u8; 256];
        let (image, _) = utf16_to_utf8(&utf16, &mut buf);
        let ev = Event::ProcessCreate([
            Value::Str(image),
            Value::Str(if round % 2 == 0 {
                "powershell -EncodedCommand SQBFAFgAIAAoAE4A -payload7"
            } else {
                &long
            }),
            Value::Str("c:\\P3.exe"),
            Value::Str("S-1-5-18"),
            Value::Int(round % 60),
            Value::Int(4),
            Value::Int(4),
            if round % 7 == 0 {
                Value::Str("wrong type")
            } else {
                Value::Int(0)
            },
            Value::Int(0x3000),
            Value::Int(1),
            Value::Str(&long),
        ]);
        engine.evaluate(&ev, &mut verdict);
        hits += verdict.matches().len();
        engine.evaluate_with_fuel(&ev, round, &mut verdict);
        let mut pipe = [Value::Int(0); 20];
        for v in pipe.iter_mut().take(6) {
            *v = Value::Str("");
        }
        pipe[0] = Value::Str(if round % 3 == 0 {
            r"\Device\NamedPipe\evil12x"
        } else {
            r"\Device\NamedPipe\MSAgent_7F"
        });
        engine.evaluate(&Event::NamedPipeCreate(pipe), &mut verdict);
        hits += verdict.matches().len();
    }
    let stats = region.change();

    assert_eq!(
        stats.allocations + stats.reallocations,
        0,
        "the event path allocated: {stats:?}"
    );
    assert!(
        hits > 400,
        "the events must actually exercise matching: {hits}"
    );
}
