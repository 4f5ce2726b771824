//! Small deterministic helpers: the seeded random source, the default cache key, and RFC 3339
//! conversions (the engine has no clock and no date library, and needs only UTC instants).

use serde_json::Value;

/// splitmix64: tiny, fast, and good enough to spread retry delays. Its whole state is one
/// `u64` kept in the run state, so replaying a journal draws the same numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..=max` (slightly biased for huge `max`, which does not matter for delays).
    pub(crate) fn up_to(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(span) => self.next_u64() % span,
            None => self.next_u64(),
        }
    }
}

/// The default cache key: `sha256:<hex>` over the node type, its version and the canonical JSON
/// of the resolved config. serde_json's map is sorted (the workspace does not enable
/// `preserve_order`), so key order in the document cannot change the key.
pub(crate) fn default_cache_key(node_type: &str, node_version: u32, config: &Value) -> String {
    aion_plan::content_hash(&[node_type.as_bytes(), &node_version.to_be_bytes()], config)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Formats milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn format_rfc3339(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rest = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

/// Parses an RFC 3339 instant (`2026-01-02T03:04:05Z`, optional fraction, `Z` or `±HH:MM`)
/// into milliseconds since the epoch. Returns `None` for anything else.
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        part.iter()
            .try_fold(0i64, |acc, d| Some(acc * 10 + i64::from(d - b'0')))
    };
    let sep = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        let mut end = start;
        while b.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
        if end == start {
            return None;
        }
        // Only the first three digits matter at millisecond precision.
        let digits = &b[start..end.min(start + 3)];
        let mut value = digits
            .iter()
            .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'));
        for _ in digits.len()..3 {
            value *= 10;
        }
        millis = value;
        i = end;
    }
    let offset_min = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && sep(i + 3, b":") => {
            let total = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_min * 60;
    Some(seconds * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        for ms in [0, 1_764_000_000_123, -86_400_000, 951_782_400_000] {
            assert_eq!(parse_rfc3339(&format_rfc3339(ms)), Some(ms));
        }
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn rng_is_deterministic_and_bounded() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            let x = a.up_to(10);
            assert_eq!(x, b.up_to(10));
            assert!(x <= 10);
        }
        assert!(Rng::new(1).up_to(u64::MAX) > 0 || Rng::new(2).up_to(u64::MAX) > 0);
    }
}

/// `value.pointer_mut(pointer)` without allocating: serde_json's unescapes every token into a
/// new string, which showed in the profile of config resolution (one call per expression).
pub(crate) fn pointer_mut<'v>(value: &'v mut Value, pointer: &str) -> Option<&'v mut Value> {
    if pointer.is_empty() {
        return Some(value);
    }
    let rest = pointer.strip_prefix('/')?;
    rest.split('/').try_fold(value, |target, token| {
        let token: std::borrow::Cow<'_, str> = if token.contains('~') {
            token.replace("~1", "/").replace("~0", "~").into()
        } else {
            token.into()
        };
        match target {
            Value::Object(map) => map.get_mut(token.as_ref()),
            Value::Array(items) => {
                let index = token.parse::<usize>().ok()?;
                // JSON Pointer indexes have no leading zeros (`0` itself aside).
                if token.len() > 1 && token.starts_with('0') {
                    return None;
                }
                items.get_mut(index)
            }
            _ => None,
        }
    })
}

#[cfg(test)]
mod pointer_tests {
    use serde_json::json;

    #[test]
    fn pointer_mut_agrees_with_serde_json() {
        let doc = json!({ "a": { "b/c": [1, { "d~e": 2 }], "": 3 }, "x": null });
        for pointer in [
            "",
            "/a",
            "/a/b~1c",
            "/a/b~1c/0",
            "/a/b~1c/1/d~0e",
            "/a/",
            "/x",
            "/a/b~1c/01",
            "/a/b~1c/9",
            "/nope",
            "a",
            "/a/b~1c/-",
            "/x/y",
        ] {
            let mut ours = doc.clone();
            let mut theirs = doc.clone();
            assert_eq!(
                super::pointer_mut(&mut ours, pointer).map(|v| v.clone()),
                theirs.pointer_mut(pointer).map(|v| v.clone()),
                "{pointer}"
            );
        }
    }
}
