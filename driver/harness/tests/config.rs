//! Configuration as the machine holds it: values the INF installs, oversized
//! values (ZwQueryValueKey's STATUS_BUFFER_OVERFLOW path), DOS-style content
//! directories (the object manager's STATUS_OBJECT_PATH_SYNTAX_BAD).
mod common;

use changuard_control::status::{DRIVER_FLAG_CONFIG_DEFAULTED, Source};
use changuard_kmodel::Machine;
use changuard_kmodel::registry::REG_SZ;
use common::content::channels;
use common::{ENTRY, PARAMETERS_KEY, status};

/// Parameters as inf/changuard.inx's [Changuard_Parameters] AddReg lines write them
/// (`HKR,Parameters,<name>,<flags>,<value>`: 0x00000000 = REG_SZ, 0x00010001 = REG_DWORD).
fn inf_machine() -> Machine {
    let inf = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../inf/changuard.inx")).expect("inf/changuard.inx");
    let mut m = Machine::new();
    let mut in_section = false;
    let mut n = 0;
    for line in inf.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_section = l.eq_ignore_ascii_case("[Changuard_Parameters]");
            continue;
        }
        if !in_section || l.is_empty() || l.starts_with(';') {
            continue;
        }
        let f: Vec<&str> = l.splitn(5, ',').map(str::trim).collect();
        assert_eq!(f.len(), 5, "AddReg line {l:?}");
        assert!(f[0].eq_ignore_ascii_case("HKR") && f[1].eq_ignore_ascii_case("Parameters"), "{l:?}");
        let value = f[4].trim_matches('"');
        match f[3] {
            "0x00000000" => m.persist.registry.set_sz(PARAMETERS_KEY, f[2], value),
            "0x00010001" => m.persist.registry.set_dword(PARAMETERS_KEY, f[2], value.parse().expect("dword")),
            other => panic!("AddReg flags {other} not handled"),
        }
        n += 1;
    }
    assert!(n >= 4, "no [Changuard_Parameters] values found in the INF");
    m
}

#[test]
fn inf_content_directory_loads_content() {
    let mut m = inf_machine();
    for (name, bytes) in channels(1).into_iter().take(3) {
        m.persist.fs.write(&format!("\\SystemRoot\\changuard\\content\\{name}"), &bytes);
    }
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        let st = status(s);
        assert_eq!(st.channels().len(), 3);
        assert!(st.channels().iter().all(|c| c.source == Source::Candidate), "{st:?}");
        assert_eq!(s.next_timer_in(), Some(300));
        s.unload();
    });
    r.assert_clean();
}

/// Every value the INF installs is one the loader accepts (no configuration
/// problem recorded, DRIVER_FLAG_CONFIG_DEFAULTED clear). Failed at 902b196 (the
/// INF's Policy "newest" was not a keyword); fixed in 8024840.
#[test]
fn inf_parameters_are_accepted_without_defaulting() {
    let mut m = inf_machine();
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        assert_eq!(status(s).driver.flags & DRIVER_FLAG_CONFIG_DEFAULTED, 0, "INF defaults rejected");
        s.unload();
    });
    r.assert_clean();
}

/// A ContentDirectory value longer than the loader's buffer: ZwQueryValueKey
/// returns STATUS_BUFFER_OVERFLOW with partial data; the driver reports the full
/// length, the loader refuses it and uses the default directory.
#[test]
fn oversized_registry_value_takes_the_overflow_path() {
    let mut m = Machine::new();
    let long = format!("\\SystemRoot\\changuard\\{}", "d".repeat(600));
    m.persist.registry.set(PARAMETERS_KEY, "ContentDirectory", REG_SZ, &changuard_kmodel::registry::sz(&long));
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        assert_ne!(status(s).driver.flags & DRIVER_FLAG_CONFIG_DEFAULTED, 0);
        s.unload();
    });
    r.assert_clean();
}

/// The loader accepts `X:\...` content directories; the driver must hand ZwCreateFile
/// an NT object name: a DOS path with no RootDirectory gets
/// STATUS_OBJECT_PATH_SYNTAX_BAD from the object manager (the model does the same), and
/// the directory would never be read. Failed at 902b196 (reason dir-unreadable, 202);
/// fixed in 8024840 (`\GLOBAL??\C:\...`).
#[test]
fn dos_content_directory_loads_content() {
    let mut m = Machine::new();
    m.persist.registry.set_sz(PARAMETERS_KEY, "ContentDirectory", "C:\\ProgramData\\changuard\\Content");
    for (name, bytes) in channels(1).into_iter().take(2) {
        m.persist.fs.write(&format!("C:\\ProgramData\\changuard\\Content\\{name}"), &bytes);
    }
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        let st = status(s);
        assert_eq!(st.channels().len(), 2, "{st:?}");
        s.unload();
    });
    r.assert_clean();
}

/// The loader's built-in default directory (no ContentDirectory value) is a DOS path too.
#[test]
fn default_content_directory_loads_content() {
    let mut m = Machine::new();
    for (name, bytes) in channels(1).into_iter().take(2) {
        m.persist.fs.write(&format!("{}\\{name}", changuard_loader::config::DEFAULT_CONTENT_DIR), &bytes);
    }
    let r = m.boot(10, |s| {
        assert_eq!(s.driver_entry(ENTRY), 0);
        assert_eq!(status(s).channels().len(), 2);
        s.unload();
    });
    r.assert_clean();
}
