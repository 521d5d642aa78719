//! The simulated disk: files as NTFS and the registry treat them under failure.
//!
//! # Fault model (STYLE 17)
//! - Files are inodes with *durable* and *volatile* data. `write` (create or
//!   truncate + write whole) changes volatile data only; `flush` makes the inode's
//!   data durable AND its own directory entry (creation) durable.
//! - Names live in a volatile namespace; `rename` (replace-if-exists) and
//!   `delete` change it only; `sync` makes the whole namespace durable.
//! - A crash (bugcheck or power loss) at any point keeps, for every inode whose
//!   volatile data differs from its durable data, one of: the durable data
//!   (write lost), a *torn* mix (the first half of the new bytes over the old), or
//!   the volatile data (write made it). For the namespace it keeps: the durable
//!   namespace (renames lost), the volatile one (renames made it), or, when an
//!   unsynced rename replaced an existing name, the *half-done* rename (the
//!   destination name gone, the source name still there). So a rename is atomic
//!   only once synced.
//! - Registry values (`Parameters`) are written by the operator before boot and
//!   are durable; the loader only reads them.
//! - Flushed data never rots by itself; bit rot is injected explicitly
//!   (scenario `lkg-corrupted`, random campaigns).
//! - `flush` on a name that does not exist is `NotFound`; reads see volatile state.
//!
//! After a crash, the chosen variant becomes both the durable and the volatile
//! state; a post-crash disk is a canonical `BTreeMap<name, bytes>` (its hash is
//! the "crash state" the exhaustive explorer counts).

use std::collections::BTreeMap;
use std::sync::Arc;

/// File bytes.
pub type Bytes = Arc<[u8]>;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Inode {
    durable: Bytes,
    volatile: Bytes,
}

/// How one unflushed inode survives a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataFate {
    /// The durable bytes (write lost).
    Lost,
    /// First half of the volatile bytes over the durable ones.
    Torn,
    /// The volatile bytes.
    Kept,
}

/// How the namespace survives a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameFate {
    /// Durable namespace (unsynced renames/deletes lost).
    Old,
    /// Volatile namespace.
    New,
    /// Unsynced replace-renames half done: destination gone, source kept.
    Half,
}

/// One crash outcome: a fate per dirty inode (in inode order) and the namespace fate.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Variant {
    /// Per dirty inode.
    pub data: Vec<DataFate>,
    /// Namespace.
    pub names: NameFate,
}

/// The disk.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    inodes: BTreeMap<u32, Inode>,
    ns_durable: BTreeMap<String, u32>,
    ns_volatile: BTreeMap<String, u32>,
    /// Unsynced renames that replaced an existing destination: (src, dst).
    pending_replace: Vec<(String, String)>,
    next: u32,
}

/// A canonical post-crash image.
pub type Image = BTreeMap<String, Bytes>;

impl Disk {
    /// A disk holding exactly `image`, all durable.
    pub fn from_image(image: &Image) -> Disk {
        let mut d = Disk::default();
        for (name, data) in image {
            let ino = d.next;
            d.next += 1;
            d.inodes.insert(
                ino,
                Inode {
                    durable: data.clone(),
                    volatile: data.clone(),
                },
            );
            d.ns_durable.insert(name.clone(), ino);
            d.ns_volatile.insert(name.clone(), ino);
        }
        d
    }

    /// Volatile view (what reads see now).
    pub fn read(&self, name: &str) -> Option<Bytes> {
        self.ns_volatile
            .get(name)
            .and_then(|i| self.inodes.get(i))
            .map(|n| n.volatile.clone())
    }

    /// Names in volatile namespace with `prefix`.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        self.ns_volatile
            .keys()
            .filter_map(|k| k.strip_prefix(prefix).map(str::to_owned))
            .collect()
    }

    /// Create or truncate `name` and write `data` (volatile).
    pub fn write(&mut self, name: &str, data: &[u8]) {
        let data: Bytes = Arc::from(data);
        match self.ns_volatile.get(name).copied() {
            Some(ino) => {
                if let Some(n) = self.inodes.get_mut(&ino) {
                    n.volatile = data;
                }
            }
            None => {
                let ino = self.next;
                self.next += 1;
                self.inodes.insert(
                    ino,
                    Inode {
                        durable: Arc::from(&[][..]),
                        volatile: data,
                    },
                );
                self.ns_volatile.insert(name.to_owned(), ino);
            }
        }
    }

    /// Make `name`'s data and directory entry durable. False if absent.
    pub fn flush(&mut self, name: &str) -> bool {
        let Some(ino) = self.ns_volatile.get(name).copied() else {
            return false;
        };
        if let Some(n) = self.inodes.get_mut(&ino) {
            n.durable = n.volatile.clone();
        }
        self.ns_durable.insert(name.to_owned(), ino);
        true
    }

    /// Rename `src` over `dst` (volatile). False if `src` is absent.
    pub fn rename(&mut self, src: &str, dst: &str) -> bool {
        let Some(ino) = self.ns_volatile.remove(src) else {
            return false;
        };
        if self.ns_volatile.insert(dst.to_owned(), ino).is_some()
            || self.ns_durable.contains_key(dst)
        {
            self.pending_replace.push((src.to_owned(), dst.to_owned()));
        }
        true
    }

    /// Delete `name` (volatile).
    pub fn delete(&mut self, name: &str) {
        self.ns_volatile.remove(name);
    }

    /// Make the namespace durable.
    pub fn sync(&mut self) {
        self.ns_durable = self.ns_volatile.clone();
        self.pending_replace.clear();
    }

    /// Make everything durable (a clean shutdown or a completed external write).
    pub fn settle(&mut self) {
        for n in self.inodes.values_mut() {
            n.durable = n.volatile.clone();
        }
        self.sync();
    }

    fn dirty(&self) -> Vec<u32> {
        self.inodes
            .iter()
            .filter(|(_, n)| n.durable != n.volatile)
            .map(|(i, _)| *i)
            .collect()
    }

    /// Every crash outcome of the current state (bounded: at most 3 dirty inodes
    /// are combined fully; beyond that, all-lost / all-kept / one-torn each).
    pub fn variants(&self) -> Vec<Variant> {
        let dirty = self.dirty();
        let mut names = vec![NameFate::Old];
        if self.ns_durable != self.ns_volatile {
            names.push(NameFate::New);
            if !self.pending_replace.is_empty() {
                names.push(NameFate::Half);
            }
        }
        let mut datas: Vec<Vec<DataFate>> = vec![];
        if dirty.len() <= 3 {
            let fates = [DataFate::Lost, DataFate::Torn, DataFate::Kept];
            let total = 3usize.pow(dirty.len() as u32);
            for mut code in 0..total {
                let mut v = vec![];
                for _ in 0..dirty.len() {
                    v.push(fates[code % 3]);
                    code /= 3;
                }
                datas.push(v);
            }
        } else {
            datas.push(vec![DataFate::Lost; dirty.len()]);
            datas.push(vec![DataFate::Kept; dirty.len()]);
            for i in 0..dirty.len() {
                let mut v = vec![DataFate::Lost; dirty.len()];
                v[i] = DataFate::Torn;
                datas.push(v);
            }
        }
        let mut out = vec![];
        for n in &names {
            for d in &datas {
                out.push(Variant {
                    data: d.clone(),
                    names: *n,
                });
            }
        }
        out
    }

    /// The worst plain outcome: every unflushed write and unsynced rename lost.
    pub fn lose_everything_volatile() -> Variant {
        Variant {
            data: vec![],
            names: NameFate::Old,
        }
    }

    /// Apply a crash variant and return the canonical surviving image.
    /// Missing entries in `v.data` mean `Lost`.
    pub fn crash(&self, v: &Variant) -> Image {
        let dirty = self.dirty();
        let mut data: BTreeMap<u32, Bytes> = BTreeMap::new();
        for (ino, n) in &self.inodes {
            let fate = dirty
                .iter()
                .position(|d| d == ino)
                .and_then(|i| v.data.get(i).copied())
                .unwrap_or(DataFate::Lost);
            let bytes = if n.durable == n.volatile {
                n.durable.clone()
            } else {
                match fate {
                    DataFate::Lost => n.durable.clone(),
                    DataFate::Kept => n.volatile.clone(),
                    DataFate::Torn => {
                        let half = n.volatile.len() / 2;
                        let mut b: Vec<u8> = n.volatile[..half].to_vec();
                        if n.durable.len() > half {
                            b.extend_from_slice(&n.durable[half..]);
                        }
                        Arc::from(b)
                    }
                }
            };
            data.insert(*ino, bytes);
        }
        let ns = match v.names {
            NameFate::Old => self.ns_durable.clone(),
            NameFate::New => self.ns_volatile.clone(),
            NameFate::Half => {
                let mut ns = self.ns_durable.clone();
                for (_src, dst) in &self.pending_replace {
                    ns.remove(dst);
                }
                ns
            }
        };
        let mut image = Image::new();
        for (name, ino) in ns {
            if let Some(b) = data.get(&ino) {
                image.insert(name, b.clone());
            }
        }
        image
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unflushed_write_can_be_lost_torn_or_kept() {
        let mut d = Disk::default();
        d.write("a", b"old!old!");
        d.flush("a");
        d.write("a", b"NEW!NEW!");
        let outs: Vec<Image> = d.variants().iter().map(|v| d.crash(v)).collect();
        let got: Vec<&[u8]> = outs.iter().map(|i| &*i["a"]).collect();
        assert!(got.contains(&&b"old!old!"[..]));
        assert!(got.contains(&&b"NEW!old!"[..]));
        assert!(got.contains(&&b"NEW!NEW!"[..]));
    }

    #[test]
    fn rename_is_atomic_only_once_synced() {
        let mut d = Disk::default();
        d.write("cur", b"v1");
        d.flush("cur");
        d.write("tmp", b"v2");
        d.flush("tmp");
        d.rename("tmp", "cur");
        let outs: Vec<Image> = d.variants().iter().map(|v| d.crash(v)).collect();
        assert!(
            outs.iter()
                .any(|i| i.get("cur").map(|b| &**b) == Some(&b"v1"[..]) && i.contains_key("tmp"))
        );
        assert!(
            outs.iter()
                .any(|i| i.get("cur").map(|b| &**b) == Some(&b"v2"[..]) && !i.contains_key("tmp"))
        );
        assert!(
            outs.iter()
                .any(|i| !i.contains_key("cur") && i.contains_key("tmp"))
        );
        d.sync();
        for v in d.variants() {
            assert_eq!(&*d.crash(&v)["cur"], b"v2");
        }
    }
}
