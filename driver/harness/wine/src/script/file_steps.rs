//! The file sequences: the LKG store's write/flush/rename/read cycle and its edge
//! cases, every path form, and `list_content`'s listing.

use super::nt::*;
use super::{BASE, Script};

impl<N: Nt> Script<'_, N> {
    pub(super) fn files(&mut self) {
        let b = BASE;
        // ensure_lkg_dir: two FILE_OPEN_IF directory opens, the first creates.
        self.mkdir("F01", "base", b);
        self.mkdir("F02", "base2", b);
        self.close("F03", "base2");
        self.mkdir("F04", "parent", &format!("{b}\\changuard"));
        self.mkdir("F05", "lkg", &format!("{b}\\changuard\\lkg"));
        self.close("F06", "parent");
        let tmp = format!("{b}\\changuard\\lkg\\C-1.tmp");
        let cur = format!("{b}\\changuard\\lkg\\C-1.lkg");
        let data1: Vec<u8> = (0..100u8).collect();
        let data2: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
        // lkg_write_temp -> lkg_flush_temp -> lkg_rename_temp -> lkg_sync, onto nothing.
        self.open_temp("F10", "tmp", &tmp);
        self.write("F11", "tmp", &data1);
        self.flush("F12", "tmp");
        self.rename("F13", "tmp", &cur, true);
        self.flush("F14", "tmp");
        self.flush("F15", "lkg");
        self.close("F16", "tmp");
        // The same again: the temp is new, the rename replaces a closed C-1.lkg.
        self.open_temp("F20", "tmp", &tmp);
        self.write("F21", "tmp", &data2);
        self.flush("F22", "tmp");
        self.rename("F23", "tmp", &cur, true);
        self.close("F24", "tmp");
        // lkg_read / read_content: attributes, size, one read, size again.
        self.open_read("F30", "cur", &cur);
        self.query_info("F31", "cur", FILE_ATTRIBUTE_TAG_INFORMATION, 8);
        self.query_info("F32", "cur", FILE_STANDARD_INFORMATION, 24);
        self.read("F33", "cur", data2.len(), 0);
        self.query_info("F34", "cur", FILE_STANDARD_INFORMATION, 24);
        self.read("F35", "cur", 16, 300);
        self.read("F36", "cur", 1000, 200);
        self.query_info("F37", "cur", FILE_STANDARD_INFORMATION, 4);
        // A second reader shares read; a writer does not get in.
        self.open_read("F38", "cur2", &cur);
        self.close("F39", "cur2");
        self.open(
            "F40",
            "w",
            &cur,
            FILE_GENERIC_WRITE,
            FILE_OPEN,
            FILE_NON_DIRECTORY_FILE,
            FILE_SHARE_READ,
        );
        // Rename onto a target that is open (the reader above): refused.
        self.open_temp("F41", "tmp", &tmp);
        self.write("F42", "tmp", &data1);
        self.rename("F43", "tmp", &cur, true);
        self.close("F44", "cur");
        // Without ReplaceIfExists: collision. Then with it, the target closed.
        self.rename("F45", "tmp", &cur, false);
        self.rename("F46", "tmp", &cur, true);
        // A simple name renames within the directory.
        self.rename("F47", "tmp", "C-1.renamed", true);
        self.rename("F48", "tmp", &tmp, true);
        // The rename's own name: a no-op.
        self.rename("F49", "tmp", &tmp, true);
        // lkg_delete_temp while the temp is open with no sharing: refused.
        self.delete("F50", &tmp);
        self.close("F51", "tmp");
        self.delete("F52", &tmp);
        self.delete("F53", &tmp);
        self.delete("F54", &format!("{b}\\nothere\\C-1.tmp"));
        // lkg_rename_temp's reopen of a temp that is gone.
        self.open(
            "F55",
            "tmp",
            &tmp,
            FILE_GENERIC_WRITE | DELETE,
            FILE_OPEN,
            FILE_NON_DIRECTORY_FILE,
            0,
        );
        // Dispositions on an existing file, and on a missing one.
        self.open(
            "F56",
            "x",
            &cur,
            FILE_GENERIC_WRITE,
            FILE_OVERWRITE_IF,
            FILE_NON_DIRECTORY_FILE,
            0,
        );
        self.close("F57", "x");
        self.open(
            "F58",
            "x",
            &cur,
            FILE_GENERIC_WRITE,
            FILE_SUPERSEDE,
            FILE_NON_DIRECTORY_FILE,
            0,
        );
        self.close("F59", "x");
        self.open(
            "F60",
            "x",
            &cur,
            FILE_GENERIC_WRITE,
            FILE_CREATE,
            FILE_NON_DIRECTORY_FILE,
            0,
        );
        self.open(
            "F61",
            "x",
            &cur,
            FILE_GENERIC_WRITE,
            FILE_OVERWRITE,
            FILE_NON_DIRECTORY_FILE,
            0,
        );
        self.close("F62", "x");
        self.open(
            "F63",
            "x",
            &format!("{b}\\missing.bin"),
            FILE_GENERIC_WRITE,
            FILE_OVERWRITE,
            FILE_NON_DIRECTORY_FILE,
            0,
        );
        self.open(
            "F64",
            "x",
            &format!("{b}\\missing.bin"),
            FILE_GENERIC_READ,
            FILE_OPEN,
            FILE_NON_DIRECTORY_FILE,
            FILE_SHARE_READ,
        );
        self.open_read("F66", "cur", &cur);
        self.query_info("F67", "cur", FILE_STANDARD_INFORMATION, 24);
        self.read("F68", "cur", 16, 0);
        // Flush needs write access.
        self.flush("F69", "cur");
        self.close("F70", "cur");
        // lkg_rename_temp tries FileRenameInformationEx with POSIX semantics first.
        // A scanner holding the LKG copy open with delete sharing: replaced under it.
        self.open_temp("F80", "ptmp", &tmp);
        self.write("F81", "ptmp", &data1);
        self.open(
            "F82",
            "scan",
            &cur,
            FILE_GENERIC_READ,
            FILE_OPEN,
            FILE_NON_DIRECTORY_FILE,
            FILE_SHARE_READ | FILE_SHARE_DELETE,
        );
        self.rename_ex("F83", "ptmp", &cur, 3);
        self.close("F84", "scan");
        self.close("F85", "ptmp");
        // Without delete sharing: refused, as the legacy rename is.
        self.open_temp("F86", "ptmp", &tmp);
        self.open_read("F87", "scan", &cur);
        self.rename_ex("F88", "ptmp", &cur, 3);
        self.close("F89", "scan");
        self.rename_ex("F8A", "ptmp", &cur, 3);
        self.close("F8B", "ptmp");
        // Directory vs file.
        self.open_read("F71", "x", &format!("{b}\\changuard"));
        self.open(
            "F72",
            "x",
            &cur,
            FILE_LIST_DIRECTORY | FILE_TRAVERSE,
            FILE_OPEN,
            FILE_DIRECTORY_FILE,
            FILE_SHARE_READ,
        );
        self.open(
            "F73",
            "x",
            &format!("{b}\\changuard\\newdir"),
            FILE_LIST_DIRECTORY,
            FILE_OPEN_IF,
            FILE_DIRECTORY_FILE | FILE_NON_DIRECTORY_FILE,
            FILE_SHARE_READ,
        );
        self.open(
            "F74",
            "x",
            &format!("{b}\\changuard\\newdir"),
            FILE_LIST_DIRECTORY,
            FILE_OVERWRITE_IF,
            FILE_DIRECTORY_FILE,
            FILE_SHARE_READ,
        );
        self.open(
            "F75",
            "x",
            &format!("{b}\\changuard"),
            FILE_LIST_DIRECTORY,
            FILE_CREATE,
            FILE_DIRECTORY_FILE,
            FILE_SHARE_READ,
        );
        // A relative open through the directory handle.
        self.open_at(
            "F76",
            "rel",
            Some("lkg"),
            "C-1.lkg",
            FILE_GENERIC_READ,
            FILE_OPEN,
            FILE_NON_DIRECTORY_FILE,
            FILE_SHARE_READ,
        );
        self.close("F77", "rel");
        self.close("F78", "lkg");
    }

    /// Each path form the driver builds or refuses, one open each.
    pub(super) fn path_forms(&mut self) {
        let dir = |s: &mut Self, id: &str, path: &str| {
            if s.open(
                id,
                "form",
                path,
                FILE_LIST_DIRECTORY | FILE_TRAVERSE,
                FILE_OPEN,
                FILE_DIRECTORY_FILE,
                FILE_SHARE_READ | FILE_SHARE_WRITE,
            ) {
                s.close(id, "form");
            }
        };
        let file = |s: &mut Self, id: &str, path: &str| {
            if s.open_read(id, "form", path) {
                s.close(id, "form");
            }
        };
        let vol = self.volume.clone();
        let lkg = "changuard-diff\\changuard\\lkg\\C-1.lkg";
        dir(self, "P01", BASE);
        dir(self, "P02", "\\??\\c:\\CHANGUARD-DIFF");
        dir(self, "P03", "\\GLOBAL??\\C:\\changuard-diff");
        dir(self, "P04", "\\DosDevices\\C:\\changuard-diff");
        dir(self, "P05", &format!("{vol}\\changuard-diff"));
        dir(self, "P06", "\\SystemRoot");
        file(self, "P07", &format!("\\??\\C:\\{lkg}"));
        file(self, "P08", &format!("\\GLOBAL??\\C:\\{lkg}"));
        file(self, "P09", &format!("{vol}\\{lkg}"));
        file(
            self,
            "P10",
            &format!("\\??\\C:\\{}", lkg.to_ascii_uppercase()),
        );
        // Names the driver refuses to build: what the system says about them.
        file(self, "P20", &format!("C:\\{lkg}"));
        file(self, "P21", "");
        file(self, "P22", &format!("{BASE}\\changuard\\.\\lkg\\C-1.lkg"));
        file(
            self,
            "P23",
            &format!("{BASE}\\changuard\\..\\changuard\\lkg\\C-1.lkg"),
        );
        file(self, "P24", &format!("{BASE}\\changuard\\lkg\\C-*.lkg"));
        file(self, "P25", &format!("{BASE}\\changuard\\lkg\\C-?.lkg"));
        file(self, "P26", &format!("{BASE}\\changuard\\lkg\\C-1.lkg\\"));
        file(self, "P27", &format!("{BASE}\\changuard\\\\lkg\\C-1.lkg"));
        file(self, "P28", &format!("{BASE}\\nothere\\C-1.lkg"));
        file(self, "P29", &format!("{BASE}\\nothere"));
        file(self, "P30", "\\??\\Q:\\x\\y");
        file(self, "P31", "\\NoSuchRoot\\x");
        file(self, "P32", &format!("{BASE}\\changuard\\lkg\\C-1.lkg\\x"));
        dir(self, "P33", &format!("{BASE}\\changuard\\"));
        file(self, "P34", &format!("{BASE}\\changuard\\lkg\\a<b"));
        file(self, "P35", &format!("{BASE}\\changuard\\lkg\\a|b"));
    }

    /// `list_content` over a content directory, then buffer sizes and modes.
    pub(super) fn listing(&mut self) {
        let c = format!("{BASE}\\content");
        self.mkdir("L01", "cdir", &c);
        self.close("L02", "cdir");
        let names = [
            "C-00000291-00000001.chan",
            "b.chan",
            "A.chan",
            "zz",
            "_x",
            "Mixed-Case.Chan",
            "c-00000002-00000001.chan",
        ];
        for (i, n) in names.iter().enumerate() {
            let id = format!("L{:02}", 3 + i);
            if self.open(
                &id,
                "f",
                &format!("{c}\\{n}"),
                FILE_GENERIC_WRITE,
                FILE_CREATE,
                FILE_NON_DIRECTORY_FILE,
                0,
            ) {
                self.close(&id, "f");
            }
        }
        self.mkdir("L10", "sub", &format!("{c}\\subdir"));
        self.close("L11", "sub");
        let open_dir = |s: &mut Self, id: &str, path: &str| {
            s.open(
                id,
                "dir",
                path,
                FILE_LIST_DIRECTORY | FILE_TRAVERSE,
                FILE_OPEN,
                FILE_DIRECTORY_FILE,
                FILE_SHARE_READ | FILE_SHARE_WRITE,
            )
        };
        open_dir(self, "L20", &c);
        self.list("L21", "dir", 8192, false, true);
        self.list("L22", "dir", 8192, false, false);
        self.list("L23", "dir", 8192, false, false);
        self.list("L24", "dir", 8192, false, true);
        // Single entries, then small buffers: how many entries fit, and a cut first entry.
        self.list("L30", "dir", 8192, true, true);
        self.list("L31", "dir", 8192, true, false);
        self.list("L32", "dir", 8192, true, false);
        self.list("L33", "dir", 40, false, true);
        self.list("L34", "dir", 40, false, false);
        self.list("L35", "dir", 40, false, false);
        self.list("L36", "dir", 40, false, false);
        self.list("L37", "dir", 24, false, false);
        self.list("L38", "dir", 8, false, true);
        self.list("L39", "dir", 12, false, true);
        self.close("L40", "dir");
        // A directory with nothing but . and ..; a missing directory.
        open_dir(self, "L41", &format!("{c}\\subdir"));
        self.list("L42", "dir", 8192, false, true);
        self.list("L43", "dir", 8192, false, false);
        self.close("L44", "dir");
        open_dir(self, "L45", &format!("{BASE}\\nocontent"));
        // Listing through a file handle.
        self.open_read("L46", "f", &format!("{c}\\zz"));
        self.list("L47", "f", 8192, false, true);
        self.close("L48", "f");
    }
}
