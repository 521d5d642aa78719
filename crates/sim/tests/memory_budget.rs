//! Evidence for the loader's engine-memory bound (issue 11 finding 9,
//! crates/loader/src/budget.rs): for real channels of several shapes, the
//! real engine's heap (`EngineStats::index_bytes`, capacities included) is at
//! most `engine_bound(len)`, for one channel and for a shared engine.

use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec, build};
use changuard_format::schema::{FieldType, PROCESS_CREATE};
use changuard_format::{Action, SCHEMA_ID, StrOp, Trust, ValidChannel, validate};
use changuard_interp::Engine;
use changuard_loader::budget::engine_bound;
use changuard_sim::content::{self, Kind};

/// `n` instances; `op` on every string field (`None`: all wildcards), with
/// distinct needles of `len` bytes.
fn spec(channel: u32, n: u32, op: Option<StrOp>, len: usize) -> Vec<u8> {
    let t = &PROCESS_CREATE;
    let instances = (0..n)
        .map(|k| InstanceSpec {
            also: Vec::new(),
            unless: Vec::new(),
            metadata: Default::default(),
            id: k + 1,
            template: t.id,
            action: Action::Report,
            criteria: t
                .fields
                .iter()
                .enumerate()
                .map(|(j, f)| match (op, f.ty) {
                    (Some(op), FieldType::Str) => CriterionSpec::Str {
                        op,
                        value: format!("{k:x}-{j}-{}", "z".repeat(len)),
                        case_insensitive: k % 2 == 0,
                    },
                    _ => CriterionSpec::Any,
                })
                .collect(),
        })
        .collect();
    let s = ChannelSpec {
        channel,
        version: 1,
        schema_id: SCHEMA_ID,
        instances,
    };
    build(&s, content::key()).unwrap()
}

fn heap(chans: &[ValidChannel<&[u8]>]) -> u64 {
    Engine::new(chans).unwrap().stats().index_bytes
}

#[test]
fn engine_heap_is_within_the_loader_bound() {
    let trust = Trust::new(content::trusted());
    let files = [
        spec(1, 1, Some(StrOp::Contains), 4),    // fixed part dominates
        spec(2, 2_000, None, 0),                 // wildcards only
        spec(3, 2_000, Some(StrOp::Equals), 16), // string tables
        spec(4, 500, Some(StrOp::Contains), 1_000), // the worst measured shape (~2 B/B)
        spec(5, 2_000, Some(StrOp::Suffix), 64),
        content::bytes(6, 1, Kind::Good).to_vec(),
        content::bytes(7, 1, Kind::Maximal).to_vec(),
    ];
    let views: Vec<ValidChannel<&[u8]>> = files
        .iter()
        .enumerate()
        .map(|(i, b)| validate(&b[..], &trust, u32::try_from(i + 1).unwrap()).unwrap())
        .collect();
    let mut bound_sum = 0;
    for v in &views {
        let len = v.as_bytes().len();
        let real = heap(std::slice::from_ref(v));
        assert!(
            real <= engine_bound(len),
            "channel {}: {len} bytes, engine heap {real} > bound {}",
            v.channel(),
            engine_bound(len)
        );
        eprintln!(
            "channel {}: {len} bytes, heap {real} ({:.2} B/B), bound {}",
            v.channel(),
            real as f64 / len as f64,
            engine_bound(len)
        );
        bound_sum += engine_bound(len);
    }
    // One shared engine over all of them: within the sum of the per-channel bounds.
    assert!(heap(&views) <= bound_sum);
}
