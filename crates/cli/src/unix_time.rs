//! Times and durations as release records store them (Unix seconds, UTC) and
//! as operators write them: RFC 3339 (`2026-12-01T04:09:00Z`, or with an
//! offset `+02:00`) or a bare integer of Unix seconds; durations `90s`,
//! `30m`, `6h`, `2d`.
//!
//! Hand-written rather than a dependency: the records hold whole seconds
//! since 1970 in UTC, so all that is needed is the civil-date conversion
//! (Howard Hinnant's `days_from_civil` / `civil_from_days`), no time zones,
//! no leap-second tables, no calendar arithmetic.

/// Seconds in a minute, hour and day.
const MINUTE: u64 = 60;
const HOUR: u64 = 3600;
const DAY: u64 = 86_400;

/// Days from 1970-01-01 to `y-m-d` (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month, day)` of day `z` since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `secs` as RFC 3339 UTC, `2026-12-01T04:09:00Z` (years past 9999 print
/// with more digits; the records allow any `u64`).
pub fn format_rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / DAY).unwrap_or(i64::MAX / 2);
    let rem = secs % DAY;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / HOUR,
        rem % HOUR / MINUTE,
        rem % MINUTE
    )
}

/// A time as the tools accept it: Unix seconds (`1780000000`) or RFC 3339
/// with `Z` or a `+HH:MM`/`-HH:MM` offset, whole seconds only.
///
/// # Errors
/// What is wrong with `s`, in words.
pub fn parse_time(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u64>()
            .map_err(|_| format!("`{s}`: Unix seconds must fit in 64 bits"));
    }
    parse_rfc3339(s).map_err(|why| {
        format!("`{s}`: {why} (write RFC 3339 such as 2026-12-01T04:09:00Z, or Unix seconds)")
    })
}

fn parse_rfc3339(s: &str) -> Result<u64, String> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>, what: &str| -> Result<u32, String> {
        let part = s
            .get(r)
            .filter(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()))
            .ok_or_else(|| format!("expected the {what} as digits"))?;
        part.parse::<u32>().map_err(|_| format!("bad {what}"))
    };
    let sep = |i: usize, want: &[u8], what: &str| -> Result<(), String> {
        match b.get(i) {
            Some(c) if want.contains(c) => Ok(()),
            _ => Err(format!("expected {what} at character {}", i + 1)),
        }
    };
    if b.len() < 19 {
        return Err("too short for a date and time".into());
    }
    let year = digits(0..4, "year")?;
    sep(4, b"-", "`-`")?;
    let month = digits(5..7, "month")?;
    sep(7, b"-", "`-`")?;
    let day = digits(8..10, "day")?;
    sep(10, b"Tt ", "`T`")?;
    let hour = digits(11..13, "hour")?;
    sep(13, b":", "`:`")?;
    let minute = digits(14..16, "minute")?;
    sep(16, b":", "`:`")?;
    let second = digits(17..19, "second")?;
    if year < 1970 {
        return Err("before 1970: not representable in Unix seconds".into());
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year.into(), month) {
        return Err(format!("no such date {year:04}-{month:02}-{day:02}"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err("hour, minute or second out of range (leap seconds are not accepted)".into());
    }
    let offset: i64 = match b.get(19..) {
        Some([b'Z' | b'z']) => 0,
        Some([b'.', ..]) => {
            return Err("fractional seconds: release records hold whole seconds".into());
        }
        Some([sign @ (b'+' | b'-'), _, _, b':', _, _]) => {
            let h = digits(20..22, "offset hours")?;
            let m = digits(23..25, "offset minutes")?;
            if h > 23 || m > 59 {
                return Err("offset out of range".into());
            }
            let off = i64::from(h * 3600 + m * 60);
            if *sign == b'+' { off } else { -off }
        }
        _ => return Err("expected `Z` or an offset `+HH:MM` after the seconds".into()),
    };
    let days = days_from_civil(year.into(), month, day);
    let local = days * DAY as i64
        + i64::from(hour) * HOUR as i64
        + i64::from(minute) * MINUTE as i64
        + i64::from(second);
    u64::try_from(local - offset).map_err(|_| "before 1970-01-01T00:00:00Z".to_string())
}

/// A duration: a whole number and a unit, `s`, `m`, `h` or `d` (`0h`, `90m`).
///
/// # Errors
/// What is wrong with `s`.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{s}`: a duration needs a unit: s, m, h or d (as in 6h)"))?;
    let (n, unit) = s.split_at(split);
    let unit_secs = match unit {
        "s" => 1,
        "m" => MINUTE,
        "h" => HOUR,
        "d" => DAY,
        _ => {
            return Err(format!(
                "`{s}`: unknown unit `{unit}` (use s, m, h or d, after a whole number)"
            ));
        }
    };
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}`: expected a whole number before the unit"))?;
    n.checked_mul(unit_secs)
        .ok_or_else(|| format!("`{s}`: too long"))
}

/// `secs` in the largest unit that divides it (`6h`, `90m`, `0h`).
pub fn format_duration(secs: u64) -> String {
    match secs {
        0 => "0h".into(),
        s if s % DAY == 0 && s >= 2 * DAY => format!("{}d", s / DAY),
        s if s % HOUR == 0 => format!("{}h", s / HOUR),
        s if s % MINUTE == 0 => format!("{}m", s / MINUTE),
        s => format!("{s}s"),
    }
}

/// A span for people: `89d 8h 41m`, `17h`, `45s` (seconds shown only
/// under an hour).
pub fn format_span(secs: u64) -> String {
    let (d, h, m, s) = (
        secs / DAY,
        secs % DAY / HOUR,
        secs % HOUR / MINUTE,
        secs % MINUTE,
    );
    let mut parts = Vec::new();
    for (n, unit) in [(d, "d"), (h, "h"), (m, "m")] {
        if n > 0 {
            parts.push(format!("{n}{unit}"));
        }
    }
    if secs < HOUR && (s > 0 || parts.is_empty()) {
        parts.push(format!("{s}s"));
    }
    parts.join(" ")
}

/// Now, in Unix seconds.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_time("2026-12-01T04:09:00Z"), Ok(1_796_098_140));
        assert_eq!(format_rfc3339(1_796_098_140), "2026-12-01T04:09:00Z");
        assert_eq!(parse_time("2026-12-01T06:09:00+02:00"), Ok(1_796_098_140));
        assert_eq!(parse_time("2026-12-01 04:09:00z"), Ok(1_796_098_140));
        assert_eq!(parse_time("1796098140"), Ok(1_796_098_140));
        assert_eq!(parse_time("2024-02-29T23:59:59Z"), Ok(1_709_251_199));
        for secs in [
            0u64,
            59,
            86_399,
            951_782_400,
            1_709_251_199,
            4_102_444_800,
            253_402_300_799,
        ] {
            assert_eq!(parse_time(&format_rfc3339(secs)), Ok(secs), "{secs}");
        }
        assert_eq!(format_rfc3339(253_402_300_800), "10000-01-01T00:00:00Z");
        assert!(format_rfc3339(u64::MAX).ends_with("T07:00:15Z"));
    }

    #[test]
    fn bad_times_say_why() {
        for (s, why) in [
            ("2025-02-29T00:00:00Z", "no such date"),
            ("2026-12-01T04:09:00", "after the seconds"),
            ("2026-12-01T04:09:00.5Z", "whole seconds"),
            ("2026-12-01T24:00:00Z", "out of range"),
            ("1969-12-31T23:59:59Z", "before 1970"),
            ("1970-01-01T00:00:00+01:00", "before 1970"),
            ("yesterday", "too short"),
            ("99999999999999999999", "64 bits"),
        ] {
            let e = parse_time(s).unwrap_err();
            assert!(e.contains(why), "{s}: {e}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0h"), Ok(0));
        assert_eq!(parse_duration("6h"), Ok(21_600));
        assert_eq!(parse_duration("90m"), Ok(5_400));
        assert_eq!(parse_duration("2d"), Ok(172_800));
        assert_eq!(parse_duration("45s"), Ok(45));
        assert!(parse_duration("6").unwrap_err().contains("unit"));
        assert!(parse_duration("1.5h").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("h").is_err());
        assert_eq!(format_duration(21_600), "6h");
        assert_eq!(format_duration(5_400), "90m");
        assert_eq!(format_duration(172_800), "2d");
        assert_eq!(format_duration(86_400), "24h");
        assert_eq!(format_duration(61), "61s");
        assert_eq!(format_span(7_720_908), "89d 8h 41m");
        assert_eq!(format_span(61_200), "17h");
        assert_eq!(format_span(61), "1m 1s");
        assert_eq!(format_span(0), "0s");
    }
}
