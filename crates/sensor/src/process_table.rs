//! The processes the sensor saw start and has not seen exit, by process id:
//! what a child's event needs from its parent (`parent_image_path`,
//! `parent_command_line`), which the kernel does not hand the
//! process-creation callback.
//!
//! Bounded: `capacity` slots, each holding one image path of at most
//! [`PATH_CAP`] bytes and one command line of at most [`COMMAND_LINE_CAP`]
//! bytes (3 KiB a slot), allocated once (fallibly) when the table is made and
//! never again, so [`ProcessTable::insert`], [`ProcessTable::remove`],
//! [`ProcessTable::get`], [`ProcessTable::image`] and
//! [`ProcessTable::command_line`] allocate nothing and take at most
//! `capacity` steps. A full table refuses new processes ([`Full`]); their
//! children then get an empty parent image and command line, as do children
//! of processes that started before the driver did.
//!
//! Layout: open addressing on the pid with linear probing and backward-shift
//! deletion (no tombstones). Invariants, kept by every method:
//! - T1: every occupied slot holds a pid other than [`EMPTY`], at most once;
//! - T2: between a pid's home slot and the slot holding it (wrapping), no slot
//!   is empty, so a probe from the home slot that stops at the first empty
//!   slot finds every pid present;
//! - T3: `len` is the number of occupied slots, and `len < capacity` after an
//!   insert (one slot stays empty, so every probe ends).
//!
//! A slot's image path and command line move and empty together with its pid
//! (`move_slot`, `remove`): whatever a slot holds belongs to the pid in it.

use alloc::vec::Vec;
use changuard_format::schema;

/// Longest image path kept per process (the schema's cap on image paths).
pub const PATH_CAP: usize = schema::IMAGE_PATH_CAP as usize;
/// Longest command line kept per process (the schema's cap on command lines,
/// so a child's `parent_command_line` is what the parent's own event's
/// `command_line` was).
pub const COMMAND_LINE_CAP: usize = schema::COMMAND_LINE_CAP as usize;

/// The pid value of an empty slot: pid 0 is the idle process, never created.
const EMPTY: u64 = 0;

/// The table refused a process: every usable slot is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// Running processes, their image paths and command lines (module docs).
#[derive(Debug)]
pub struct ProcessTable {
    pids: Vec<u64>,
    /// Byte length of slot `k`'s path.
    lens: Vec<u16>,
    /// `capacity * PATH_CAP` bytes: slot `k`'s path is at `k * PATH_CAP`.
    paths: Vec<u8>,
    /// Byte length of slot `k`'s command line.
    cmd_lens: Vec<u16>,
    /// `capacity * COMMAND_LINE_CAP` bytes: slot `k`'s command line is at
    /// `k * COMMAND_LINE_CAP`.
    cmds: Vec<u8>,
    len: usize,
}

/// A zeroed vector of exactly `n` elements, or `None` without the memory.
fn zeroed<T: Copy + Default>(n: usize) -> Option<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).ok()?;
    v.resize(n, T::default());
    Some(v)
}

/// The longest prefix of `s` of at most `cap` bytes that ends on a character
/// boundary.
fn cut(s: &str, cap: usize) -> &[u8] {
    let mut n = s.len().min(cap);
    while !s.is_char_boundary(n) {
        n = n.saturating_sub(1);
    }
    s.as_bytes().get(..n).unwrap_or(&[])
}

/// The `len` bytes of slot `k` in a store of `cap`-byte slots, as text.
fn text(store: &[u8], cap: usize, k: usize, len: u16) -> Option<&str> {
    let start = k.checked_mul(cap)?;
    let bytes = store.get(start..start.checked_add(usize::from(len))?)?;
    // Written from a &str cut at a char boundary.
    core::str::from_utf8(bytes).ok()
}

/// Copies `src` into slot `k` of a store of `cap`-byte slots (`src.len() <=
/// cap`); whether it fit.
fn put(store: &mut [u8], cap: usize, k: usize, src: &[u8]) -> bool {
    let dst = k
        .checked_mul(cap)
        .and_then(|start| Some(start..start.checked_add(src.len())?))
        .and_then(|r| store.get_mut(r));
    match dst {
        Some(dst) if src.len() <= cap => {
            dst.copy_from_slice(src);
            true
        }
        _ => false,
    }
}

/// Copies the first `n` bytes of slot `from` onto slot `to` in a store of
/// `cap`-byte slots.
fn copy_slot(store: &mut [u8], cap: usize, from: usize, to: usize, n: usize) {
    let (Some(src), Some(dst)) = (from.checked_mul(cap), to.checked_mul(cap)) else {
        return;
    };
    if n <= cap
        && src.checked_add(n).is_some_and(|e| e <= store.len())
        && dst.checked_add(n).is_some_and(|e| e <= store.len())
    {
        store.copy_within(src..src.saturating_add(n), dst);
    }
}

impl ProcessTable {
    /// A table of `capacity` slots (at least 2), holding up to
    /// `capacity - 1` processes; about `3 * capacity` KiB
    /// (`PATH_CAP + COMMAND_LINE_CAP + 12` bytes a slot).
    ///
    /// # Errors
    /// `None` if the memory cannot be reserved or the size overflows.
    pub fn try_new(capacity: usize) -> Option<ProcessTable> {
        let capacity = capacity.max(2);
        Some(ProcessTable {
            // Zeroed: every slot EMPTY (pid 0), every length 0.
            pids: zeroed(capacity)?,
            lens: zeroed(capacity)?,
            paths: zeroed(capacity.checked_mul(PATH_CAP)?)?,
            cmd_lens: zeroed(capacity)?,
            cmds: zeroed(capacity.checked_mul(COMMAND_LINE_CAP)?)?,
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
    /// character boundary) and its command line (cut likewise to
    /// [`COMMAND_LINE_CAP`] bytes), replacing what a reused pid held before.
    ///
    /// # Errors
    /// [`Full`] when only the one slot that must stay empty is left; pid 0 is
    /// refused the same way (it marks empty slots).
    pub fn insert(&mut self, pid: u64, image: &str, command_line: &str) -> Result<(), Full> {
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
        let image = cut(image, PATH_CAP);
        let command_line = cut(command_line, COMMAND_LINE_CAP);
        // Each length is set only with its bytes written; one that did not fit
        // (unreachable: the stores hold `capacity` whole slots) reads as empty.
        let image_len = if put(&mut self.paths, PATH_CAP, k, image) {
            image.len()
        } else {
            0
        };
        let cmd_len = if put(&mut self.cmds, COMMAND_LINE_CAP, k, command_line) {
            command_line.len()
        } else {
            0
        };
        if let (Some(p), Some(l), Some(c)) = (
            self.pids.get_mut(k),
            self.lens.get_mut(k),
            self.cmd_lens.get_mut(k),
        ) {
            *p = pid;
            *l = u16::try_from(image_len).unwrap_or(0);
            *c = u16::try_from(cmd_len).unwrap_or(0);
        }
        Ok(())
    }

    /// The image path and command line recorded for `pid` (one probe).
    pub fn get(&self, pid: u64) -> Option<(&str, &str)> {
        if pid == EMPTY {
            return None;
        }
        let k = self.probe(pid).ok()?;
        let image = text(&self.paths, PATH_CAP, k, *self.lens.get(k)?)?;
        let command_line = text(&self.cmds, COMMAND_LINE_CAP, k, *self.cmd_lens.get(k)?)?;
        Some((image, command_line))
    }

    /// The image path recorded for `pid`.
    pub fn image(&self, pid: u64) -> Option<&str> {
        self.get(pid).map(|(image, _)| image)
    }

    /// The command line recorded for `pid`.
    pub fn command_line(&self, pid: u64) -> Option<&str> {
        self.get(pid).map(|(_, command_line)| command_line)
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
        if let (Some(p), Some(l), Some(c)) = (
            self.pids.get_mut(hole),
            self.lens.get_mut(hole),
            self.cmd_lens.get_mut(hole),
        ) {
            *p = EMPTY;
            *l = 0;
            *c = 0;
        }
        self.len = self.len.saturating_sub(1);
        true
    }

    fn move_slot(&mut self, from: usize, to: usize) {
        let len = self.lens.get(from).copied().unwrap_or(0);
        let cmd_len = self.cmd_lens.get(from).copied().unwrap_or(0);
        copy_slot(&mut self.paths, PATH_CAP, from, to, usize::from(len));
        copy_slot(
            &mut self.cmds,
            COMMAND_LINE_CAP,
            from,
            to,
            usize::from(cmd_len),
        );
        let pid = self.pids.get(from).copied().unwrap_or(EMPTY);
        if let (Some(p), Some(l), Some(c)) = (
            self.pids.get_mut(to),
            self.lens.get_mut(to),
            self.cmd_lens.get_mut(to),
        ) {
            *p = pid;
            *l = len;
            *c = cmd_len;
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
        t.insert(
            500,
            "C:\\Windows\\explorer.exe",
            "C:\\Windows\\Explorer.EXE",
        )
        .unwrap();
        t.insert(504, "C:\\Windows\\System32\\cmd.exe", "cmd.exe /c whoami")
            .unwrap();
        assert_eq!(t.image(500), Some("C:\\Windows\\explorer.exe"));
        assert_eq!(t.command_line(500), Some("C:\\Windows\\Explorer.EXE"));
        assert_eq!(
            t.get(504),
            Some(("C:\\Windows\\System32\\cmd.exe", "cmd.exe /c whoami"))
        );
        assert_eq!(t.image(508), None);
        assert_eq!(t.command_line(508), None);
        assert!(t.remove(500));
        assert_eq!(t.image(500), None);
        assert_eq!(t.command_line(500), None);
        assert!(!t.remove(500));
        // A reused pid holds its new image and command line (an empty one too).
        t.insert(504, "C:\\x.exe", "").unwrap();
        assert_eq!(t.get(504), Some(("C:\\x.exe", "")));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_full_table_refuses_and_keeps_what_it_has() {
        let mut t = ProcessTable::try_new(4).unwrap();
        for pid in [4, 8, 12] {
            t.insert(pid, "a", "a -x").unwrap();
        }
        assert_eq!(t.insert(16, "b", "b -y"), Err(Full));
        assert_eq!(t.len(), 3);
        assert_eq!(t.command_line(16), None);
        // Replacing a held pid needs no new slot.
        t.insert(8, "c", "c -z").unwrap();
        assert_eq!(t.get(8), Some(("c", "c -z")));
        assert!(t.remove(4));
        t.insert(16, "b", "b -y").unwrap();
        assert_eq!(t.get(16), Some(("b", "b -y")));
        assert_eq!(t.insert(0, "idle", "idle"), Err(Full));
        assert_eq!(t.image(0), None);
        assert_eq!(t.command_line(0), None);
    }

    #[test]
    fn long_paths_and_command_lines_are_cut_at_a_character_boundary() {
        let mut t = ProcessTable::try_new(4).unwrap();
        let long: String = core::iter::repeat_n('é', COMMAND_LINE_CAP).collect();
        t.insert(4, &long, &long).unwrap();
        let (image, cmd) = t.get(4).unwrap();
        assert_eq!(image.len(), PATH_CAP);
        assert!(long.starts_with(image));
        assert_eq!(cmd.len(), COMMAND_LINE_CAP);
        assert!(long.starts_with(cmd));
        let odd = alloc::format!("x{long}");
        t.insert(8, &odd, &odd).unwrap();
        let (image, cmd) = t.get(8).unwrap();
        assert_eq!(image.len(), PATH_CAP - 1);
        assert_eq!(cmd.len(), COMMAND_LINE_CAP - 1);
        assert!(odd.starts_with(cmd));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u64, u8, u16),
        Remove(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few distinct pids (colliding homes, reuse) in a small table.
        prop_oneof![
            (0u64..40, any::<u8>(), 0u16..(COMMAND_LINE_CAP as u16 + 8))
                .prop_map(|(p, i, n)| Op::Insert(p * 4, i, n)),
            (0u64..40).prop_map(|p| Op::Remove(p * 4)),
        ]
    }

    /// A command line of about `n` bytes, with multi-byte characters so some
    /// are cut inside one, and naming `pid` so a moved slot shows whose it is.
    fn command_line(pid: u64, i: u8, n: u16) -> String {
        let mut c = alloc::format!("p{pid}.exe -{i} ");
        while c.len() < usize::from(n) {
            c.push(if c.len() % 3 == 0 { '€' } else { 'a' });
        }
        c
    }

    fn cut_str(s: &str, cap: usize) -> String {
        String::from(core::str::from_utf8(cut(s, cap)).unwrap())
    }

    proptest! {
        #[test]
        fn behaves_like_a_map_with_a_capacity(cap in 2usize..24, ops in proptest::collection::vec(op(), 0..300)) {
            let mut t = ProcessTable::try_new(cap).unwrap();
            let mut model: BTreeMap<u64, (String, String)> = BTreeMap::new();
            for o in ops {
                match o {
                    Op::Insert(pid, i, n) => {
                        let image = alloc::format!("C:\\p{i}.exe");
                        let cmd = command_line(pid, i, n);
                        let fits = pid != 0 && (model.contains_key(&pid) || model.len() + 2 <= cap);
                        prop_assert_eq!(t.insert(pid, &image, &cmd).is_ok(), fits);
                        if fits {
                            model.insert(pid, (image, cut_str(&cmd, COMMAND_LINE_CAP)));
                        }
                    }
                    Op::Remove(pid) => {
                        prop_assert_eq!(t.remove(pid), model.remove(&pid).is_some());
                    }
                }
                prop_assert_eq!(t.len(), model.len());
                for pid in (0u64..40).map(|p| p * 4) {
                    let want = model.get(&pid).map(|(i, c)| (i.as_str(), c.as_str()));
                    prop_assert_eq!(t.get(pid), want);
                    prop_assert_eq!(t.image(pid), want.map(|w| w.0));
                    prop_assert_eq!(t.command_line(pid), want.map(|w| w.1));
                }
            }
        }
    }
}
