//! Durability: what a crash (bugcheck or power loss) keeps of the disks.
//!
//! The fault model is `crates/sim`'s (its `disk.rs`), applied to the NT calls:
//! - **File data** is volatile until `ZwFlushBuffersFile` on a handle to the file;
//!   that flush also makes the file's own name (and its ancestors) durable.
//!   `FILE_WRITE_THROUGH` is deliberately ignored (conservative: only a flush counts).
//! - **Names** (create, rename, delete) are volatile until a flush of a
//!   *directory* handle, which makes the whole namespace durable (NTFS commits its
//!   metadata log volume-wide), or a file flush as above.
//! - **The registry hive** is volatile until `ZwFlushKey` (which flushes the whole
//!   hive: all of the driver's keys live in SYSTEM). The hive is logged, so a crash
//!   keeps it whole: the last flushed hive or the current one, never a mix.
//! - A crash keeps, for each file whose data is not durable: the durable bytes
//!   (write lost), a torn mix (the first half of the new bytes over the old), or
//!   the new bytes; for the namespace: the durable one, the current one, or a
//!   replacing rename half done (the destination name gone, the source still there).
//!
//! Setup helpers of tests ([`Fs::write`], [`Fs::mkdir_p`], [`Fs::remove`]) are
//! completed, flushed writes by someone else (the update agent, an installer).
//! Every boot starts settled: [`crate::Persist::settle`].
use std::collections::{BTreeMap, BTreeSet};

use crate::fs::{Fs, Node, fold, parent};
use crate::registry::Registry;
use crate::report::Persist;

/// One durable directory entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StableEntry {
    /// Canonical path as created.
    pub path: String,
    /// The inode it names.
    pub ino: u64,
    /// Directory?
    pub dir: bool,
    /// Reparse point?
    pub reparse: bool,
}

/// What is on stable storage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stable {
    /// The durable namespace by folded path.
    pub names: BTreeMap<String, StableEntry>,
    /// Durable file data by inode (absent: nothing durable yet, i.e. empty).
    pub data: BTreeMap<u64, Vec<u8>>,
    /// Folded destinations of replacing renames not yet durable.
    pub replaced: BTreeSet<String>,
}

/// How one not-yet-durable file survives a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataFate {
    /// The durable bytes (write lost).
    Lost,
    /// First half of the new bytes over the durable ones.
    Torn,
    /// The new bytes.
    Kept,
}

/// How the namespace survives a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameFate {
    /// The durable namespace (unsynced creates, renames, deletes lost).
    Old,
    /// The current namespace.
    New,
    /// Replacing renames half done: destination gone, source as durable.
    Half,
}

/// One crash outcome of a volume.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FsVariant {
    /// Namespace fate.
    pub names: NameFate,
    /// Fate per dirty inode, in [`Fs::dirty`] order (missing: `Lost`).
    pub data: Vec<DataFate>,
}

impl FsVariant {
    /// Everything not durable is lost (what a bugcheck usually leaves).
    pub const WORST: FsVariant = FsVariant { names: NameFate::Old, data: Vec::new() };
}

fn entry(n: &Node) -> StableEntry {
    StableEntry { path: n.path.clone(), ino: n.ino, dir: n.dir, reparse: n.reparse }
}

impl Fs {
    /// A new inode number.
    fn fresh_ino(&self) -> u64 {
        let a = self.nodes.values().map(|n| n.ino).max().unwrap_or(0);
        let b = self.stable.names.values().map(|e| e.ino).max().unwrap_or(0);
        let c = self.stable.data.keys().next_back().copied().unwrap_or(0);
        a.max(b).max(c) + 1
    }

    /// Creates an empty file or directory at canonical `path` (volatile).
    pub fn create(&mut self, path: &str, dir: bool) {
        let ino = self.fresh_ino();
        self.nodes.insert(fold(path), Node { path: path.to_string(), dir, ino, ..Node::default() });
    }

    /// `ZwFlushBuffersFile` on a handle to canonical `path`: a file's data and
    /// name (with its ancestors) become durable; a directory flush makes the whole
    /// namespace durable.
    pub fn flush(&mut self, path: &str) {
        let Some(n) = self.node(path).cloned() else { return };
        if n.dir {
            self.stable.names = self.nodes.iter().map(|(k, n)| (k.clone(), entry(n))).collect();
            self.stable.replaced.clear();
            return;
        }
        self.stable.data.insert(n.ino, n.data.clone());
        self.name_durable(&n.path);
    }

    /// Makes the name of canonical `path` and its ancestors durable.
    pub fn name_durable(&mut self, path: &str) {
        if let Some(ino) = self.node(path).map(|n| n.ino) {
            // A file has one name here: its new name replaces any durable old one.
            self.stable.names.retain(|_, e| e.ino != ino);
        }
        let mut at = Some(path);
        while let Some(p) = at {
            if let Some(node) = self.node(p) {
                self.stable.names.insert(fold(p), entry(node));
            }
            at = parent(p);
        }
        self.stable.replaced.remove(&fold(path));
    }

    /// Renames canonical `from` to `to` (volatile); the caller checked the rules.
    pub fn rename(&mut self, from: &str, to: &str) -> bool {
        let Some(mut node) = self.nodes.remove(&fold(from)) else { return false };
        let key = fold(to);
        node.path = to.to_string();
        if self.nodes.insert(key.clone(), node).is_some() || self.stable.names.contains_key(&key) {
            self.stable.replaced.insert(key);
        }
        true
    }

    /// Deletes canonical `path` (volatile).
    pub fn delete(&mut self, path: &str) {
        self.nodes.remove(&fold(path));
    }

    /// Makes everything durable (a clean shutdown flushes the cache and the log).
    pub fn settle(&mut self) {
        self.stable.names = self.nodes.iter().map(|(k, n)| (k.clone(), entry(n))).collect();
        self.stable.data = self.nodes.values().filter(|n| !n.dir).map(|n| (n.ino, n.data.clone())).collect();
        self.stable.replaced.clear();
    }

    /// Inodes whose current data is not what is durable, in inode order.
    pub fn dirty(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .nodes
            .values()
            .filter(|n| !n.dir && self.stable.data.get(&n.ino).map_or(!n.data.is_empty(), |d| *d != n.data))
            .map(|n| n.ino)
            .collect();
        v.sort_unstable();
        v
    }

    fn names_settled(&self) -> bool {
        self.nodes.len() == self.stable.names.len()
            && self.nodes.iter().all(|(k, n)| self.stable.names.get(k).is_some_and(|e| *e == entry(n)))
    }

    /// Every crash outcome (bounded: up to 3 dirty files combined fully; beyond,
    /// all lost, all kept, and each one torn with the others lost).
    pub fn variants(&self) -> Vec<FsVariant> {
        let dirty = self.dirty().len();
        let mut names = vec![NameFate::Old];
        if !self.names_settled() {
            names.push(NameFate::New);
            if !self.stable.replaced.is_empty() {
                names.push(NameFate::Half);
            }
        }
        let fates = [DataFate::Lost, DataFate::Torn, DataFate::Kept];
        let mut datas: Vec<Vec<DataFate>> = Vec::new();
        if dirty <= 3 {
            for mut code in 0..3usize.pow(dirty as u32) {
                datas.push(
                    (0..dirty)
                        .map(|_| {
                            let f = fates[code % 3];
                            code /= 3;
                            f
                        })
                        .collect(),
                );
            }
        } else {
            datas.push(vec![DataFate::Lost; dirty]);
            datas.push(vec![DataFate::Kept; dirty]);
            for i in 0..dirty {
                let mut v = vec![DataFate::Lost; dirty];
                v[i] = DataFate::Torn;
                datas.push(v);
            }
        }
        names.iter().flat_map(|n| datas.iter().map(|d| FsVariant { names: *n, data: d.clone() })).collect()
    }

    /// The volume after a crash with outcome `v`: settled (durable = current).
    pub fn crash(&self, v: &FsVariant) -> Fs {
        let dirty = self.dirty();
        let by_ino: BTreeMap<u64, &Node> = self.nodes.values().map(|n| (n.ino, n)).collect();
        let bytes = |ino: u64| -> Vec<u8> {
            let durable = self.stable.data.get(&ino).cloned().unwrap_or_default();
            let Some(now) = by_ino.get(&ino).filter(|n| !n.dir).map(|n| &n.data) else { return durable };
            if *now == durable {
                return durable;
            }
            let fate = dirty.iter().position(|d| *d == ino).and_then(|i| v.data.get(i).copied()).unwrap_or(DataFate::Lost);
            match fate {
                DataFate::Lost => durable,
                DataFate::Kept => now.clone(),
                DataFate::Torn => {
                    let half = now.len() / 2;
                    let mut b = now[..half].to_vec();
                    b.extend_from_slice(durable.get(half..).unwrap_or(&[]));
                    b
                }
            }
        };
        let names: BTreeMap<String, StableEntry> = match v.names {
            NameFate::New => self.nodes.iter().map(|(k, n)| (k.clone(), entry(n))).collect(),
            NameFate::Old => self.stable.names.clone(),
            NameFate::Half => {
                let mut m = self.stable.names.clone();
                m.retain(|k, _| !self.stable.replaced.contains(k));
                m
            }
        };
        let mut out = Fs { nodes: BTreeMap::new(), stable: Stable::default() };
        for (k, e) in names {
            let flushes = by_ino.get(&e.ino).map_or(0, |n| n.flushes);
            let data = if e.dir { Vec::new() } else { bytes(e.ino) };
            out.nodes.insert(k, Node { path: e.path, dir: e.dir, data, reparse: e.reparse, flushes, ino: e.ino });
        }
        out.settle();
        out
    }
}

impl Persist {
    /// Makes everything durable (every boot starts so; a clean shutdown ends so).
    pub fn settle(&mut self) {
        self.fs.settle();
        self.hive = self.registry.clone();
    }

    /// `ZwFlushKey`: the hive as it is now becomes durable.
    pub fn flush_hive(&mut self) {
        self.hive = self.registry.clone();
    }

    /// The disks after a crash that kept nothing unflushed.
    pub fn worst_crash(&self) -> Persist {
        Persist { registry: self.hive.clone(), hive: self.hive.clone(), fs: self.fs.crash(&FsVariant::WORST), security: self.security.clone() }
    }

    /// Every distinct crash outcome of the disks as they are now (each settled):
    /// the hive as flushed or as now, times [`Fs::variants`].
    pub fn crash_images(&self) -> Vec<Persist> {
        let hives: Vec<&Registry> = if self.hive == self.registry { vec![&self.hive] } else { vec![&self.hive, &self.registry] };
        let mut out: Vec<Persist> = Vec::new();
        for v in self.fs.variants() {
            let fs = self.fs.crash(&v);
            for h in &hives {
                let p = Persist { registry: (*h).clone(), hive: (*h).clone(), fs: fs.clone(), security: self.security.clone() };
                if !out.contains(&p) {
                    out.push(p);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "\\Device\\HarddiskVolume3\\d";

    fn images(fs: &Fs) -> Vec<Fs> {
        fs.variants().iter().map(|v| fs.crash(v)).collect()
    }

    fn data<'a>(fs: &'a Fs, leaf: &str) -> Option<&'a [u8]> {
        fs.node(&format!("{D}\\{leaf}")).map(|n| n.data.as_slice())
    }

    #[test]
    fn unflushed_write_can_be_lost_torn_or_kept() {
        let mut fs = Fs::new();
        fs.write("C:\\d\\a", b"old!old!");
        fs.node_mut(&format!("{D}\\a")).expect("a").data = b"NEW!NEW!".to_vec();
        let got: Vec<Vec<u8>> = images(&fs).iter().map(|i| data(i, "a").expect("a").to_vec()).collect();
        for want in [&b"old!old!"[..], b"NEW!old!", b"NEW!NEW!"] {
            assert!(got.iter().any(|g| g == want), "{want:?} missing from {got:?}");
        }
        fs.flush(&format!("{D}\\a"));
        assert!(images(&fs).iter().all(|i| data(i, "a") == Some(b"NEW!NEW!")));
    }

    #[test]
    fn created_file_needs_a_flush_to_exist_after_a_crash() {
        let mut fs = Fs::new();
        fs.mkdir_p("C:\\d");
        fs.create(&format!("{D}\\t"), false);
        fs.node_mut(&format!("{D}\\t")).expect("t").data = b"x".to_vec();
        assert!(images(&fs).iter().any(|i| data(i, "t").is_none()));
        fs.flush(&format!("{D}\\t"));
        assert!(images(&fs).iter().all(|i| data(i, "t") == Some(b"x")));
    }

    #[test]
    fn replacing_rename_is_atomic_only_once_the_directory_is_flushed() {
        let mut fs = Fs::new();
        fs.write("C:\\d\\cur", b"v1");
        fs.write("C:\\d\\tmp", b"v2");
        assert!(fs.rename(&format!("{D}\\tmp"), &format!("{D}\\cur")));
        let outs = images(&fs);
        assert!(outs.iter().any(|i| data(i, "cur") == Some(b"v1") && data(i, "tmp") == Some(b"v2")));
        assert!(outs.iter().any(|i| data(i, "cur") == Some(b"v2") && data(i, "tmp").is_none()));
        assert!(outs.iter().any(|i| data(i, "cur").is_none() && data(i, "tmp") == Some(b"v2")));
        fs.flush(D);
        assert!(images(&fs).iter().all(|i| data(i, "cur") == Some(b"v2") && data(i, "tmp").is_none()));
    }

    #[test]
    fn flushing_the_renamed_file_makes_its_new_name_durable() {
        let mut fs = Fs::new();
        fs.write("C:\\d\\tmp", b"v2");
        assert!(fs.rename(&format!("{D}\\tmp"), &format!("{D}\\cur")));
        fs.flush(&format!("{D}\\cur"));
        for i in images(&fs) {
            assert_eq!((data(&i, "cur"), data(&i, "tmp")), (Some(&b"v2"[..]), None));
        }
    }

    #[test]
    fn a_settled_volume_has_one_outcome_itself() {
        let mut fs = Fs::new();
        fs.write("C:\\d\\a", b"a");
        let v = fs.variants();
        assert_eq!(v.len(), 1);
        assert_eq!(fs.crash(&v[0]), fs);
    }
}
