//! One global memory budget for active content (issue 11 finding 9).
//!
//! Every channel the loader activates is charged [`charge`]: its content bytes
//! plus an upper bound on the interpreter memory built from them. A channel
//! whose content does not fit what is left steps down the fallback chain with
//! [`crate::Reason::OverMemoryBudget`] (a smaller LKG or golden copy may still
//! fit); channels already admitted are never touched. Admission order is
//! deterministic: phase A in channel-id order (known channels, then new ones),
//! each reserving the content it plans to activate, then phase C for what
//! phase A could not plan (golden content, an LKG after a failed trial record).
//!
//! # The estimate ([`engine_bound`])
//! `ENGINE_BYTES_PER_CONTENT_BYTE * len + ENGINE_FIXED_BYTES` per engine.
//! Derivation: the engine's heap (`EngineStats::index_bytes`, capacities
//! included) grows with the content: per criterion and instance records, and
//! for `Contains` needles a 2-byte KMP entry per needle byte plus the gram
//! index, each needle byte costing at least one content byte. Measured on the
//! real engine (crates/sim/tests/memory_budget.rs) the worst shape, long
//! distinct `Contains` needles on every string field, needs 2.75 bytes per
//! content byte (36.1 MB for 13.2 MB); ordinary content 0.1-1.2. The fixed
//! part is the per-field gram bloom filter (8 KiB per template field with
//! grams, 30 fields). So 4 bytes per byte (45% over the worst measured) plus
//! 256 KiB is an upper bound.
//!
//! While any channel is on trial the driver keeps one solo engine per channel
//! next to the shared one (fault attribution, driver/src/active.rs), so each
//! channel is charged for [`ENGINE_COPIES`] engines. A maximal 16 MiB channel
//! is charged 16 + 2 x (64 + 0.25) = 144.5 MiB.
//!
//! # Reload
//! The budget covers one generation of content. A reload builds the new
//! loader and engine before the old ones are dropped, so while it runs the
//! peak is at most twice the budget (the hard cap bounds it).
//!
//! # The cost ceiling (issue 12)
//! Each channel is also charged its proven per-event cost bound
//! ([`changuard_format::cost`], per template type); the sum over the admitted
//! channels stays within [`SET_CEILING`], so the active set's worst event is
//! bounded whatever content each file carries. Content over it steps down
//! with [`crate::Reason::OverCostCeiling`], in the same admission order.
//!
//! # Invariants
//! - B1: `charged <= limit` after every step ([`Budget::admit_with`] is the
//!   only way to add to `charged`, and it refuses what does not fit).
//! - B2: every per-template figure of `cost` is at most [`SET_CEILING`]
//!   (likewise).

use changuard_format::CostBound;
use changuard_format::cost::SET_CEILING;

/// Engine heap bytes per content byte (upper bound, module docs).
pub const ENGINE_BYTES_PER_CONTENT_BYTE: u64 = 4;
/// Engine heap bytes independent of the content size (gram bloom filters).
pub const ENGINE_FIXED_BYTES: u64 = 256 * 1024;
/// Engines built per channel at most: the shared one and a solo one.
pub const ENGINE_COPIES: u64 = 2;
/// Bytes per MiB.
pub const MIB: u64 = 1024 * 1024;

/// Upper bound on one engine's heap for `len` bytes of validated content.
pub const fn engine_bound(len: usize) -> u64 {
    (len as u64)
        .saturating_mul(ENGINE_BYTES_PER_CONTENT_BYTE)
        .saturating_add(ENGINE_FIXED_BYTES)
}

/// What one active channel of `len` content bytes is charged: the content
/// plus [`ENGINE_COPIES`] engines.
pub const fn charge(len: usize) -> u64 {
    (len as u64).saturating_add(engine_bound(len).saturating_mul(ENGINE_COPIES))
}

/// The budget of one load: the limit and what the admitted channels use,
/// in memory and in proven per-event cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    limit: u64,
    charged: u64,
    /// Sum of the admitted channels' proven cost bounds, per template type
    /// (B2: each at most [`SET_CEILING`]).
    cost: CostBound,
}

/// Which limit a charge did not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Over {
    /// The memory budget ([`crate::Reason::OverMemoryBudget`]).
    Memory,
    /// The cost ceiling of the active set ([`crate::Reason::OverCostCeiling`]).
    Cost,
}

impl Budget {
    /// An empty budget of `limit_mib` MiB.
    pub const fn new(limit_mib: u32) -> Budget {
        Budget {
            limit: (limit_mib as u64).saturating_mul(MIB),
            charged: 0,
            cost: CostBound {
                fuel: [0; changuard_format::cost::TEMPLATE_COUNT],
            },
        }
    }

    /// The admitted channels' summed cost bounds (B2: within [`SET_CEILING`]).
    pub const fn cost(&self) -> CostBound {
        self.cost
    }

    /// The limit in bytes.
    pub const fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes charged to the admitted channels (B1: never above the limit).
    pub const fn charged(&self) -> u64 {
        self.charged
    }

    /// Charge `bytes` if they fit; `false` (nothing charged) otherwise.
    #[cfg(test)]
    pub(crate) fn admit(&mut self, bytes: u64) -> bool {
        self.admit_with(bytes, &CostBound::default()).is_ok()
    }

    /// Charge `bytes` of memory and `cost` of proven per-event fuel if both
    /// fit; otherwise nothing is charged and the error says which did not.
    pub(crate) fn admit_with(&mut self, bytes: u64, cost: &CostBound) -> Result<(), Over> {
        let total = match self.charged.checked_add(bytes) {
            Some(total) if total <= self.limit => total,
            _ => return Err(Over::Memory),
        };
        let sum = self.cost.plus(cost);
        if !sum.within(SET_CEILING) {
            return Err(Over::Cost);
        }
        self.charged = total;
        self.cost = sum;
        Ok(())
    }

    /// Give back a reservation of memory and cost that will not be used.
    pub(crate) fn release(&mut self, bytes: u64, cost: &CostBound) {
        self.charged = self.charged.saturating_sub(bytes);
        for (a, b) in self.cost.fuel.iter_mut().zip(cost.fuel.iter()) {
            *a = a.saturating_sub(*b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use changuard_format::limits::MAX_FILE_LEN;

    #[test]
    fn a_maximal_channel_costs_144_and_a_half_mib() {
        assert_eq!(charge(MAX_FILE_LEN), 144 * MIB + MIB / 2);
        assert_eq!(charge(0), 2 * ENGINE_FIXED_BYTES);
    }

    #[test]
    fn admit_never_exceeds_the_limit() {
        let mut b = Budget::new(512);
        assert!(b.admit(charge(MAX_FILE_LEN)));
        assert!(b.admit(charge(MAX_FILE_LEN)));
        assert!(b.admit(charge(MAX_FILE_LEN)));
        let before = b.charged();
        assert!(!b.admit(charge(MAX_FILE_LEN)), "a fourth one is 578 MiB");
        assert_eq!(b.charged(), before);
        assert!(b.admit(b.limit() - before), "exactly full fits");
        assert!(!b.admit(1));
        assert!(!b.admit(u64::MAX), "no overflow");
        b.release(charge(MAX_FILE_LEN), &CostBound::default());
        assert_eq!(b.charged(), b.limit() - charge(MAX_FILE_LEN));
    }
}
