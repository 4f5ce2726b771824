//! Turns number text that a reader has already validated into a `serde_json::Number`, the same
//! way for JSON and YAML so that both formats give identical values.
//!
//! Integers become `u64`/`i64` when they fit and `f64` otherwise; non-finite results are refused
//! because JSON cannot hold them. This module does not check syntax: callers pass only text that
//! matches their grammar.

use serde_json::Number;

/// Converts decimal text (`-12`, `+3`, `1.5e3`, `.5`); `integer` says the text has no fraction
/// or exponent. `None` means the value is out of `f64` range.
pub(super) fn decimal(text: &str, integer: bool) -> Option<Number> {
    if integer {
        if let Ok(n) = text.parse::<u64>() {
            return Some(Number::from(n));
        }
        if let Ok(n) = text.parse::<i64>() {
            return Some(Number::from(n));
        }
    }
    // Rust's float parser rounds correctly, so the result is the nearest `f64` to the text.
    text.parse::<f64>().ok().and_then(Number::from_f64)
}

/// Converts unsigned digits in `radix` (YAML `0x`/`0o` integers); digits must be valid for the
/// radix. Values past `u64` fall back to an `f64` approximation, like decimal integers do.
pub(super) fn radix(digits: &str, radix: u32) -> Option<Number> {
    if let Ok(n) = u64::from_str_radix(digits, radix) {
        return Some(Number::from(n));
    }
    let mut value = 0.0_f64;
    for c in digits.chars() {
        value = value * f64::from(radix) + f64::from(c.to_digit(radix)?);
    }
    Number::from_f64(value)
}
