//! The loader's persistent state record: per channel, the anti-rollback floor,
//! the LKG version, the open trial and the quarantined versions.
//!
//! # Framing (little-endian)
//! ```text
//! 0  magic "CGSR"          4  format version u16 (1)   6  channel count u16 (<= 16)
//! 8  total length u32      12 generation u64            20 flags u32 (bit 0: clear token set)
//! 24 clear token u32       28 channel entries (ENTRY_LEN each)
//! ..  CRC-32 (ISO-HDLC) of every byte before it
//! entry: channel u32, flags u8 (bit 0 trial open), quarantined count u8, reserved u16,
//!        floor u64, lkg version u64, trial version u64, trial attempt u32, reserved u32,
//!        quarantined [u64; MAX_QUARANTINED]
//! ```
//!
//! # Slots and recovery (STYLE 15)
//! The record lives in [`STATE_SLOTS`] slots. Each write goes to the slot that
//! does NOT hold the newest valid record, with `generation + 1`, then is flushed.
//! Recovery decodes every slot, ignores any whose length, magic, version or CRC
//! is wrong (torn or rotten), and takes the valid one with the highest generation.
//!
//! # Invariants
//! - S1: a slot holding the newest valid record is never written.
//! - S2: `generation` is strictly increasing across successful writes (monotonic counter).
//! - S3: per channel, `floor` never decreases (monotonic counter) and is raised only
//!   to a version whose LKG copy is already durable (promotion step 4).
//! - S4: a version enters `quarantined` only from an unfinished trial at
//!   `attempt >= MaxTrialBoots`, and leaves it only by the operator's `ClearQuarantine`.
//! - S5: `trial.attempt` is in `1..=MaxTrialBoots` and was durable before the
//!   version was activated.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};

use crate::platform::{IoError, IoErrorKind, MAX_STATE_LEN, Platform, STATE_SLOTS};

/// Quarantined versions remembered per channel (the newest ones).
pub const MAX_QUARANTINED: usize = 8;
/// Channels in the record.
pub const MAX_CHANNELS: usize = crate::limits::MAX_CHANNELS;
const MAGIC: [u8; 4] = *b"CGSR";
const FORMAT: u16 = 1;
const HEADER_LEN: usize = 28;
/// Encoded length of one channel entry.
pub const ENTRY_LEN: usize = 4 + 1 + 1 + 2 + 8 + 8 + 8 + 4 + 4 + 8 * MAX_QUARANTINED;
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
const _: () = assert!(HEADER_LEN + MAX_CHANNELS * ENTRY_LEN + 4 <= MAX_STATE_LEN);

/// An open trial: `version` was activated for the `attempt`-th time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Trial {
    /// Version on trial.
    pub version: u64,
    /// Boots it has been activated in (>= 1).
    pub attempt: u32,
}

/// One channel's persistent state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChannelState {
    /// Channel id.
    pub channel: u32,
    /// Anti-rollback floor (0 = none).
    pub floor: u64,
    /// Version of the durable LKG copy (0 = none).
    pub lkg_version: u64,
    /// Open trial.
    pub trial: Option<Trial>,
    quarantined: [u64; MAX_QUARANTINED],
    quarantined_len: u8,
}

impl ChannelState {
    /// Fresh state for `channel`.
    pub const fn new(channel: u32) -> ChannelState {
        ChannelState {
            channel,
            floor: 0,
            lkg_version: 0,
            trial: None,
            quarantined: [0; MAX_QUARANTINED],
            quarantined_len: 0,
        }
    }
    /// Quarantined versions (ascending).
    pub fn quarantined(&self) -> &[u64] {
        self.quarantined
            .get(..usize::from(self.quarantined_len))
            .unwrap_or(&[])
    }
    /// Is `v` quarantined?
    pub fn is_quarantined(&self, v: u64) -> bool {
        self.quarantined().contains(&v)
    }
    /// Quarantine `v` (keeps the newest [`MAX_QUARANTINED`]; ascending order).
    pub fn quarantine(&mut self, v: u64) {
        if self.is_quarantined(v) {
            return;
        }
        let len = usize::from(self.quarantined_len);
        let mut items = self.quarantined;
        if len < MAX_QUARANTINED {
            if let Some(s) = items.get_mut(len) {
                *s = v;
            }
            self.quarantined_len = self.quarantined_len.saturating_add(1);
        } else if let Some(first) = items.first_mut() {
            // Full: replace the oldest (smallest) if `v` is newer.
            if v > *first {
                *first = v;
            } else {
                return;
            }
        }
        let used = usize::from(self.quarantined_len);
        if let Some(u) = items.get_mut(..used) {
            u.sort_unstable();
        }
        self.quarantined = items;
    }
    /// Forget every quarantine (operator `ClearQuarantine`).
    pub fn clear_quarantine(&mut self) {
        self.quarantined = [0; MAX_QUARANTINED];
        self.quarantined_len = 0;
    }
}

/// The whole record (no allocation; ~1.7 KiB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct State {
    /// Generation of the record this was loaded from / last written.
    pub generation: u64,
    /// Last applied `ClearQuarantine` token.
    pub clear_token: Option<u32>,
    channels: [ChannelState; MAX_CHANNELS],
    len: usize,
}

/// The empty record, as a constant: copying it (into the heap) is a copy from
/// read-only data, not a ~1.7 KiB value assembled on the stack first.
const EMPTY: State = State {
    generation: 0,
    clear_token: None,
    channels: [ChannelState::new(0); MAX_CHANNELS],
    len: 0,
};

impl Default for State {
    fn default() -> State {
        EMPTY
    }
}

impl State {
    /// Channels present.
    pub fn channels(&self) -> &[ChannelState] {
        self.channels.get(..self.len).unwrap_or(&[])
    }
    /// Mutable channels.
    pub fn channels_mut(&mut self) -> &mut [ChannelState] {
        self.channels.get_mut(..self.len).unwrap_or(&mut [])
    }
    /// State of `channel`, if recorded.
    pub fn get(&self, channel: u32) -> Option<&ChannelState> {
        self.channels().iter().find(|c| c.channel == channel)
    }
    /// State of `channel`, inserting a fresh one; `None` when full.
    pub fn get_or_insert(&mut self, channel: u32) -> Option<&mut ChannelState> {
        let pos = self.channels().iter().position(|c| c.channel == channel);
        let idx = match pos {
            Some(i) => i,
            None => {
                let i = self.len;
                *self.channels.get_mut(i)? = ChannelState::new(channel);
                self.len = i.checked_add(1)?;
                i
            }
        };
        self.channels.get_mut(idx)
    }

    /// Encode into `out`; returns the length.
    pub fn encode(&self, out: &mut [u8; MAX_STATE_LEN]) -> usize {
        let mut w = Writer { out, at: 0 };
        w.put(&MAGIC);
        w.put(&FORMAT.to_le_bytes());
        w.put(&u16::try_from(self.len).unwrap_or(0).to_le_bytes());
        let total = HEADER_LEN
            .saturating_add(self.len.saturating_mul(ENTRY_LEN))
            .saturating_add(4);
        w.put(&u32::try_from(total).unwrap_or(0).to_le_bytes());
        w.put(&self.generation.to_le_bytes());
        w.put(&u32::from(self.clear_token.is_some()).to_le_bytes());
        w.put(&self.clear_token.unwrap_or(0).to_le_bytes());
        for c in self.channels() {
            w.put(&c.channel.to_le_bytes());
            w.put(&[u8::from(c.trial.is_some()), c.quarantined_len]);
            w.put(&[0, 0]);
            w.put(&c.floor.to_le_bytes());
            w.put(&c.lkg_version.to_le_bytes());
            let t = c.trial.unwrap_or(Trial {
                version: 0,
                attempt: 0,
            });
            w.put(&t.version.to_le_bytes());
            w.put(&t.attempt.to_le_bytes());
            w.put(&[0; 4]);
            for q in &c.quarantined {
                w.put(&q.to_le_bytes());
            }
        }
        let at = w.at;
        let crc = CRC.checksum(w.out.get(..at).unwrap_or(&[]));
        w.put(&crc.to_le_bytes());
        w.at
    }

    /// Decode a slot's bytes; `None` if torn, rotten or malformed.
    ///
    /// # Panics
    /// Never, for any input.
    pub fn decode(bytes: &[u8]) -> Option<State> {
        let mut s = State::default();
        s.decode_from(bytes)?;
        Some(s)
    }

    /// [`State::decode`] in place (no ~1.7 KiB `State` temporary on the stack).
    /// On `None`, `self` is unspecified (a mix of fresh and decoded entries).
    ///
    /// # Panics
    /// Never, for any input.
    pub fn decode_from(&mut self, bytes: &[u8]) -> Option<()> {
        let mut r = Reader { b: bytes, at: 0 };
        if r.take::<4>()? != MAGIC || u16::from_le_bytes(r.take()?) != FORMAT {
            return None;
        }
        let count = usize::from(u16::from_le_bytes(r.take()?));
        let total = usize::try_from(u32::from_le_bytes(r.take()?)).ok()?;
        if count > MAX_CHANNELS
            || total
                != HEADER_LEN
                    .checked_add(count.checked_mul(ENTRY_LEN)?)?
                    .checked_add(4)?
        {
            return None;
        }
        if bytes.len() < total {
            return None;
        }
        let body_len = total.checked_sub(4)?;
        let body = bytes.get(..body_len)?;
        let crc = u32::from_le_bytes(bytes.get(body_len..total)?.try_into().ok()?);
        if CRC.checksum(body) != crc {
            return None;
        }
        // Reset in place to `State::default()` (unused entries included: the
        // derived equality compares them), then fill.
        let s = self;
        s.generation = u64::from_le_bytes(r.take()?);
        s.clear_token = None;
        s.len = 0;
        for c in &mut s.channels {
            *c = ChannelState::new(0);
        }
        let flags = u32::from_le_bytes(r.take()?);
        let token = u32::from_le_bytes(r.take()?);
        if flags & !1 != 0 {
            return None;
        }
        s.clear_token = (flags & 1 != 0).then_some(token);
        for _ in 0..count {
            let channel = u32::from_le_bytes(r.take()?);
            let [tflag, qlen] = r.take::<2>()?;
            let _ = r.take::<2>()?;
            let floor = u64::from_le_bytes(r.take()?);
            let lkg_version = u64::from_le_bytes(r.take()?);
            let tv = u64::from_le_bytes(r.take()?);
            let ta = u32::from_le_bytes(r.take()?);
            let _ = r.take::<4>()?;
            let mut q = [0u64; MAX_QUARANTINED];
            for slot in &mut q {
                *slot = u64::from_le_bytes(r.take()?);
            }
            if tflag > 1
                || usize::from(qlen) > MAX_QUARANTINED
                || channel == 0
                || s.get(channel).is_some()
            {
                return None;
            }
            let c = s.get_or_insert(channel)?;
            c.floor = floor;
            c.lkg_version = lkg_version;
            c.trial = (tflag == 1).then_some(Trial {
                version: tv,
                attempt: ta,
            });
            c.quarantined = q;
            c.quarantined_len = qlen;
        }
        Some(())
    }
}

/// A value on the heap, allocated fallibly (`Box::new` would abort the
/// kernel on exhaustion). The loader keeps its ~1.7 KiB [`State`] and its
/// [`crate::config::Config`] here, so no frame holds copies of them (the x64
/// kernel stack is 24 KiB). Not `Clone`: cloning a `Box` allocates infallibly.
#[derive(Debug, PartialEq, Eq)]
pub struct Heap<T>(Box<[T; 1]>);

impl<T> Heap<T> {
    /// Move `value` to the heap; `None` when the allocation fails.
    // Always inlined, so a value built in the call (`Heap::new(State::default())`)
    // is written straight into the allocation, not built on the stack and copied.
    #[inline(always)]
    pub fn new(value: T) -> Option<Heap<T>> {
        let mut v: Vec<T> = Vec::new();
        v.try_reserve_exact(1).ok()?;
        v.push(value);
        // Capacity is exactly 1: no reallocation.
        let b: Box<[T; 1]> = v.into_boxed_slice().try_into().ok()?;
        Some(Heap(b))
    }
}

impl<T: Clone> Heap<T> {
    /// A heap copy of `value`, cloned straight from where it lies into the
    /// allocation (for a `Copy` type, one memcpy from `value`): no temporary on
    /// the stack, whatever the optimization level. `None` when the allocation fails.
    pub fn new_from(value: &T) -> Option<Heap<T>> {
        let mut v: Vec<T> = Vec::new();
        v.try_reserve_exact(1).ok()?;
        v.extend_from_slice(core::slice::from_ref(value));
        // Capacity is exactly 1: no reallocation.
        let b: Box<[T; 1]> = v.into_boxed_slice().try_into().ok()?;
        Some(Heap(b))
    }
}

impl<T> Deref for Heap<T> {
    type Target = T;
    fn deref(&self) -> &T {
        let [v] = &*self.0;
        v
    }
}

impl<T> DerefMut for Heap<T> {
    fn deref_mut(&mut self) -> &mut T {
        let [v] = &mut *self.0;
        v
    }
}

struct Writer<'a> {
    out: &'a mut [u8; MAX_STATE_LEN],
    at: usize,
}
impl Writer<'_> {
    fn put(&mut self, b: &[u8]) {
        let end = self.at.saturating_add(b.len());
        if let Some(dst) = self.out.get_mut(self.at..end) {
            dst.copy_from_slice(b);
            self.at = end;
        }
    }
}
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}
impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let end = self.at.checked_add(N)?;
        let v = self.b.get(self.at..end)?.try_into().ok()?;
        self.at = end;
        Some(v)
    }
}

/// What recovery found.
#[derive(Debug, PartialEq, Eq)]
pub struct Recovered {
    /// The newest valid record, or a fresh one.
    pub state: Heap<State>,
    /// Slot it came from (`None`: no valid slot).
    pub slot: Option<u8>,
    /// Slots that were present but invalid (torn or rotten).
    pub ignored: u8,
}

/// A zeroed [`MAX_STATE_LEN`]-byte slot buffer on the heap (4 KiB is a sixth
/// of the kernel stack: never on it); `NoMemory` when the pool is exhausted.
fn slot_buf() -> Result<Vec<u8>, IoError> {
    let mut buf = Vec::new();
    buf.try_reserve_exact(MAX_STATE_LEN)
        .map_err(|_| IoError::new(IoErrorKind::NoMemory))?;
    // Within the reservation: no reallocation.
    buf.resize(MAX_STATE_LEN, 0);
    Ok(buf)
}

/// Load the newest valid slot.
///
/// # Errors
/// `NoMemory` when the record or slot buffers cannot be allocated: nothing was
/// read, so the caller must not write a record either (it could overwrite the
/// newest one, S1).
pub fn recover<P: Platform>(p: &mut P) -> Result<Recovered, IoError> {
    let no_memory = || IoError::new(IoErrorKind::NoMemory);
    // `best` holds the newest valid record so far; `scratch` takes each slot.
    // Copied from the EMPTY constant into the heap: a `State::default()` argument
    // is built on the stack first unless the optimizer removes it (it does not at
    // every optimization level: 3.9 KB frame measured in the driver's dev build).
    let mut best = Heap::new_from(&EMPTY).ok_or_else(no_memory)?;
    let mut scratch = Heap::new_from(&EMPTY).ok_or_else(no_memory)?;
    let mut best_slot: Option<u8> = None;
    let mut ignored = 0u8;
    let mut buf = slot_buf()?;
    for slot in 0..STATE_SLOTS {
        let n = match p.state_read(slot, &mut buf) {
            Ok(n) => n,
            Err(_) => continue,
        };
        if scratch.decode_from(buf.get(..n).unwrap_or(&[])).is_none() {
            ignored = ignored.saturating_add(1);
            continue;
        }
        if best_slot.is_none() || scratch.generation > best.generation {
            core::mem::swap(&mut best, &mut scratch);
            best_slot = Some(slot);
        }
    }
    Ok(Recovered {
        state: best,
        slot: best_slot,
        ignored,
    })
}

/// Writes records so the newest valid slot is never overwritten (S1, S2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Store {
    newest_slot: Option<u8>,
    generation: u64,
}

impl Store {
    /// Continue from what recovery found.
    pub fn new(r: &Recovered) -> Store {
        Store {
            newest_slot: r.slot,
            generation: r.state.generation,
        }
    }
    /// Generation of the newest durable record.
    pub fn generation(&self) -> u64 {
        self.generation
    }
    /// Write `state` to the other slot with the next generation and, unless
    /// `flush` is false (only mutations pass false), flush it. On `Ok` with
    /// `flush`, the record is durable and becomes the newest.
    ///
    /// # Errors
    /// The platform error, or `NoMemory` when the encode buffer cannot be
    /// allocated; either way the previous newest record is untouched.
    pub fn persist<P: Platform>(
        &mut self,
        p: &mut P,
        state: &mut State,
        flush: bool,
    ) -> Result<(), IoError> {
        let next = self
            .generation
            .checked_add(1)
            .ok_or(IoError::new(IoErrorKind::Io))?;
        let slot = match self.newest_slot {
            Some(s) => s.wrapping_add(1) % STATE_SLOTS,
            None => 0,
        };
        let mut buf = slot_buf()?;
        let out: &mut [u8; MAX_STATE_LEN] = buf
            .as_mut_slice()
            .try_into()
            .map_err(|_| IoError::new(IoErrorKind::NoMemory))?;
        state.generation = next;
        let n = state.encode(out);
        p.state_write(slot, buf.get(..n).unwrap_or(&[]))?;
        if flush {
            p.state_flush(slot)?;
        }
        self.generation = next;
        self.newest_slot = Some(slot);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> State {
        let mut s = State {
            generation: 9,
            clear_token: Some(3),
            ..State::default()
        };
        let c = s.get_or_insert(291).unwrap();
        c.floor = 6;
        c.lkg_version = 6;
        c.trial = Some(Trial {
            version: 7,
            attempt: 1,
        });
        c.quarantine(5);
        s.get_or_insert(17).unwrap().floor = 1;
        s
    }

    #[test]
    fn roundtrip_and_quarantine_order() {
        let s = sample();
        let mut buf = [0u8; MAX_STATE_LEN];
        let n = s.encode(&mut buf);
        assert_eq!(State::decode(&buf[..n]), Some(s));
        let mut c = ChannelState::new(1);
        for v in [9, 3, 12, 1, 2, 4, 5, 6, 7, 8, 30] {
            c.quarantine(v);
        }
        assert_eq!(c.quarantined(), &[3, 4, 5, 6, 7, 8, 9, 12, 30][1..]);
    }

    proptest! {
        #[test]
        fn torn_or_flipped_is_rejected(cut in 0usize..400, flip in 0usize..400, bit in 0u8..8) {
            let s = sample();
            let mut buf = [0u8; MAX_STATE_LEN];
            let n = s.encode(&mut buf);
            if cut < n { prop_assert_eq!(State::decode(&buf[..cut]), None); }
            if flip < n {
                buf[flip] ^= 1 << bit;
                prop_assert_eq!(State::decode(&buf[..n]), None);
            }
        }
        #[test]
        fn decode_total(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = State::decode(&data);
        }
    }
}
