//! Group scans of one field, batched: the gram pass notes the literal groups
//! it fires instead of firing them, then every group the field is about to
//! fire (those and its every-event groups) is scanned in lockstep
//! ([`scan::group_scans`]) into the per-event cache, and only then fired.
//!
//! Invariant: batching moves work, it never adds any. A group is scanned
//! here only if it has a cache slot not yet filled this event and is about
//! to be fired on this field, where [`eval`]'s `group_mask` would scan it;
//! the prefilter test and the scan are charged here exactly as `group_mask`
//! charges them, which then finds the slot filled and charges nothing. So
//! fuel used is the same as firing each group in turn (only the order of
//! the charges moves, and with it which matches an exhausted evaluation
//! had found).

use super::eval::{Cx, lacks_required};
use super::scan::{LANES, group_scans};
use super::*;

/// Literal groups one gram pass can hold back; past this the pass fires a
/// group at once, unbatched.
pub(super) const PENDING_MAX: usize = 64;

/// The literal groups (indexes into a field's `lit_groups`) a gram pass
/// fired, in order.
#[derive(Debug)]
pub(super) struct Pending {
    ids: [u32; PENDING_MAX],
    len: usize,
}

impl Pending {
    pub(super) const fn new() -> Pending {
        Pending {
            ids: [0; PENDING_MAX],
            len: 0,
        }
    }

    pub(super) fn clear(&mut self) {
        self.len = 0;
    }

    /// Hold back literal group `k`; false when full (fire it now).
    pub(super) fn push(&mut self, k: u32) -> bool {
        let Some(cell) = self.ids.get_mut(self.len) else {
            return false;
        };
        *cell = k;
        self.len = self.len.saturating_add(1);
        true
    }

    pub(super) fn ids(&self) -> &[u32] {
        self.ids.get(..self.len).unwrap_or_default()
    }
}

impl<'a> Engine<'a> {
    /// Scan, [`LANES`] at a time, every group of `anchors` with a cache slot
    /// not yet filled this event (each once), filling the slots. Field `f`,
    /// value `s`. Charges what `group_mask` would (module docs).
    pub(super) fn prescan<'g>(
        &self,
        anchors: impl Iterator<Item = &'g GroupAnchor>,
        f: usize,
        s: &[u8],
        cx: &mut Cx<'_, '_, '_>,
    ) -> Result<(), Exhausted> {
        // Placeholders until filled: only the first `n` are ever scanned.
        let Some(fill) = self.dfas.first().map(|r| &r.dfa) else {
            return Ok(());
        };
        let mut dfas = [fill; LANES];
        let mut slots = [0u16; LANES];
        let mut n = 0usize;
        for a in anchors {
            let Some(rec) = usize::try_from(a.first).ok().and_then(|d| self.dfas.get(d)) else {
                continue;
            };
            let Some(slot) = rec.group.and_then(|g| g.slot) else {
                continue;
            };
            let batched = slots.get(..n).unwrap_or_default().contains(&slot);
            if batched || cx.cached_group(Some(slot)).is_some() {
                continue;
            }
            if lacks_required(rec, f, s, cx)? {
                cx.store_group(slot, 0);
                continue;
            }
            cx.fuel.charge(len64(s.len()).saturating_add(1))?;
            cx.verdict.scanned(s.len());
            if let (Some(d), Some(sl)) = (dfas.get_mut(n), slots.get_mut(n)) {
                *d = &rec.dfa;
                *sl = slot;
                n = n.saturating_add(1);
            }
            if n == LANES {
                scan_into(&dfas, &slots, s, cx);
                n = 0;
            }
        }
        if let (Some(d), Some(sl)) = (dfas.get(..n), slots.get(..n)) {
            scan_into(d, sl, s, cx);
        }
        Ok(())
    }
}

/// Scan `dfas` over `s` and store each result in its slot (a quit state:
/// one fault, no patterns).
fn scan_into(dfas: &[&DFA<&[u32]>], slots: &[u16], s: &[u8], cx: &mut Cx<'_, '_, '_>) {
    let mut out = [None; LANES];
    group_scans(dfas, s, &mut out);
    for (&slot, mask) in slots.iter().zip(out) {
        match mask {
            Some(m) => cx.store_group(slot, m),
            None => {
                cx.verdict.fault();
                cx.store_group(slot, 0);
            }
        }
    }
}
