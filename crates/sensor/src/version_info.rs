//! The version resource of a PE image: the strings Sigma rules test when a
//! binary may have been renamed (`OriginalFileName`, `Company`, `Product`,
//! `Description`, `FileVersion`).
//!
//! The file is untrusted (any process can start any file), so parsing is
//! total: every read is bounds-checked, every length is checked against its
//! container, every loop is bounded by the bytes it walks and the nesting by
//! a constant; malformed input is `None`, never a panic.
//!
//! Two stages, so a kernel caller reads little of the file:
//! 1. [`resource_section`] from the headers (the first [`HEADERS_LEN`] bytes)
//!    gives the file range of the section holding the resource directory;
//! 2. [`strings`] from that section's bytes finds `RT_VERSION` and reads the
//!    first string table of its `VS_VERSIONINFO`.
//!
//! The strings are returned as UTF-16LE byte slices of the section; the
//! caller transcodes them (`changuard_interp::text`).
//!
//! References: the PE/COFF specification (headers, section table, resource
//! directory) and the `VS_VERSIONINFO` / `StringFileInfo` / `StringTable` /
//! `String` layouts of the Windows SDK (verrsrc.h).

/// Bytes of the file [`resource_section`] needs at most: DOS header, PE
/// headers and the section table fit here for every image the kernel loads
/// (`SizeOfHeaders` is a file-alignment multiple, 1 KiB in practice).
pub const HEADERS_LEN: usize = 4096;

/// Largest resource section [`strings`] is given (larger ones are not read).
pub const MAX_SECTION_LEN: usize = 4 * 1024 * 1024;

/// `RT_VERSION`.
const RT_VERSION: u32 = 16;

/// Where the resource directory lives in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceSection {
    /// File offset of the section's raw data.
    pub file_offset: u32,
    /// Bytes of raw data (at most [`MAX_SECTION_LEN`]).
    pub len: u32,
    /// The section's virtual address (RVAs inside it are relative to the image).
    pub rva: u32,
    /// The resource directory's RVA (inside the section).
    pub directory_rva: u32,
}

/// The version strings found (UTF-16LE bytes, without the terminating NUL).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VersionStrings<'a> {
    pub original_filename: Option<&'a [u8]>,
    pub company_name: Option<&'a [u8]>,
    pub product_name: Option<&'a [u8]>,
    pub file_description: Option<&'a [u8]>,
    pub file_version: Option<&'a [u8]>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*s.first()?, *s.get(1)?]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Some(u32::from_le_bytes(a))
}

fn usize_of(v: u32) -> Option<usize> {
    usize::try_from(v).ok()
}

/// The section holding the resource directory, from the file's first bytes
/// (`headers`, at most [`HEADERS_LEN`] are looked at). `None` if the file is
/// not a PE image, has no resource directory, or the directory is not inside
/// a section's raw data of at most [`MAX_SECTION_LEN`] bytes.
pub fn resource_section(headers: &[u8]) -> Option<ResourceSection> {
    let h = headers.get(..headers.len().min(HEADERS_LEN))?;
    if h.get(..2)? != b"MZ" {
        return None;
    }
    let pe = usize_of(u32_at(h, 0x3C)?)?;
    if h.get(pe..pe.checked_add(4)?)? != b"PE\0\0" {
        return None;
    }
    let coff = pe.checked_add(4)?;
    let sections = usize::from(u16_at(h, coff.checked_add(2)?)?);
    let opt_len = usize::from(u16_at(h, coff.checked_add(16)?)?);
    let opt = coff.checked_add(20)?;
    // PE32 and PE32+ differ in where the data directories start.
    let (count_at, dirs_at) = match u16_at(h, opt)? {
        0x10b => (92, 96),
        0x20b => (108, 112),
        _ => return None,
    };
    let dir_count = usize_of(u32_at(h, opt.checked_add(count_at)?)?)?;
    if dir_count <= 2 {
        return None; // no resource directory entry
    }
    let entry = opt.checked_add(dirs_at)?.checked_add(2 * 8)?;
    if entry.checked_add(8)? > opt.checked_add(opt_len)? {
        return None;
    }
    let directory_rva = u32_at(h, entry)?;
    if directory_rva == 0 || u32_at(h, entry.checked_add(4)?)? == 0 {
        return None;
    }
    let table = opt.checked_add(opt_len)?;
    for k in 0..sections {
        let s = table.checked_add(k.checked_mul(40)?)?;
        let virtual_size = u32_at(h, s.checked_add(8)?)?;
        let rva = u32_at(h, s.checked_add(12)?)?;
        let raw_len = u32_at(h, s.checked_add(16)?)?;
        let raw_at = u32_at(h, s.checked_add(20)?)?;
        let end = rva.checked_add(virtual_size.max(raw_len))?;
        if rva <= directory_rva && directory_rva < end {
            if usize_of(raw_len)? > MAX_SECTION_LEN || directory_rva.checked_sub(rva)? >= raw_len {
                return None;
            }
            return Some(ResourceSection {
                file_offset: raw_at,
                len: raw_len,
                rva,
                directory_rva,
            });
        }
    }
    None
}

/// The version strings of the image whose resource section is `section`
/// (its raw bytes, as [`resource_section`] located them).
pub fn strings<'a>(at: &ResourceSection, section: &'a [u8]) -> Option<VersionStrings<'a>> {
    let root = usize_of(at.directory_rva.checked_sub(at.rva)?)?;
    let dir = section.get(root..)?;
    // Type RT_VERSION, then its first name, then its first language.
    let names = subdirectory(dir, find_entry(dir, 0, Some(RT_VERSION))?)?;
    let langs = subdirectory(dir, find_entry(dir, names, None)?)?;
    let leaf = find_entry(dir, langs, None)?;
    if leaf & 0x8000_0000 != 0 {
        return None; // a directory where the data entry should be
    }
    let data_entry = usize_of(leaf)?;
    let data_rva = u32_at(dir, data_entry)?;
    let data_len = usize_of(u32_at(dir, data_entry.checked_add(4)?)?)?;
    let start = usize_of(data_rva.checked_sub(at.rva)?)?;
    let block = section.get(start..start.checked_add(data_len)?)?;
    version_info(block)
}

/// The entry of the directory at `dir[at..]` whose id is `id` (or its first
/// entry when `id` is `None`): the entry's `OffsetToData`.
fn find_entry(dir: &[u8], at: usize, id: Option<u32>) -> Option<u32> {
    let named = usize::from(u16_at(dir, at.checked_add(12)?)?);
    let ids = usize::from(u16_at(dir, at.checked_add(14)?)?);
    let first = at.checked_add(16)?;
    let total = named.checked_add(ids)?;
    if total == 0 {
        return None;
    }
    let Some(want) = id else {
        return u32_at(dir, first.checked_add(4)?);
    };
    // Id entries follow the named ones.
    for k in named..total {
        let e = first.checked_add(k.checked_mul(8)?)?;
        if u32_at(dir, e)? == want {
            return u32_at(dir, e.checked_add(4)?);
        }
    }
    None
}

/// A subdirectory's offset from an entry's `OffsetToData` (high bit set).
fn subdirectory(dir: &[u8], offset_to_data: u32) -> Option<usize> {
    if offset_to_data & 0x8000_0000 == 0 {
        return None;
    }
    let at = usize_of(offset_to_data & 0x7FFF_FFFF)?;
    // The 16-byte header must be there.
    dir.get(at..at.checked_add(16)?)?;
    Some(at)
}

/// One node of the version tree (`VS_VERSIONINFO`, `StringFileInfo`,
/// `StringTable`, `String`): its key, its value bytes, its children.
struct Node<'a> {
    key: &'a [u8],
    value: &'a [u8],
    children: &'a [u8],
}

/// Round up to the 32-bit alignment the version tree uses.
fn align4(n: usize) -> Option<usize> {
    Some(n.checked_add(3)? & !3)
}

/// The node at the start of `b` (and its total length, rounded to 4).
/// `text_value`: `wValueLength` counts UTF-16 units (String nodes).
fn node(b: &[u8], text_value: bool) -> Option<(Node<'_>, usize)> {
    let len = usize::from(u16_at(b, 0)?);
    let value_len = usize::from(u16_at(b, 2)?);
    let node = b.get(..len)?;
    // The key: UTF-16 up to its NUL.
    let mut end = 6;
    loop {
        let u = u16_at(node, end)?;
        end = end.checked_add(2)?;
        if u == 0 {
            break;
        }
    }
    let key = node.get(6..end.checked_sub(2)?)?;
    let value_at = align4(end)?;
    let value_bytes = if text_value {
        value_len.checked_mul(2)?
    } else {
        value_len
    };
    let value_end = value_at.checked_add(value_bytes)?.min(len);
    let value = node.get(value_at.min(len)..value_end)?;
    let children = node.get(align4(value_end)?.min(len)..)?;
    Some((
        Node {
            key,
            value,
            children,
        },
        align4(len)?,
    ))
}

/// The nodes of a children area, in order.
fn each_node<'a>(mut b: &'a [u8], text_value: bool, mut f: impl FnMut(Node<'a>)) {
    // Each node is at least 6 bytes, so this ends within b.len() / 6 rounds.
    while b.len() >= 6 {
        let Some((n, len)) = node(b, text_value) else {
            return;
        };
        if len == 0 {
            return;
        }
        f(n);
        b = b.get(len..).unwrap_or(&[]);
    }
}

/// `key` (UTF-16LE bytes) is `want` (ASCII).
fn key_is(key: &[u8], want: &str) -> bool {
    key.len() == want.len().saturating_mul(2)
        && key
            .chunks_exact(2)
            .zip(want.bytes())
            .all(|(u, c)| u == [c, 0])
}

/// The strings of a `VS_VERSIONINFO` block: its first `StringTable`.
pub fn version_info(block: &[u8]) -> Option<VersionStrings<'_>> {
    let (root, _) = node(block, false)?;
    if !key_is(root.key, "VS_VERSION_INFO") {
        return None;
    }
    let mut out = VersionStrings::default();
    let mut found = false;
    each_node(root.children, false, |file_info| {
        if found || !key_is(file_info.key, "StringFileInfo") {
            return;
        }
        each_node(file_info.children, false, |table| {
            if found {
                return;
            }
            found = true;
            each_node(table.children, true, |s| {
                // The value ends at its NUL (wValueLength includes it, usually).
                let nul = s.value.chunks_exact(2).position(|u| u == [0, 0]);
                let text = nul
                    .and_then(|n| s.value.get(..n.checked_mul(2)?))
                    .unwrap_or(s.value);
                let slot = match () {
                    () if key_is(s.key, "OriginalFilename") => &mut out.original_filename,
                    () if key_is(s.key, "CompanyName") => &mut out.company_name,
                    () if key_is(s.key, "ProductName") => &mut out.product_name,
                    () if key_is(s.key, "FileDescription") => &mut out.file_description,
                    () if key_is(s.key, "FileVersion") => &mut out.file_version,
                    () => return,
                };
                if slot.is_none() {
                    *slot = Some(text);
                }
            });
        });
    });
    found.then_some(out)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use alloc::string::String;
    use alloc::vec;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    fn pad4(b: &mut Vec<u8>) {
        while b.len() % 4 != 0 {
            b.push(0);
        }
    }

    /// One version-tree node as verrsrc.h lays it out.
    fn vnode(key: &str, value: &[u8], value_len: u16, text: bool, children: &[Vec<u8>]) -> Vec<u8> {
        let mut b = vec![0, 0];
        b.extend_from_slice(&value_len.to_le_bytes());
        b.extend_from_slice(&u16::from(text).to_le_bytes());
        b.extend(utf16(key));
        b.extend([0, 0]);
        pad4(&mut b);
        b.extend_from_slice(value);
        for c in children {
            pad4(&mut b);
            b.extend_from_slice(c);
        }
        let len = u16::try_from(b.len()).unwrap().to_le_bytes();
        b[..2].copy_from_slice(&len);
        b
    }

    fn string(key: &str, text: &str) -> Vec<u8> {
        let mut v = utf16(text);
        v.extend([0, 0]);
        vnode(
            key,
            &v,
            u16::try_from(text.encode_utf16().count() + 1).unwrap(),
            true,
            &[],
        )
    }

    fn version_block(strings: &[(&str, &str)]) -> Vec<u8> {
        let strs: Vec<Vec<u8>> = strings.iter().map(|(k, v)| string(k, v)).collect();
        let table = vnode("040904b0", &[], 0, true, &strs);
        let sfi = vnode("StringFileInfo", &[], 0, true, &[table]);
        let var = vnode("VarFileInfo", &[], 0, true, &[]);
        vnode(
            "VS_VERSION_INFO",
            &[0xBD, 0x04, 0xEF, 0xFE].repeat(13),
            52,
            false,
            &[sfi, var],
        )
    }

    /// A PE32+ image with one `.rsrc` section holding `block` as RT_VERSION.
    fn pe(block: &[u8]) -> Vec<u8> {
        let rva = 0x1000u32;
        let mut sec = Vec::new();
        let dir = |sec: &mut Vec<u8>, id: u32, off: u32| {
            sec.extend([0u8; 12]);
            sec.extend(0u16.to_le_bytes());
            sec.extend(1u16.to_le_bytes());
            sec.extend(id.to_le_bytes());
            sec.extend(off.to_le_bytes());
        };
        dir(&mut sec, 16, 0x8000_0018);
        dir(&mut sec, 1, 0x8000_0030);
        dir(&mut sec, 0x409, 0x48);
        sec.extend((rva + 0x58).to_le_bytes());
        sec.extend(u32::try_from(block.len()).unwrap().to_le_bytes());
        sec.extend([0u8; 8]);
        sec.extend_from_slice(block);
        let mut f = vec![0u8; 0x40];
        f[..2].copy_from_slice(b"MZ");
        f[0x3C..0x40].copy_from_slice(&0x40u32.to_le_bytes());
        f.extend(b"PE\0\0");
        let mut coff = [0u8; 20];
        coff[..2].copy_from_slice(&0x8664u16.to_le_bytes());
        coff[2..4].copy_from_slice(&1u16.to_le_bytes());
        coff[16..18].copy_from_slice(&240u16.to_le_bytes());
        f.extend(coff);
        let mut opt = [0u8; 240];
        opt[..2].copy_from_slice(&0x20bu16.to_le_bytes());
        opt[108..112].copy_from_slice(&16u32.to_le_bytes());
        opt[128..132].copy_from_slice(&rva.to_le_bytes());
        opt[132..136].copy_from_slice(&u32::try_from(sec.len()).unwrap().to_le_bytes());
        f.extend(opt);
        let mut sh = [0u8; 40];
        sh[..5].copy_from_slice(b".rsrc");
        let n = u32::try_from(sec.len()).unwrap();
        sh[8..12].copy_from_slice(&n.to_le_bytes());
        sh[12..16].copy_from_slice(&rva.to_le_bytes());
        sh[16..20].copy_from_slice(&n.to_le_bytes());
        sh[20..24].copy_from_slice(&0x200u32.to_le_bytes());
        f.extend(sh);
        f.resize(0x200, 0);
        f.extend(sec);
        f
    }

    fn read(file: &[u8]) -> Option<VersionStrings<'_>> {
        let at = resource_section(file)?;
        let start = usize_of(at.file_offset)?;
        strings(&at, file.get(start..start + usize_of(at.len)?)?)
    }

    fn text(b: Option<&[u8]>) -> Option<String> {
        let units: Vec<u16> = b?
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        Some(String::from_utf16_lossy(&units))
    }

    const NOTEPAD: &[(&str, &str)] = &[
        ("CompanyName", "Microsoft Corporation"),
        ("FileDescription", "Notepad"),
        ("FileVersion", "10.0.26100.1 (WinBuild.160101.0800)"),
        ("InternalName", "Notepad"),
        ("OriginalFilename", "NOTEPAD.EXE.MUI"),
        ("ProductName", "Microsoft® Windows® Operating System"),
    ];

    #[test]
    fn a_pe_gives_its_version_strings() {
        let f = pe(&version_block(NOTEPAD));
        let v = read(&f).expect("version strings");
        assert_eq!(text(v.original_filename).unwrap(), "NOTEPAD.EXE.MUI");
        assert_eq!(text(v.company_name).unwrap(), "Microsoft Corporation");
        assert_eq!(
            text(v.product_name).unwrap(),
            "Microsoft® Windows® Operating System"
        );
        assert_eq!(text(v.file_description).unwrap(), "Notepad");
        assert_eq!(
            text(v.file_version).unwrap(),
            "10.0.26100.1 (WinBuild.160101.0800)"
        );
    }

    #[test]
    fn what_is_missing_is_none() {
        let f = pe(&version_block(&[("CompanyName", "Contoso")]));
        let v = read(&f).unwrap();
        assert_eq!(text(v.company_name).unwrap(), "Contoso");
        assert_eq!(v.original_filename, None);
        // Not a PE, no resource directory, a block that is not VS_VERSION_INFO.
        assert_eq!(resource_section(b"MZ"), None);
        assert_eq!(resource_section(&[0u8; 512]), None);
        let mut other = version_block(NOTEPAD);
        other[6] = b'X';
        assert_eq!(read(&pe(&other)), None);
    }

    #[test]
    fn every_truncation_is_none_or_a_prefix_not_a_panic() {
        let f = pe(&version_block(NOTEPAD));
        for n in 0..f.len() {
            let _ = read(&f[..n]);
            let _ = version_info(&version_block(NOTEPAD)[..n.min(version_block(NOTEPAD).len())]);
        }
    }

    /// Wine's PE images, when this machine has them: a real toolchain's
    /// layout. Every file parses or is `None` (no panic); the ones Wine gives
    /// a version resource (its DLLs and conhost.exe; notepad.exe has none)
    /// give their strings.
    #[test]
    fn wine_images_parse_when_present() {
        let dir = std::path::Path::new("/usr/lib/x86_64-linux-gnu/wine/x86_64-windows");
        let Ok(entries) = std::fs::read_dir(dir) else {
            std::println!("SKIPPED: no Wine PE images on this machine");
            return;
        };
        let mut with_strings = 0;
        for e in entries {
            let f = std::fs::read(e.unwrap().path()).unwrap();
            with_strings += usize::from(read(&f).is_some_and(|v| v.file_description.is_some()));
        }
        let conhost = std::fs::read(dir.join("conhost.exe")).unwrap();
        let v = read(&conhost).expect("conhost.exe has a version resource");
        let name = text(v.original_filename).unwrap();
        assert!(name.eq_ignore_ascii_case("conhost.exe"), "{name}");
        assert!(
            text(v.file_description).is_some_and(|d| !d.is_empty()),
            "{v:?}"
        );
        assert!(text(v.company_name).is_some_and(|d| !d.is_empty()), "{v:?}");
        assert!(no_notepad_version(dir));
        std::println!("{with_strings} Wine images with version strings");
        assert!(with_strings > 100, "{with_strings}");
    }

    fn no_notepad_version(dir: &std::path::Path) -> bool {
        std::fs::read(dir.join("notepad.exe")).is_ok_and(|f| read(&f).is_none())
    }

    proptest! {
        #[test]
        fn corrupted_images_never_panic(flips in proptest::collection::vec((0usize..1200, any::<u8>()), 1..8)) {
            let mut f = pe(&version_block(NOTEPAD));
            for (at, b) in flips {
                let n = f.len();
                f[at % n] = b;
            }
            if let Some(v) = read(&f) {
                for s in [v.original_filename, v.company_name, v.product_name, v.file_description, v.file_version] {
                    prop_assert!(s.is_none_or(|s| s.len() <= f.len()));
                }
            }
        }
    }
}
