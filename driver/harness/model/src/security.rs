//! DACLs as the model records them (`ZwSetSecurityObject`), and inheritance.
use crate::report::Persist;

/// `OBJECT_INHERIT_ACE`.
pub const OBJECT_INHERIT: u8 = 0x1;
/// `CONTAINER_INHERIT_ACE`.
pub const CONTAINER_INHERIT: u8 = 0x2;

/// One ACCESS_ALLOWED ACE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ace {
    /// The SID as a string (`S-1-5-18`).
    pub sid: String,
    /// Access mask.
    pub mask: u32,
    /// ACE flags (inheritance).
    pub flags: u8,
}

/// A DACL set on an object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dacl {
    /// ACEs in order.
    pub aces: Vec<Ace>,
    /// Protected: nothing inherited from the parent.
    pub protected: bool,
}

/// `S-1-<authority>-<sub>...` of SID bytes (None if malformed).
pub fn sid_string(b: &[u8]) -> Option<String> {
    let n = usize::from(*b.get(1)?);
    if *b.first()? != 1 || b.len() < 8 + 4 * n {
        return None;
    }
    let auth = b[2..8].iter().fold(0u64, |a, x| (a << 8) | u64::from(*x));
    let mut s = format!("S-1-{auth}");
    for i in 0..n {
        let o = 8 + 4 * i;
        s.push_str(&format!("-{}", u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])));
    }
    Some(s)
}

/// The ACEs of ACL bytes (header included). Only ACCESS_ALLOWED ACEs are modeled.
pub fn parse_acl(b: &[u8]) -> Result<Vec<Ace>, String> {
    let count = usize::from(u16::from_le_bytes([b[4], b[5]]));
    let mut at = 8;
    let mut out = Vec::new();
    for i in 0..count {
        let h = b.get(at..at + 8).ok_or_else(|| format!("ACE {i} past the ACL"))?;
        let size = usize::from(u16::from_le_bytes([h[2], h[3]]));
        if h[0] != 0 {
            return Err(format!("ACE {i}: type {} is not modeled (only ACCESS_ALLOWED)", h[0]));
        }
        let body = b.get(at + 8..at + size).ok_or_else(|| format!("ACE {i} past the ACL"))?;
        let sid = sid_string(body).ok_or_else(|| format!("ACE {i}: malformed SID"))?;
        out.push(Ace { sid, mask: u32::from_le_bytes([h[4], h[5], h[6], h[7]]), flags: h[1] });
        at += size;
    }
    Ok(out)
}

impl Persist {
    /// The DACL that applies to the object at folded path `path` (a canonical file
    /// path or a registry path): its own, else what it inherits from the nearest
    /// ancestor that has one (files take object-inherit ACEs, containers
    /// container-inherit ones). `None`: nothing the driver set applies.
    pub fn effective_dacl(&self, path: &str, container: bool) -> Option<Dacl> {
        let key = path.to_ascii_uppercase();
        if let Some(d) = self.security.get(&key) {
            return Some(d.clone());
        }
        let mut at = key.as_str();
        while let Some(i) = at.rfind('\\') {
            at = &at[..i];
            if let Some(d) = self.security.get(at) {
                let want = if container { CONTAINER_INHERIT } else { OBJECT_INHERIT };
                let aces: Vec<Ace> = d.aces.iter().filter(|a| a.flags & want != 0).cloned().collect();
                return Some(Dacl { aces, protected: false });
            }
        }
        None
    }
}
