//! The loader's persistent state record: per channel, the anti-rollback floor,
//! the LKG version and hash, the open trial, the quarantine and the files
//! already rejected.
//!
//! # Framing (little-endian, format version 3)
//! ```text
//! 0  magic "CGSR"          4  format version u16 (3)   6  channel count u16 (<= 16)
//! 8  total length u32      12 generation u64            20 flags u32 (bit 0: clear token set)
//! 24 clear token u32       28 keyring version u64       36 channel entries (ENTRY_LEN each)
//! ..  CRC-32 (ISO-HDLC) of every byte before it
//! entry: channel u32, flags u8 (bit 0 trial open, bit 1 trial survived its last boot),
//!        quarantined count u8, rejected count u8, reserved u8,
//!        floor u64, lkg version u64, lkg hash u64,
//!        trial version u64, trial attempt u32, reserved u32, trial hash u64,
//!        quarantine floor u64, quarantined [u64; MAX_QUARANTINED],
//!        rejected [(version u64, hash u64); MAX_REJECTED],
//!        halt sequence u64, halt first u64, halt last u64
//! ```
//! Format versions 2 (issue 16 and before: no keyring version, no halt; a
//! 28-byte header and entries of [`ENTRY_LEN_V2`] bytes) and 1 (issue 11 and
//! before: no hashes, no quarantine floor, no rejected files, no survived
//! bit; entry of [`ENTRY_LEN_V1`] bytes) are still decoded, so an update of
//! the driver keeps every floor and quarantine; the next write is version 3.
//! Hashes are [`crate::digest::content_hash`]; 0 means "not recorded" (a
//! version 1 record).
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
//! - S4: a version becomes quarantined only from a trial with a counted crash
//!   (an unfinished trial at `attempt >= MaxTrialBoots` whose last boot did not
//!   end cleanly, or a superseded trial with a counted crash), and stops being
//!   quarantined only by the operator's `ClearQuarantine`: a version that does
//!   not fit in the list is covered by the quarantine floor instead (every
//!   version <= it is quarantined), so no quarantine is ever evicted. The
//!   quarantine floor never decreases, except by `ClearQuarantine`.
//! - S5: `trial.attempt` is in `1..=MaxTrialBoots`, was durable before the
//!   version was activated, and is 1 + the boots on trial that did not end
//!   cleanly (a clean shutdown, a reload or a promotion I/O failure sets
//!   `survived` instead of counting).
//! - S6: a channel enters the record only with a validated candidate (its trial),
//!   an LKG, a signed halt, or an operator action; names in the content
//!   directory alone never take an entry.
//! - S7: the keyring version and each channel's halt sequence never decrease
//!   (monotonic counters: an old keyring or halt cannot be replayed), and the
//!   keyring version is raised only after that keyring's store copy is durable.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};

use crate::platform::{IoError, IoErrorKind, MAX_STATE_LEN, Platform, STATE_SLOTS};

/// Quarantined versions listed per channel (the newest ones; older ones are
/// covered by the quarantine floor).
pub const MAX_QUARANTINED: usize = 8;
/// Rejected candidate files remembered per channel (the newest versions).
pub const MAX_REJECTED: usize = 4;
/// Channels in the record.
pub const MAX_CHANNELS: usize = crate::limits::MAX_CHANNELS;
const MAGIC: [u8; 4] = *b"CGSR";
const FORMAT: u16 = 3;
const FORMAT_V2: u16 = 2;
const FORMAT_V1: u16 = 1;
const HEADER_LEN: usize = 36;
const HEADER_LEN_V2: usize = 28;
/// Encoded length of one channel entry in format version 2.
pub const ENTRY_LEN_V2: usize =
    4 + 1 + 1 + 1 + 1 + 8 + 8 + 8 + 8 + 4 + 4 + 8 + 8 + 8 * MAX_QUARANTINED + 16 * MAX_REJECTED;
/// Encoded length of one channel entry.
pub const ENTRY_LEN: usize = ENTRY_LEN_V2 + 24;
/// Encoded length of one channel entry in format version 1.
pub const ENTRY_LEN_V1: usize = 4 + 1 + 1 + 2 + 8 + 8 + 8 + 4 + 4 + 8 * MAX_QUARANTINED;
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
const _: () = assert!(HEADER_LEN + MAX_CHANNELS * ENTRY_LEN + 4 <= MAX_STATE_LEN);

const TRIAL_OPEN: u8 = 1;
const TRIAL_SURVIVED: u8 = 2;

/// An open trial: `version` was activated, and `attempt - 1` boots on trial
/// ended without a clean shutdown (a crash, a power loss, a fault).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Trial {
    /// Version on trial.
    pub version: u64,
    /// 1 + the boots on trial that did not end cleanly (>= 1).
    pub attempt: u32,
    /// The last boot that ran this trial ended cleanly (a shutdown the driver
    /// was told of, or the health window passed and only the promotion I/O
    /// failed): the next boot does not count it as a crash.
    pub survived: bool,
    /// [`crate::digest::content_hash`] of the file on trial (0: not recorded).
    pub hash: u64,
}

impl Trial {
    /// A first attempt of `version` with content hash `hash`.
    pub const fn first(version: u64, hash: u64) -> Trial {
        Trial {
            version,
            attempt: 1,
            survived: false,
            hash,
        }
    }
    /// Crashes counted against it so far, if the current boot does not end
    /// cleanly: `attempt - 1`, plus 1 when its last boot did not survive.
    pub const fn counted_crashes(&self) -> u32 {
        let before = self.attempt.saturating_sub(1);
        if self.survived {
            before
        } else {
            before.saturating_add(1)
        }
    }
}

/// The newest signed halt a channel accepted (`changuard_release::Halt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct HaltState {
    /// Its sequence (0: none accepted yet; never decreases, S7).
    pub sequence: u64,
    /// First halted version (0: nothing halted).
    pub first: u64,
    /// Last halted version (inclusive).
    pub last: u64,
}

impl HaltState {
    /// Is `version` halted?
    pub const fn halts(&self, version: u64) -> bool {
        self.first != 0 && self.first <= version && version <= self.last
    }
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
    /// [`crate::digest::content_hash`] of the durable LKG copy (0 = not recorded).
    pub lkg_hash: u64,
    /// Open trial.
    pub trial: Option<Trial>,
    /// The newest accepted halt.
    pub halt: HaltState,
    quarantine_floor: u64,
    quarantined: [u64; MAX_QUARANTINED],
    quarantined_len: u8,
    rejected: [(u64, u64); MAX_REJECTED],
    rejected_len: u8,
}

impl ChannelState {
    /// Fresh state for `channel`.
    pub const fn new(channel: u32) -> ChannelState {
        ChannelState {
            channel,
            floor: 0,
            lkg_version: 0,
            lkg_hash: 0,
            trial: None,
            halt: HaltState {
                sequence: 0,
                first: 0,
                last: 0,
            },
            quarantine_floor: 0,
            quarantined: [0; MAX_QUARANTINED],
            quarantined_len: 0,
            rejected: [(0, 0); MAX_REJECTED],
            rejected_len: 0,
        }
    }
    /// Quarantined versions listed (ascending; the versions at or below
    /// [`ChannelState::quarantine_floor`] are quarantined too).
    pub fn quarantined(&self) -> &[u64] {
        self.quarantined
            .get(..usize::from(self.quarantined_len))
            .unwrap_or(&[])
    }
    /// Every version `<=` this is quarantined (0: none). Raised when the list
    /// is full (S4), so a quarantine is never evicted.
    pub const fn quarantine_floor(&self) -> u64 {
        self.quarantine_floor
    }
    /// Is `v` quarantined (listed, or at or below the quarantine floor)?
    pub fn is_quarantined(&self, v: u64) -> bool {
        v <= self.quarantine_floor || self.quarantined().contains(&v)
    }
    /// Quarantine `v`. The list keeps the newest [`MAX_QUARANTINED`] versions;
    /// when it is full, the oldest of the list and `v` leaves it and raises
    /// the quarantine floor to itself, so it stays quarantined (S4).
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
            // Full and sorted: `first` is the oldest listed.
            if v < *first {
                self.quarantine_floor = self.quarantine_floor.max(v);
                return;
            }
            self.quarantine_floor = self.quarantine_floor.max(*first);
            *first = v;
        }
        let used = usize::from(self.quarantined_len);
        if let Some(u) = items.get_mut(..used) {
            u.sort_unstable();
        }
        self.quarantined = items;
    }
    /// Mutation `EvictQuarantine` only: put the quarantine floor back.
    #[cfg(feature = "mutations")]
    pub(crate) fn set_quarantine_floor(&mut self, floor: u64) {
        self.quarantine_floor = floor;
    }
    /// Forget every quarantine and the quarantine floor (operator `ClearQuarantine`).
    pub fn clear_quarantine(&mut self) {
        self.quarantined = [0; MAX_QUARANTINED];
        self.quarantined_len = 0;
        self.quarantine_floor = 0;
    }
    /// Remembered rejected files `(version, content hash)`, ascending by version.
    pub fn rejected(&self) -> &[(u64, u64)] {
        self.rejected
            .get(..usize::from(self.rejected_len))
            .unwrap_or(&[])
    }
    /// Was exactly this file (`version`, content `hash`) rejected before?
    pub fn is_rejected(&self, version: u64, hash: u64) -> bool {
        self.rejected().contains(&(version, hash))
    }
    /// Remember that the file `(version, hash)` failed validation. Keeps the
    /// newest [`MAX_REJECTED`] versions (one entry per version: a new file of
    /// the same version replaces the old entry). Forgetting one only costs a
    /// validation: the file is rejected again.
    pub fn remember_rejected(&mut self, version: u64, hash: u64) {
        let len = usize::from(self.rejected_len);
        let mut items = self.rejected;
        if let Some(e) = items
            .get_mut(..len)
            .and_then(|u| u.iter_mut().find(|e| e.0 == version))
        {
            e.1 = hash;
        } else if len < MAX_REJECTED {
            if let Some(s) = items.get_mut(len) {
                *s = (version, hash);
            }
            self.rejected_len = self.rejected_len.saturating_add(1);
        } else if let Some(first) = items.first_mut() {
            if version < first.0 {
                return;
            }
            *first = (version, hash);
        }
        let used = usize::from(self.rejected_len);
        if let Some(u) = items.get_mut(..used) {
            u.sort_unstable();
        }
        self.rejected = items;
    }
}

/// The whole record (no allocation; ~3 KiB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct State {
    /// Generation of the record this was loaded from / last written.
    pub generation: u64,
    /// Last applied `ClearQuarantine` token.
    pub clear_token: Option<u32>,
    /// Version of the newest keyring accepted (0: none; never decreases, S7).
    pub keyring_version: u64,
    channels: [ChannelState; MAX_CHANNELS],
    len: usize,
}

/// The empty record, as a constant: copying it (into the heap) is a copy from
/// read-only data, not a ~3 KiB value assembled on the stack first.
const EMPTY: State = State {
    generation: 0,
    clear_token: None,
    keyring_version: 0,
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

    /// Drop the entries that record nothing (equal to a fresh
    /// [`ChannelState`]): a channel keeps an entry only while it has something
    /// to remember (S6).
    pub fn retain_recorded(&mut self) {
        let mut kept = 0usize;
        for i in 0..self.len {
            let Some(c) = self.channels.get(i).copied() else {
                break;
            };
            if c == ChannelState::new(c.channel) {
                continue;
            }
            if let Some(dst) = self.channels.get_mut(kept) {
                *dst = c;
            }
            kept = kept.saturating_add(1);
        }
        for c in self.channels.get_mut(kept..).unwrap_or(&mut []) {
            *c = ChannelState::new(0);
        }
        self.len = kept;
    }

    /// Encode into `out` (format version 3); returns the length.
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
        w.put(&self.keyring_version.to_le_bytes());
        for c in self.channels() {
            let t = c.trial.unwrap_or(Trial {
                version: 0,
                attempt: 0,
                survived: false,
                hash: 0,
            });
            let mut flags = 0u8;
            if c.trial.is_some() {
                flags |= TRIAL_OPEN;
                if t.survived {
                    flags |= TRIAL_SURVIVED;
                }
            }
            w.put(&c.channel.to_le_bytes());
            w.put(&[flags, c.quarantined_len, c.rejected_len, 0]);
            w.put(&c.floor.to_le_bytes());
            w.put(&c.lkg_version.to_le_bytes());
            w.put(&c.lkg_hash.to_le_bytes());
            w.put(&t.version.to_le_bytes());
            w.put(&t.attempt.to_le_bytes());
            w.put(&[0; 4]);
            w.put(&t.hash.to_le_bytes());
            w.put(&c.quarantine_floor.to_le_bytes());
            for q in &c.quarantined {
                w.put(&q.to_le_bytes());
            }
            for (v, h) in &c.rejected {
                w.put(&v.to_le_bytes());
                w.put(&h.to_le_bytes());
            }
            w.put(&c.halt.sequence.to_le_bytes());
            w.put(&c.halt.first.to_le_bytes());
            w.put(&c.halt.last.to_le_bytes());
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

    /// [`State::decode`] in place (no ~3 KiB `State` temporary on the stack).
    /// Decodes format versions 3, 2 and 1 (module docs). On `None`, `self` is
    /// unspecified (a mix of fresh and decoded entries).
    ///
    /// # Panics
    /// Never, for any input.
    pub fn decode_from(&mut self, bytes: &[u8]) -> Option<()> {
        let mut r = Reader { b: bytes, at: 0 };
        if r.take::<4>()? != MAGIC {
            return None;
        }
        let format = u16::from_le_bytes(r.take()?);
        let (header_len, entry_len) = match format {
            FORMAT => (HEADER_LEN, ENTRY_LEN),
            FORMAT_V2 => (HEADER_LEN_V2, ENTRY_LEN_V2),
            FORMAT_V1 => (HEADER_LEN_V2, ENTRY_LEN_V1),
            _ => return None,
        };
        let count = usize::from(u16::from_le_bytes(r.take()?));
        let total = usize::try_from(u32::from_le_bytes(r.take()?)).ok()?;
        if count > MAX_CHANNELS
            || total
                != header_len
                    .checked_add(count.checked_mul(entry_len)?)?
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
        s.keyring_version = 0;
        if format == FORMAT {
            s.keyring_version = u64::from_le_bytes(r.take()?);
        }
        for _ in 0..count {
            let e = match format {
                FORMAT_V1 => decode_entry_v1(&mut r)?,
                FORMAT_V2 => decode_entry(&mut r, false)?,
                _ => decode_entry(&mut r, true)?,
            };
            if e.channel == 0 || s.get(e.channel).is_some() {
                return None;
            }
            *s.get_or_insert(e.channel)? = e;
        }
        Some(())
    }
}

/// One format version 3 entry (`halt`), or 2 (no halt); `None` when malformed.
fn decode_entry(r: &mut Reader<'_>, halt: bool) -> Option<ChannelState> {
    let mut c = ChannelState::new(u32::from_le_bytes(r.take()?));
    let [tflag, qlen, rlen, reserved] = r.take::<4>()?;
    c.floor = u64::from_le_bytes(r.take()?);
    c.lkg_version = u64::from_le_bytes(r.take()?);
    c.lkg_hash = u64::from_le_bytes(r.take()?);
    let tv = u64::from_le_bytes(r.take()?);
    let ta = u32::from_le_bytes(r.take()?);
    let treserved = r.take::<4>()?;
    let th = u64::from_le_bytes(r.take()?);
    c.quarantine_floor = u64::from_le_bytes(r.take()?);
    for slot in &mut c.quarantined {
        *slot = u64::from_le_bytes(r.take()?);
    }
    for slot in &mut c.rejected {
        *slot = (u64::from_le_bytes(r.take()?), u64::from_le_bytes(r.take()?));
    }
    if halt {
        c.halt = HaltState {
            sequence: u64::from_le_bytes(r.take()?),
            first: u64::from_le_bytes(r.take()?),
            last: u64::from_le_bytes(r.take()?),
        };
        if c.halt.first > c.halt.last || (c.halt.first == 0 && c.halt.last != 0) {
            return None;
        }
    }
    let open = tflag & TRIAL_OPEN != 0;
    if tflag & !(TRIAL_OPEN | TRIAL_SURVIVED) != 0
        || (!open && tflag != 0)
        || reserved != 0
        || treserved != [0; 4]
        || usize::from(qlen) > MAX_QUARANTINED
        || usize::from(rlen) > MAX_REJECTED
    {
        return None;
    }
    c.quarantined_len = qlen;
    c.rejected_len = rlen;
    c.trial = open.then_some(Trial {
        version: tv,
        attempt: ta,
        survived: tflag & TRIAL_SURVIVED != 0,
        hash: th,
    });
    Some(c)
}

/// One format version 1 entry (no hashes, no quarantine floor, no rejected
/// files, no survived bit); `None` when malformed.
fn decode_entry_v1(r: &mut Reader<'_>) -> Option<ChannelState> {
    let mut c = ChannelState::new(u32::from_le_bytes(r.take()?));
    let [tflag, qlen] = r.take::<2>()?;
    let _ = r.take::<2>()?;
    c.floor = u64::from_le_bytes(r.take()?);
    c.lkg_version = u64::from_le_bytes(r.take()?);
    let tv = u64::from_le_bytes(r.take()?);
    let ta = u32::from_le_bytes(r.take()?);
    let _ = r.take::<4>()?;
    for slot in &mut c.quarantined {
        *slot = u64::from_le_bytes(r.take()?);
    }
    if tflag > 1 || usize::from(qlen) > MAX_QUARANTINED {
        return None;
    }
    c.quarantined_len = qlen;
    c.trial = (tflag == 1).then_some(Trial {
        version: tv,
        attempt: ta,
        survived: false,
        hash: 0,
    });
    Some(c)
}

/// A value on the heap, allocated fallibly (`Box::new` would abort the
/// kernel on exhaustion). The loader keeps its ~3 KiB [`State`] and its
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
        c.lkg_hash = 0x66;
        c.trial = Some(Trial {
            version: 7,
            attempt: 1,
            survived: true,
            hash: 0x77,
        });
        c.quarantine(5);
        c.remember_rejected(u64::MAX, 0xAB);
        c.halt = HaltState {
            sequence: 2,
            first: 7,
            last: 9,
        };
        s.keyring_version = 3;
        s.get_or_insert(17).unwrap().floor = 1;
        s
    }

    /// A format version 2 record (issue 16 and before) still decodes, with
    /// no keyring version and no halts; everything else survives.
    #[test]
    fn format_v2_decodes() {
        let mut s = sample();
        let mut buf = [0u8; MAX_STATE_LEN];
        let n = s.encode(&mut buf);
        // Re-frame as version 2: drop the keyring version and each entry's halt.
        let mut b = std::vec::Vec::new();
        b.extend_from_slice(&buf[..HEADER_LEN_V2]);
        for i in 0..2 {
            let at = HEADER_LEN + i * ENTRY_LEN;
            b.extend_from_slice(&buf[at..at + ENTRY_LEN_V2]);
        }
        assert_eq!(n, HEADER_LEN + 2 * ENTRY_LEN + 4);
        b[4..6].copy_from_slice(&2u16.to_le_bytes());
        let total = (HEADER_LEN_V2 + 2 * ENTRY_LEN_V2 + 4) as u32;
        b[8..12].copy_from_slice(&total.to_le_bytes());
        let crc = CRC.checksum(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        let d = State::decode(&b).unwrap();
        s.keyring_version = 0;
        for c in s.channels_mut() {
            c.halt = HaltState::default();
        }
        assert_eq!(d, s);
    }

    #[test]
    fn an_impossible_halt_range_is_malformed() {
        let mut s = sample();
        s.get_or_insert(291).unwrap().halt = HaltState {
            sequence: 1,
            first: 0,
            last: 4,
        };
        let mut buf = [0u8; MAX_STATE_LEN];
        let n = s.encode(&mut buf);
        assert_eq!(State::decode(&buf[..n]), None);
    }

    #[test]
    fn roundtrip_and_quarantine_order() {
        let s = sample();
        let mut buf = [0u8; MAX_STATE_LEN];
        let n = s.encode(&mut buf);
        assert_eq!(n, HEADER_LEN + 2 * ENTRY_LEN + 4);
        assert_eq!(State::decode(&buf[..n]), Some(s));
        let mut c = ChannelState::new(1);
        for v in [9, 3, 12, 1, 2, 4, 5, 6, 7, 8, 30] {
            c.quarantine(v);
        }
        assert_eq!(c.quarantined(), &[4, 5, 6, 7, 8, 9, 12, 30]);
        // The three evicted from the list stay quarantined (S4).
        assert_eq!(c.quarantine_floor(), 3);
        assert!((1..=9).chain([12, 30]).all(|v| c.is_quarantined(v)));
        assert!(!c.is_quarantined(10) && !c.is_quarantined(31));
        c.clear_quarantine();
        assert!(!c.is_quarantined(1) && c.quarantined().is_empty());
    }

    /// Issue 11 finding 4: 20 crashing versions, quarantined newest first or
    /// oldest first, never become eligible again.
    #[test]
    fn twenty_quarantined_versions_all_stay_quarantined() {
        for order in [
            (7..=26).collect::<std::vec::Vec<u64>>(),
            (7..=26).rev().collect(),
        ] {
            let mut c = ChannelState::new(291);
            for &v in &order {
                c.quarantine(v);
                assert!(
                    order
                        .iter()
                        .take_while(|&&x| x != v)
                        .all(|&x| c.is_quarantined(x))
                );
            }
            assert!((7..=26).all(|v| c.is_quarantined(v)), "{order:?}: {c:?}");
            assert!(!c.is_quarantined(27));
            assert_eq!(c.quarantined().len(), MAX_QUARANTINED);
        }
    }

    #[test]
    fn rejected_files_are_remembered_by_version_and_hash() {
        let mut c = ChannelState::new(291);
        c.remember_rejected(9, 1);
        assert!(c.is_rejected(9, 1) && !c.is_rejected(9, 2));
        c.remember_rejected(9, 2);
        assert!(!c.is_rejected(9, 1) && c.is_rejected(9, 2));
        for v in 10..20 {
            c.remember_rejected(v, 0);
        }
        assert_eq!(c.rejected().len(), MAX_REJECTED);
        assert!(c.is_rejected(19, 0) && !c.is_rejected(9, 2));
        c.remember_rejected(3, 0);
        assert!(!c.is_rejected(3, 0), "older than every remembered one");
    }

    /// A format version 1 record (before issue 11) still decodes: floors,
    /// LKG versions, trials and quarantines survive a driver update.
    #[test]
    fn format_v1_decodes() {
        let mut b = std::vec::Vec::new();
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&((HEADER_LEN_V2 + ENTRY_LEN_V1 + 4) as u32).to_le_bytes());
        b.extend_from_slice(&5u64.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&291u32.to_le_bytes());
        b.extend_from_slice(&[1, 1, 0, 0]);
        b.extend_from_slice(&6u64.to_le_bytes());
        b.extend_from_slice(&6u64.to_le_bytes());
        b.extend_from_slice(&7u64.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&5u64.to_le_bytes());
        b.extend_from_slice(&[0; 8 * (MAX_QUARANTINED - 1)]);
        let crc = CRC.checksum(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        let s = State::decode(&b).unwrap();
        let c = s.get(291).unwrap();
        assert_eq!(
            (s.generation, c.floor, c.lkg_version, c.lkg_hash),
            (5, 6, 6, 0)
        );
        assert_eq!(
            c.trial,
            Some(Trial {
                version: 7,
                attempt: 1,
                survived: false,
                hash: 0
            })
        );
        assert_eq!(c.quarantined(), &[5]);
    }

    proptest! {
        #[test]
        fn torn_or_flipped_is_rejected(cut in 0usize..440, flip in 0usize..440, bit in 0u8..8) {
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
        fn decode_total(data in proptest::collection::vec(any::<u8>(), 0..1000)) {
            let _ = State::decode(&data);
        }
    }
}
