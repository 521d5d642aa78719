//! The machine's boot volume and the object-manager names that lead to it.
//! Pure data and name resolution; the NT calls are in nt.rs.
//!
//! Names the driver builds, and what they resolve to here (as on a default
//! Windows install whose system volume is `\Device\HarddiskVolume3`):
//! - `\SystemRoot\x`                       -> `\Device\HarddiskVolume3\Windows\x`
//! - `\??\C:\x`, `\GLOBAL??\C:\x`, `\DosDevices\C:\x` -> `\Device\HarddiskVolume3\x`
//! - `\Device\HarddiskVolume3\x`           -> itself
//! - `C:\x` (no leading backslash, no RootDirectory) -> `STATUS_OBJECT_PATH_SYNTAX_BAD`,
//!   which is what the object manager returns for a name that is not absolute.
//!
//! The object manager is case-insensitive (`ObCaseInsensitive` = 1, the default),
//! and so is NTFS by default: all comparisons fold ASCII case.
use std::collections::BTreeMap;

use crate::durable::Stable;
use crate::status;

/// The system volume's device name.
pub const VOLUME: &str = "\\Device\\HarddiskVolume3";

/// A file or directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// Canonical path as created (`\Device\HarddiskVolume3\...`).
    pub path: String,
    /// Directory?
    pub dir: bool,
    /// File contents.
    pub data: Vec<u8>,
    /// A reparse point (`FILE_ATTRIBUTE_REPARSE_POINT`).
    pub reparse: bool,
    /// `ZwFlushBuffersFile` calls on it.
    pub flushes: u64,
    /// Identity across renames (the file's MFT record): what durability is tracked by.
    pub ino: u64,
}

/// The volume: what reads see now (`nodes`) and what a crash would keep (`stable`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fs {
    /// Nodes by folded canonical path: the volatile view every NT call sees.
    pub nodes: BTreeMap<String, Node>,
    /// What is on stable storage (see [`crate::durable`]).
    pub stable: Stable,
}

impl Default for Fs {
    fn default() -> Self {
        Self::new()
    }
}

/// Case-folded lookup key.
pub fn fold(s: &str) -> String {
    s.to_ascii_uppercase()
}

/// Parent of a canonical path (None for the volume root).
pub fn parent(path: &str) -> Option<&str> {
    if fold(path) == fold(VOLUME) {
        return None;
    }
    path.rfind('\\').map(|i| &path[..i])
}

/// The last component.
pub fn leaf(path: &str) -> &str {
    path.rsplit('\\').next().unwrap_or("")
}

/// How a name resolved.
#[derive(Debug, PartialEq, Eq)]
pub struct Resolved {
    /// Canonical path.
    pub path: String,
    /// The name ended with a backslash.
    pub trailing_backslash: bool,
}

/// Object-manager name resolution of an absolute name (RootDirectory NULL).
///
/// # Errors
/// The NTSTATUS the object manager / file system returns for the name itself.
pub fn resolve(name: &str) -> Result<Resolved, i32> {
    if name.is_empty() {
        return Err(status::OBJECT_NAME_INVALID);
    }
    if !name.starts_with('\\') {
        return Err(status::OBJECT_PATH_SYNTAX_BAD);
    }
    let comps: Vec<&str> = name[1..].split('\\').collect();
    let first = fold(comps[0]);
    let (base, rest): (String, &[&str]) = match first.as_str() {
        "SYSTEMROOT" => (format!("{VOLUME}\\Windows"), &comps[1..]),
        "??" | "GLOBAL??" | "DOSDEVICES" => {
            let Some(drive) = comps.get(1) else { return Err(status::OBJECT_NAME_INVALID) };
            if fold(drive) != "C:" {
                return Err(if comps.len() > 2 { status::OBJECT_PATH_NOT_FOUND } else { status::OBJECT_NAME_NOT_FOUND });
            }
            (VOLUME.to_string(), &comps[2..])
        }
        "DEVICE" => {
            let Some(dev) = comps.get(1) else { return Err(status::OBJECT_TYPE_MISMATCH) };
            if fold(dev) != "HARDDISKVOLUME3" {
                return Err(if comps.len() > 2 { status::OBJECT_PATH_NOT_FOUND } else { status::OBJECT_NAME_NOT_FOUND });
            }
            (VOLUME.to_string(), &comps[2..])
        }
        "" => return Err(status::OBJECT_NAME_INVALID),
        _ => return Err(if comps.len() > 1 { status::OBJECT_PATH_NOT_FOUND } else { status::OBJECT_NAME_NOT_FOUND }),
    };
    let mut path = base;
    let mut trailing = false;
    for (i, c) in rest.iter().enumerate() {
        if c.is_empty() {
            if i + 1 == rest.len() {
                trailing = true;
                continue;
            }
            return Err(status::OBJECT_NAME_INVALID);
        }
        if *c == "." || *c == ".." || c.chars().any(|ch| matches!(ch, '*' | '?' | '"' | '<' | '>' | '|' | ':' | '/') || (ch as u32) < 0x20) {
            return Err(status::OBJECT_NAME_INVALID);
        }
        path.push('\\');
        path.push_str(c);
    }
    Ok(Resolved { path, trailing_backslash: trailing })
}

impl Fs {
    /// A volume with `\Windows` and `\ProgramData`.
    pub fn new() -> Self {
        let mut fs = Self { nodes: BTreeMap::new(), stable: Stable::default() };
        fs.nodes.insert(fold(VOLUME), Node { path: VOLUME.to_string(), dir: true, ino: 1, ..Node::default() });
        fs.mkdir_p("C:\\Windows");
        fs.mkdir_p("C:\\ProgramData");
        fs.settle();
        fs
    }

    /// Canonical path of a test-side name: `C:\x`, `\SystemRoot\x`, `\??\C:\x`, `\Device\...`.
    ///
    /// # Panics
    /// If the name does not resolve (a test bug).
    pub fn canonical(name: &str) -> String {
        let nt = if name.len() >= 2 && name.as_bytes()[1] == b':' { format!("\\??\\{name}") } else { name.to_string() };
        match resolve(&nt) {
            Ok(r) => r.path,
            Err(s) => panic!("test path {name:?} does not resolve: {s:#x}"),
        }
    }

    /// The node at a canonical path.
    pub fn node(&self, canonical: &str) -> Option<&Node> {
        self.nodes.get(&fold(canonical))
    }

    /// The node at a canonical path, mutable.
    pub fn node_mut(&mut self, canonical: &str) -> Option<&mut Node> {
        self.nodes.get_mut(&fold(canonical))
    }

    /// Creates a directory and its ancestors (test setup: durable at once, like
    /// every setup helper here; the NT calls go through [`Fs::create`] and friends).
    pub fn mkdir_p(&mut self, name: &str) {
        let c = Self::canonical(name);
        let mut path = String::new();
        for comp in c[1..].split('\\') {
            path.push('\\');
            path.push_str(comp);
            if self.node(&path).is_none() {
                self.create(&path, true);
            }
        }
        self.name_durable(&c);
    }

    /// Writes a whole file, creating its directory (test setup: a completed,
    /// flushed write by someone else, e.g. the update agent).
    pub fn write(&mut self, name: &str, data: &[u8]) {
        let c = Self::canonical(name);
        if let Some(p) = parent(&c) {
            let p = p.to_string();
            self.mkdir_p(&p);
        }
        if self.node(&c).is_none() {
            self.create(&c, false);
        }
        if let Some(node) = self.node_mut(&c) {
            node.dir = false;
            node.data = data.to_vec();
        }
        self.flush(&c);
    }

    /// A file's contents.
    pub fn read(&self, name: &str) -> Option<&[u8]> {
        self.node(&Self::canonical(name)).filter(|n| !n.dir).map(|n| n.data.as_slice())
    }

    /// Removes a file or an empty directory (test setup: durable at once).
    pub fn remove(&mut self, name: &str) {
        let key = fold(&Self::canonical(name));
        self.nodes.remove(&key);
        self.stable.names.remove(&key);
    }

    /// Leaf names in a directory, in NTFS order (upper-case collation).
    pub fn list(&self, canonical_dir: &str) -> Vec<String> {
        let prefix = format!("{}\\", fold(canonical_dir));
        let mut v: Vec<String> = self
            .nodes
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix) && !k[prefix.len()..].contains('\\'))
            .map(|(_, n)| leaf(&n.path).to_string())
            .collect();
        v.sort_by_key(|a| fold(a));
        v
    }

    /// Test-side listing by any name form.
    pub fn list_dir(&self, name: &str) -> Vec<String> {
        self.list(&Self::canonical(name))
    }
}
