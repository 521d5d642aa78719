//! Colour for the verdict words people scan for (`ok`, `REJECTED`), the way
//! clap and miette colour theirs: only when stdout is a terminal and
//! `NO_COLOR` is unset or empty (no-color.org), so pipes, files and CI logs
//! get plain text.

use std::io::IsTerminal;

/// Whether stdout gets colour.
pub fn stdout_coloured() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `word` in bold red when `colour` (a rejection).
pub fn bad(word: &str, colour: bool) -> String {
    paint(word, "1;31", colour)
}

/// `word` in green when `colour` (a pass).
pub fn good(word: &str, colour: bool) -> String {
    paint(word, "32", colour)
}

fn paint(word: &str, sgr: &str, colour: bool) -> String {
    if colour {
        format!("\x1b[{sgr}m{word}\x1b[0m")
    } else {
        word.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_unless_asked() {
        assert_eq!(bad("REJECTED", false), "REJECTED");
        assert_eq!(good("ok", false), "ok");
        assert_eq!(bad("REJECTED", true), "\x1b[1;31mREJECTED\x1b[0m");
        assert_eq!(good("ok", true), "\x1b[32mok\x1b[0m");
    }
}
