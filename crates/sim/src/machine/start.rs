//! The reference facts taken at the start of a boot, before the loader runs:
//! what the invariants are checked against after it.

use std::collections::{BTreeMap, BTreeSet};

use changuard_loader::state::State;

use super::invariants::Reference;
use super::{CONTENT_PREFIX, Machine, oracle};

/// Reference facts at boot start.
pub(super) struct BootStart {
    /// The newest valid state record on disk.
    state_at_start: Option<State>,
    /// The LKG version the oracle allows, per channel seen (in the content
    /// directory or with golden content).
    lkg_at_start: BTreeMap<u32, Option<u64>>,
    /// The channels seen that have golden content or are in the state record.
    known_at_start: BTreeSet<u32>,
    /// `(channel, version, oracle's verdict)` of each content file.
    dir_at_start: Vec<(u32, u64, Option<u64>)>,
}

impl BootStart {
    /// The facts of `machine`, whose content directory lists `on_disk`.
    pub(super) fn take(machine: &Machine, on_disk: &[String]) -> BootStart {
        let state_at_start = machine.durable_state();
        let mut channels_seen: BTreeSet<u32> = on_disk
            .iter()
            .filter_map(|n| changuard_loader::names::parse(n).map(|x| x.0))
            .collect();
        channels_seen.extend(machine.golden.keys().copied());
        let lkg_at_start: BTreeMap<u32, Option<u64>> = channels_seen
            .iter()
            .map(|c| (*c, machine.lkg_oracle(*c)))
            .collect();
        let known_at_start = |c: u32| {
            machine.golden.contains_key(&c)
                || state_at_start.as_ref().is_some_and(|s| s.get(c).is_some())
        };
        let known_at_start: BTreeSet<u32> = channels_seen
            .iter()
            .copied()
            .filter(|c| known_at_start(*c))
            .collect();
        let dir_at_start: Vec<(u32, u64, Option<u64>)> = on_disk
            .iter()
            .filter_map(|n| {
                let (c, v) = changuard_loader::names::parse(n)?;
                let ok = machine
                    .disk
                    .read(&format!("{CONTENT_PREFIX}{n}"))
                    .and_then(|b| oracle(&b, c));
                Some((c, v, ok))
            })
            .collect();
        BootStart {
            state_at_start,
            lkg_at_start,
            known_at_start,
            dir_at_start,
        }
    }

    /// The reference for the invariants after a boot that left
    /// `state_after_boot` and that poison in `crashed_by` crashed.
    pub(super) fn reference<'a>(
        &'a self,
        state_after_boot: Option<&'a State>,
        crashed_by: &'a [(u32, u64)],
    ) -> Reference<'a> {
        Reference {
            lkg_at_start: &self.lkg_at_start,
            known_at_start: &self.known_at_start,
            dir_at_start: &self.dir_at_start,
            state_at_start: self.state_at_start.as_ref(),
            state_after_boot,
            crashed_by,
        }
    }
}
