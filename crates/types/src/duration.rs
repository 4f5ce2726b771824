//! Durations as the flow document writes them: `250ms`, `10s`, `5m`, `2h`, `1d`.
//!
//! One integer and one unit, nothing else: compound forms such as `1h30m` are refused so every
//! duration has exactly one spelling. Values are whole milliseconds, which is what the engine and
//! the stores keep.

use std::fmt;

/// The JSON Schema `pattern` of a duration, used by every generated schema so editors can check
/// durations; the compiler recognises it to report [`Duration::parse`]'s precise message.
pub const PATTERN: &str = r"^[0-9]+(ms|s|m|h|d)$";

/// The longest duration a document may write: 365 days. Longer waits belong in a schedule.
pub const MAX_MILLIS: u64 = 365 * 24 * 3_600_000;

/// A non-negative span of time in whole milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u64);

/// Why a duration could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing was written.
    #[error("a duration cannot be empty")]
    Empty,
    /// The text is not `<integer><unit>`.
    #[error(
        "`{0}` is not a duration: write an integer followed by one of ms, s, m, h, d (e.g. `250ms`, `10s`)"
    )]
    Format(String),
    /// The unit is not one of ours.
    #[error("`{unit}` is not a duration unit in `{text}`: use ms, s, m, h or d")]
    Unit {
        /// The whole text.
        text: String,
        /// The unit that was written.
        unit: String,
    },
    /// The value exceeds [`MAX_MILLIS`].
    #[error("`{0}` is longer than the maximum of 365d")]
    TooLong(String),
}

impl Duration {
    /// Zero milliseconds.
    pub const ZERO: Duration = Duration(0);

    /// Builds a duration from milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms)
    }

    /// Builds a duration from seconds.
    pub const fn from_secs(s: u64) -> Self {
        Duration(s.saturating_mul(1000))
    }

    /// The duration in milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Converts to the standard library's type for timers.
    pub const fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0)
    }

    /// Reads `250ms`, `10s`, `5m`, `2h` or `1d`. Surrounding spaces are refused, as the
    /// published schema's pattern refuses them.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let trimmed = text;
        if trimmed.is_empty() {
            return Err(ParseError::Empty);
        }
        let digits_end = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(trimmed.len());
        let (digits, unit) = trimmed.split_at(digits_end);
        if digits.is_empty() {
            return Err(ParseError::Format(text.to_owned()));
        }
        if unit.is_empty() {
            return Err(ParseError::Format(text.to_owned()));
        }
        let factor: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            other if other.chars().all(|c| c.is_ascii_alphabetic()) => {
                return Err(ParseError::Unit {
                    text: text.to_owned(),
                    unit: other.to_owned(),
                });
            }
            _ => return Err(ParseError::Format(text.to_owned())),
        };
        let value: u64 = digits
            .parse()
            .map_err(|_| ParseError::TooLong(text.to_owned()))?;
        let ms = value
            .checked_mul(factor)
            .filter(|ms| *ms <= MAX_MILLIS)
            .ok_or_else(|| ParseError::TooLong(text.to_owned()))?;
        Ok(Duration(ms))
    }
}

impl fmt::Display for Duration {
    /// Writes the largest unit that represents the value exactly, so `parse(display(d)) == d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 4] = [
            (86_400_000, "d"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1_000, "s"),
        ];
        for (factor, unit) in UNITS {
            if self.0 != 0 && self.0.is_multiple_of(factor) {
                return write!(f, "{}{unit}", self.0 / factor);
            }
        }
        write!(f, "{}ms", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(Duration::parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(Duration::parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(Duration::parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(Duration::parse("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(Duration::parse("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(Duration::parse("0s"), Ok(Duration::ZERO));
        assert!(matches!(
            Duration::parse(" 10s"),
            Err(ParseError::Format(_))
        ));
    }

    #[test]
    fn refuses_bad_text() {
        assert_eq!(Duration::parse(""), Err(ParseError::Empty));
        assert!(matches!(Duration::parse("10"), Err(ParseError::Format(_))));
        assert!(matches!(Duration::parse("s"), Err(ParseError::Format(_))));
        assert!(matches!(
            Duration::parse("1h30m"),
            Err(ParseError::Format(_))
        ));
        assert!(matches!(Duration::parse("-1s"), Err(ParseError::Format(_))));
        assert!(matches!(
            Duration::parse("1.5s"),
            Err(ParseError::Format(_))
        ));
        assert!(matches!(
            Duration::parse("3w"),
            Err(ParseError::Unit { .. })
        ));
        assert!(matches!(
            Duration::parse("366d"),
            Err(ParseError::TooLong(_))
        ));
        assert!(matches!(
            Duration::parse("99999999999999999999999s"),
            Err(ParseError::TooLong(_))
        ));
    }

    #[test]
    fn display_round_trips() {
        for text in ["250ms", "10s", "5m", "2h", "1d", "0ms", "1500ms", "90s"] {
            let d = Duration::parse(text).unwrap();
            assert_eq!(d.to_string(), text);
            assert_eq!(Duration::parse(&d.to_string()), Ok(d));
        }
    }
}
