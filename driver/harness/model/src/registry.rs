//! The machine's registry: a tree of keys with typed values, case-insensitive
//! names (ASCII folding, as the driver's names are ASCII). Pure data: the NT calls
//! (`ZwCreateKey`, `ZwQueryValueKey`, ...) are in nt.rs.
use std::collections::BTreeMap;

/// `REG_SZ`.
pub const REG_SZ: u32 = 1;
/// `REG_EXPAND_SZ`.
pub const REG_EXPAND_SZ: u32 = 2;
/// `REG_BINARY`.
pub const REG_BINARY: u32 = 3;
/// `REG_DWORD`.
pub const REG_DWORD: u32 = 4;
/// `REG_QWORD`.
pub const REG_QWORD: u32 = 11;

/// The service key the SCM passes to `DriverEntry` as `RegistryPath`.
pub const SERVICE_KEY: &str = "\\Registry\\Machine\\System\\CurrentControlSet\\Services\\changuard";
/// `Parameters` under it (what `WdfDriverOpenParametersRegistryKey` opens).
pub const PARAMETERS_KEY: &str = "\\Registry\\Machine\\System\\CurrentControlSet\\Services\\changuard\\Parameters";

/// One value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// Name as written.
    pub name: String,
    /// `REG_*` type.
    pub ty: u32,
    /// Raw data.
    pub data: Vec<u8>,
}

/// One key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Key {
    /// Full path as created.
    pub path: String,
    /// Values by upper-cased name.
    pub values: BTreeMap<String, Value>,
    /// Flushes (`ZwFlushKey`) since the machine was built.
    pub flushes: u64,
}

/// The registry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registry {
    /// Keys by upper-cased full path.
    pub keys: BTreeMap<String, Key>,
}

/// Case-folded lookup key of a path or value name.
pub fn fold(s: &str) -> String {
    s.to_ascii_uppercase()
}

/// Splits `path` into its parent and leaf (None for `\Registry`).
pub fn parent(path: &str) -> Option<&str> {
    let i = path.rfind('\\')?;
    if i == 0 { None } else { Some(&path[..i]) }
}

impl Registry {
    /// A registry with the keys every machine has, up to the service key
    /// (created by the driver's installation).
    pub fn with_service() -> Self {
        let mut r = Self::default();
        r.create_path(SERVICE_KEY);
        r
    }

    /// The key at `path`.
    pub fn key(&self, path: &str) -> Option<&Key> {
        self.keys.get(&fold(path))
    }

    /// The key at `path`, mutable.
    pub fn key_mut(&mut self, path: &str) -> Option<&mut Key> {
        self.keys.get_mut(&fold(path))
    }

    /// Creates `path` and every missing ancestor (test setup, not an NT call).
    pub fn create_path(&mut self, path: &str) {
        let mut at = 0;
        while let Some(i) = path[at + 1..].find('\\') {
            let p = &path[..at + 1 + i];
            self.keys.entry(fold(p)).or_insert_with(|| Key { path: p.to_string(), ..Key::default() });
            at += 1 + i;
        }
        self.keys.entry(fold(path)).or_insert_with(|| Key { path: path.to_string(), ..Key::default() });
    }

    /// Creates one key whose parent exists (`ZwCreateKey` semantics): `Some(created)`,
    /// or `None` when the parent is missing.
    pub fn create_key(&mut self, path: &str) -> Option<bool> {
        if self.key(path).is_some() {
            return Some(false);
        }
        let p = parent(path)?;
        self.key(p)?;
        self.keys.insert(fold(path), Key { path: path.to_string(), ..Key::default() });
        Some(true)
    }

    /// Removes a key and its subkeys (test setup).
    pub fn delete_tree(&mut self, path: &str) {
        let f = fold(path);
        let prefix = format!("{f}\\");
        self.keys.retain(|k, _| *k != f && !k.starts_with(&prefix));
    }

    /// Sets a value, creating the key path (test setup).
    pub fn set(&mut self, path: &str, name: &str, ty: u32, data: &[u8]) {
        self.create_path(path);
        if let Some(k) = self.key_mut(path) {
            k.values.insert(fold(name), Value { name: name.to_string(), ty, data: data.to_vec() });
        }
    }

    /// Sets a `REG_SZ` (UTF-16LE, NUL-terminated).
    pub fn set_sz(&mut self, path: &str, name: &str, s: &str) {
        self.set(path, name, REG_SZ, &sz(s));
    }

    /// Sets a `REG_DWORD`.
    pub fn set_dword(&mut self, path: &str, name: &str, v: u32) {
        self.set(path, name, REG_DWORD, &v.to_le_bytes());
    }

    /// A value.
    pub fn value(&self, path: &str, name: &str) -> Option<&Value> {
        self.key(path)?.values.get(&fold(name))
    }

    /// A `REG_DWORD` value.
    pub fn dword(&self, path: &str, name: &str) -> Option<u32> {
        let v = self.value(path, name)?;
        (v.ty == REG_DWORD && v.data.len() == 4).then(|| u32::from_le_bytes([v.data[0], v.data[1], v.data[2], v.data[3]]))
    }

    /// A `REG_SZ` value, decoded (up to the first NUL).
    pub fn string(&self, path: &str, name: &str) -> Option<String> {
        let v = self.value(path, name)?;
        if v.ty != REG_SZ && v.ty != REG_EXPAND_SZ {
            return None;
        }
        let units: Vec<u16> = v.data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).take_while(|u| *u != 0).collect();
        Some(String::from_utf16_lossy(&units))
    }

    /// The direct subkeys of `path` (leaf names).
    pub fn subkeys(&self, path: &str) -> Vec<String> {
        let prefix = format!("{}\\", fold(path));
        self.keys
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix) && !k[prefix.len()..].contains('\\'))
            .map(|(_, v)| v.path.rsplit('\\').next().unwrap_or("").to_string())
            .collect()
    }
}

/// UTF-16LE bytes of `s` with a terminating NUL (`REG_SZ` data).
pub fn sz(s: &str) -> Vec<u8> {
    s.encode_utf16().chain(std::iter::once(0)).flat_map(u16::to_le_bytes).collect()
}
