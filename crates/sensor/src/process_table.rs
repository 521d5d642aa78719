//! The processes the sensor saw start and has not seen exit, by process id:
//! what a child's event needs from its parent (`parent_image_path`), which
//! the kernel does not hand the process-creation callback.
//!
//! Bounded: `capacity` slots, each holding one image path of at most
//! [`PATH_CAP`] bytes, allocated once (fallibly) when the table is made and
//! never again, so [`ProcessTable::insert`], [`ProcessTable::remove`] and
//! [`ProcessTable::image`] allocate nothing and take at most `capacity` steps.
//! A full table refuses new processes ([`Full`]); their children then get an
//! empty parent image, as do children of processes that started before the
//! driver did.
//!
//! Layout: open addressing on the pid with linear probing and backward-shift
//! deletion (no tombstones). Invariants, kept by every method:
//! - T1: every occupied slot holds a pid other than [`EMPTY`], at most once;
//! - T2: between a pid's home slot and the slot holding it (wrapping), no slot
//!   is empty, so a probe from the home slot that stops at the first empty
//!   slot finds every pid present;
//! - T3: `len` is the number of occupied slots, and `len < capacity` after an
//!   insert (one slot stays empty, so every probe ends).

use alloc::vec::Vec;
use changuard_format::schema::IMAGE_PATH_CAP;

/// Longest image path kept per process (the schema's cap on image paths).
pub const PATH_CAP: usize = IMAGE_PATH_CAP as usize;

/// The pid value of an empty slot: pid 0 is the idle process, never created.
const EMPTY: u64 = 0;

/// The table refused a process: every usable slot is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// Running processes and their image paths (module docs).
#[derive(Debug)]
pub struct ProcessTable {
    pids: Vec<u64>,
    lens: Vec<u16>,
    /// `capacity * PATH_CAP` bytes: slot `k`'s path is at `k * PATH_CAP`.
    paths: Vec<u8>,
    len: usize,
}

impl ProcessTable {
    /// A table of `capacity` slots (at least 2), holding up to
    /// `capacity - 1` processes; about `capacity` KiB.
    ///
    /// # Errors
    /// `None` if the memory cannot be reserved or the size overflows.
    pub fn try_new(capacity: usize) -> Option<ProcessTable> {
        let capacity = capacity.max(2);
        let mut pids = Vec::new();
        pids.try_reserve_exact(capacity).ok()?;
        pids.resize(capacity, EMPTY);
        let mut lens = Vec::new();
        lens.try_reserve_exact(capacity).ok()?;
        lens.resize(capacity, 0);
        let bytes = capacity.checked_mul(PATH_CAP)?;
        let mut paths = Vec::new();
        paths.try_reserve_exact(bytes).ok()?;
        paths.resize(bytes, 0);
        Some(ProcessTable {
            pids,
            lens,
            paths,
            len: 0,
        })
    }

    /// Processes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no process is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slots (one always stays empty, T3).
    pub fn capacity(&self) -> usize {
        self.pids.len()
    }

    fn home(&self, pid: u64) -> usize {
        // Windows pids are multiples of 4; drop those bits so neighbours spread.
        let n = u64::try_from(self.capacity()).unwrap_or(u64::MAX);
        let k = (pid >> 2).checked_rem(n).unwrap_or(0);
        usize::try_from(k).unwrap_or(0)
    }

    fn next(&self, k: usize) -> usize {
        let n = k.saturating_add(1);
        if n >= self.capacity() { 0 } else { n }
    }

    /// The slot holding `pid`, or the empty slot where its probe stopped.
    fn probe(&self, pid: u64) -> Result<usize, usize> {
        let mut k = self.home(pid);
        for _ in 0..self.capacity() {
            match self.pids.get(k).copied() {
                Some(p) if p == pid => return Ok(k),
                Some(EMPTY) | None => return Err(k),
                Some(_) => k = self.next(k),
            }
        }
        // Unreachable while T3 holds (an empty slot always exists).
        Err(k)
    }

    /// Records `pid` with its image path (cut to [`PATH_CAP`] bytes at a
    /// character boundary), replacing what a reused pid held before.
    ///
    /// # Errors
    /// [`Full`] when only the one slot that must stay empty is left; pid 0 is
    /// refused the same way (it marks empty slots).
    pub fn insert(&mut self, pid: u64, image: &str) -> Result<(), Full> {
        if pid == EMPTY {
            return Err(Full);
        }
        let k = match self.probe(pid) {
            Ok(k) => k,
            Err(k) => {
                if self.len.saturating_add(2) > self.capacity() {
                    return Err(Full);
                }
                self.len = self.len.saturating_add(1);
                k
            }
        };
        let mut n = image.len().min(PATH_CAP);
        while !image.is_char_boundary(n) {
            n = n.saturating_sub(1);
        }
        let src = image.as_bytes().get(..n).unwrap_or(&[]);
        let start = k.saturating_mul(PATH_CAP);
        if let (Some(dst), Some(p), Some(l)) = (
            self.paths.get_mut(start..start.saturating_add(n)),
            self.pids.get_mut(k),
            self.lens.get_mut(k),
        ) {
            dst.copy_from_slice(src);
            *p = pid;
            *l = u16::try_from(n).unwrap_or(0);
        }
        Ok(())
    }

    /// The image path recorded for `pid`.
    pub fn image(&self, pid: u64) -> Option<&str> {
        if pid == EMPTY {
            return None;
        }
        let k = self.probe(pid).ok()?;
        let start = k.saturating_mul(PATH_CAP);
        let len = usize::from(*self.lens.get(k)?);
        let bytes = self.paths.get(start..start.saturating_add(len))?;
        // Written from a &str cut at a char boundary.
        core::str::from_utf8(bytes).ok()
    }

    /// Forgets `pid` (its process exited); whether it was held.
    pub fn remove(&mut self, pid: u64) -> bool {
        if pid == EMPTY {
            return false;
        }
        let Ok(mut hole) = self.probe(pid) else {
            return false;
        };
        // Backward-shift deletion: move later members of the probe run into
        // the hole when their home slot does not lie after it (keeps T2).
        let mut k = self.next(hole);
        for _ in 0..self.capacity() {
            let p = self.pids.get(k).copied().unwrap_or(EMPTY);
            if p == EMPTY {
                break;
            }
            let home = self.home(p);
            // Whether `home` is cyclically in (hole, k]: then p must stay.
            let stays = if hole <= k {
                hole < home && home <= k
            } else {
                hole < home || home <= k
            };
            if !stays {
                self.move_slot(k, hole);
                hole = k;
            }
            k = self.next(k);
        }
        if let (Some(p), Some(l)) = (self.pids.get_mut(hole), self.lens.get_mut(hole)) {
            *p = EMPTY;
            *l = 0;
        }
        self.len = self.len.saturating_sub(1);
        true
    }

    fn move_slot(&mut self, from: usize, to: usize) {
        let len = self.lens.get(from).copied().unwrap_or(0);
        let (src, dst) = (from.saturating_mul(PATH_CAP), to.saturating_mul(PATH_CAP));
        let n = usize::from(len);
        if src.checked_add(n).is_some_and(|e| e <= self.paths.len())
            && dst.checked_add(n).is_some_and(|e| e <= self.paths.len())
        {
            self.paths.copy_within(src..src.saturating_add(n), dst);
        }
        let pid = self.pids.get(from).copied().unwrap_or(EMPTY);
        if let (Some(p), Some(l)) = (self.pids.get_mut(to), self.lens.get_mut(to)) {
            *p = pid;
            *l = len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;
    use alloc::string::String;
    use proptest::prelude::*;

    #[test]
    fn parents_are_found_until_they_exit() {
        let mut t = ProcessTable::try_new(16).unwrap();
        t.insert(500, "C:\\Windows\\explorer.exe").unwrap();
        t.insert(504, "C:\\Windows\\System32\\cmd.exe").unwrap();
        assert_eq!(t.image(500), Some("C:\\Windows\\explorer.exe"));
        assert_eq!(t.image(504), Some("C:\\Windows\\System32\\cmd.exe"));
        assert_eq!(t.image(508), None);
        assert!(t.remove(500));
        assert_eq!(t.image(500), None);
        assert!(!t.remove(500));
        // A reused pid holds its new image.
        t.insert(504, "C:\\x.exe").unwrap();
        assert_eq!(t.image(504), Some("C:\\x.exe"));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_full_table_refuses_and_keeps_what_it_has() {
        let mut t = ProcessTable::try_new(4).unwrap();
        for pid in [4, 8, 12] {
            t.insert(pid, "a").unwrap();
        }
        assert_eq!(t.insert(16, "b"), Err(Full));
        assert_eq!(t.len(), 3);
        // Replacing a held pid needs no new slot.
        t.insert(8, "c").unwrap();
        assert_eq!(t.image(8), Some("c"));
        assert!(t.remove(4));
        t.insert(16, "b").unwrap();
        assert_eq!(t.image(16), Some("b"));
        assert_eq!(t.insert(0, "idle"), Err(Full));
        assert_eq!(t.image(0), None);
    }

    #[test]
    fn long_paths_are_cut_at_a_character_boundary() {
        let mut t = ProcessTable::try_new(4).unwrap();
        let long: String = core::iter::repeat_n('é', PATH_CAP).collect();
        t.insert(4, &long).unwrap();
        let kept = t.image(4).unwrap();
        assert_eq!(kept.len(), PATH_CAP);
        assert!(long.starts_with(kept));
        let odd = alloc::format!("x{long}");
        t.insert(8, &odd).unwrap();
        assert_eq!(t.image(8).unwrap().len(), PATH_CAP - 1);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u64, u8),
        Remove(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few distinct pids (colliding homes, reuse) in a small table.
        prop_oneof![
            (0u64..40, any::<u8>()).prop_map(|(p, i)| Op::Insert(p * 4, i)),
            (0u64..40).prop_map(|p| Op::Remove(p * 4)),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_a_map_with_a_capacity(cap in 2usize..24, ops in proptest::collection::vec(op(), 0..300)) {
            let mut t = ProcessTable::try_new(cap).unwrap();
            let mut model: BTreeMap<u64, String> = BTreeMap::new();
            for o in ops {
                match o {
                    Op::Insert(pid, i) => {
                        let image = alloc::format!("C:\\p{i}.exe");
                        let fits = pid != 0 && (model.contains_key(&pid) || model.len() + 2 <= cap);
                        prop_assert_eq!(t.insert(pid, &image).is_ok(), fits);
                        if fits {
                            model.insert(pid, image);
                        }
                    }
                    Op::Remove(pid) => {
                        prop_assert_eq!(t.remove(pid), model.remove(&pid).is_some());
                    }
                }
                prop_assert_eq!(t.len(), model.len());
                for pid in (0u64..40).map(|p| p * 4) {
                    prop_assert_eq!(t.image(pid), model.get(&pid).map(String::as_str));
                }
            }
        }
    }
}
