//! A strict RFC 8259 JSON reader that records where every value and key starts.
//!
//! It is iterative (the nesting lives in the builder's heap stack, never on the call stack), so
//! a million nested `[` cannot overflow the stack, and it reports precise line and column for
//! every syntax error. It deliberately accepts nothing beyond the RFC: no comments, no trailing
//! commas, no single quotes, no `NaN`; YAML is the format for relaxed syntax.

use serde_json::Value;

use super::builder::{Builder, Container};
use super::number;
use super::spans::SpanMap;
use super::{Limits, ParseError, ParseErrorKind, Span, to_u32};

/// Reads `text` (the input after any byte-order mark, which was `base` bytes long).
pub(super) fn parse(
    text: &str,
    base: usize,
    limits: &Limits,
) -> Result<(Value, SpanMap), ParseError> {
    let mut reader = Reader {
        src: text,
        bytes: text.as_bytes(),
        pos: 0,
        base,
        line: 1,
        line_start: 0,
        column_at: 0,
        column: 0,
        builder: Builder::new(limits),
    };
    reader.run()?;
    reader.builder.finish()
}

/// What the reader expects next.
enum Next {
    /// A value (after `[`, `,` in an array, or `:`).
    Value,
    /// A delimiter after a complete value, or the end of the document.
    AfterValue,
}

struct Reader<'a> {
    src: &'a str,
    bytes: &'a [u8],
    /// The byte position in `src`.
    pos: usize,
    /// The length of the byte-order mark that was stripped, added to reported offsets.
    base: usize,
    line: u32,
    /// The byte position where the current line starts.
    line_start: usize,
    /// A byte position on the current line whose char column is known (`column`, 0-based); spans
    /// are asked for in increasing order, so counting on from here keeps column work linear.
    column_at: usize,
    column: usize,
    builder: Builder,
}

impl Reader<'_> {
    fn run(&mut self) -> Result<(), ParseError> {
        let mut next = Next::Value;
        loop {
            self.skip_whitespace();
            next = match next {
                Next::Value => self.value()?,
                Next::AfterValue if self.builder.is_done() => break,
                Next::AfterValue => self.after_value()?,
            };
        }
        if self.pos < self.bytes.len() {
            let found = self.describe(self.pos);
            return Err(self.syntax(
                self.pos,
                format!("unexpected {found} after the end of the JSON document"),
            ));
        }
        Ok(())
    }

    /// Reads the start of a value: a whole scalar, or the opening of a collection.
    fn value(&mut self) -> Result<Next, ParseError> {
        let start = self.pos;
        let span = self.span_at(start);
        match self.bytes.get(start) {
            Some(b'{') => {
                self.builder.begin_object(span)?;
                self.pos += 1;
                self.skip_whitespace();
                if self.bytes.get(self.pos) == Some(&b'}') {
                    return self.close();
                }
                self.member_key(false)?;
                Ok(Next::Value)
            }
            Some(b'[') => {
                self.builder.begin_array(span)?;
                self.pos += 1;
                self.skip_whitespace();
                if self.bytes.get(self.pos) == Some(&b']') {
                    return self.close();
                }
                Ok(Next::Value)
            }
            Some(b'"') => {
                let s = self.string()?;
                self.builder.scalar(Value::String(s), span)?;
                Ok(Next::AfterValue)
            }
            Some(b'-' | b'0'..=b'9') => {
                let n = self.number()?;
                self.builder.scalar(Value::Number(n), span)?;
                Ok(Next::AfterValue)
            }
            Some(b't') => self.literal("true", Value::Bool(true), span),
            Some(b'f') => self.literal("false", Value::Bool(false), span),
            Some(b'n') => self.literal("null", Value::Null, span),
            _ => {
                let found = self.describe_word(start);
                Err(self.syntax(start, format!("expected a JSON value, found {found}")))
            }
        }
    }

    /// Reads what follows a complete value inside a collection.
    fn after_value(&mut self) -> Result<Next, ParseError> {
        let at = self.pos;
        let byte = self.bytes.get(at).copied();
        match (self.builder.top(), byte) {
            (Some(Container::Array), Some(b',')) => {
                self.pos += 1;
                self.skip_whitespace();
                if self.bytes.get(self.pos) == Some(&b']') {
                    return Err(self.syntax(
                        self.pos,
                        "expected a value after ',' (JSON does not allow trailing commas)",
                    ));
                }
                Ok(Next::Value)
            }
            (Some(Container::Object), Some(b',')) => {
                self.pos += 1;
                self.skip_whitespace();
                self.member_key(true)?;
                Ok(Next::Value)
            }
            (Some(Container::Array), Some(b']')) | (Some(Container::Object), Some(b'}')) => {
                self.close()
            }
            (Some(Container::Array), _) => {
                let found = self.describe(at);
                Err(self.syntax(
                    at,
                    format!("expected ',' or ']' after array element, found {found}"),
                ))
            }
            (Some(Container::Object), _) => {
                let found = self.describe(at);
                Err(self.syntax(
                    at,
                    format!("expected ',' or '}}' after object member, found {found}"),
                ))
            }
            // The run loop stops once the root is complete, so there is always an open container.
            (None, _) => Err(self.syntax(at, "internal parser error: no open container")),
        }
    }

    /// Consumes a closing bracket and closes the innermost collection.
    fn close(&mut self) -> Result<Next, ParseError> {
        let span = self.span_at(self.pos);
        self.pos += 1;
        self.builder.end(span)?;
        Ok(Next::AfterValue)
    }

    /// Reads `"key"` and the `:` after it; `after_comma` only improves the error message.
    fn member_key(&mut self, after_comma: bool) -> Result<(), ParseError> {
        let start = self.pos;
        if self.bytes.get(start) != Some(&b'"') {
            let message = if after_comma && self.bytes.get(start) == Some(&b'}') {
                "expected a key after ',' (JSON does not allow trailing commas)".to_owned()
            } else {
                let found = self.describe(start);
                format!("expected an object key in double quotes, found {found}")
            };
            return Err(self.syntax(start, message));
        }
        let span = self.span_at(start);
        let name = self.string()?;
        self.builder.key(name, span, false)?;
        self.skip_whitespace();
        if self.bytes.get(self.pos) != Some(&b':') {
            let found = self.describe(self.pos);
            return Err(self.syntax(
                self.pos,
                format!("expected ':' after object key, found {found}"),
            ));
        }
        self.pos += 1;
        Ok(())
    }

    /// Reads `true`, `false` or `null`.
    fn literal(&mut self, word: &str, value: Value, span: Span) -> Result<Next, ParseError> {
        let start = self.pos;
        if !self.src.get(start..).unwrap_or_default().starts_with(word) {
            let found = self.describe_word(start);
            return Err(self.syntax(start, format!("expected a JSON value, found {found}")));
        }
        self.pos += word.len();
        self.builder.scalar(value, span)?;
        Ok(Next::AfterValue)
    }

    /// Reads a string starting at the opening quote and returns its decoded contents.
    fn string(&mut self) -> Result<String, ParseError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let run = self.pos;
            while let Some(&b) = self.bytes.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // The run stops only at ASCII bytes, which are always char boundaries.
            out.push_str(self.src.get(run..self.pos).unwrap_or_default());
            match self.bytes.get(self.pos).copied() {
                None => return Err(self.syntax(open, "unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => self.escape(&mut out)?,
                Some(b) => {
                    let what = if b == b'\n' {
                        "a line break inside a string (write it as \\n, or close the string)"
                            .to_owned()
                    } else {
                        format!("control character U+{b:04X} inside a string (escape it)")
                    };
                    return Err(self.syntax(self.pos, what));
                }
            }
        }
    }

    /// Decodes the escape sequence at the current backslash into `out`.
    fn escape(&mut self, out: &mut String) -> Result<(), ParseError> {
        let backslash = self.pos;
        let decoded = match self.bytes.get(backslash + 1) {
            None => return Err(self.syntax(backslash, "unterminated string")),
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => return self.unicode_escape(out),
            Some(_) => {
                let c = self.src.get(backslash + 1..).and_then(|s| s.chars().next());
                let shown = c.map_or_else(String::new, |c| c.escape_debug().to_string());
                return Err(self.syntax(
                    backslash,
                    format!("invalid escape `\\{shown}` in string (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)"),
                ));
            }
        };
        out.push(decoded);
        self.pos += 2;
        Ok(())
    }

    /// Decodes `\uXXXX`, joining a UTF-16 surrogate pair written as two escapes.
    fn unicode_escape(&mut self, out: &mut String) -> Result<(), ParseError> {
        let first_at = self.pos;
        let first = self.hex4(first_at)?;
        self.pos += 6;
        let code = match first {
            0xD800..=0xDBFF => {
                let second_at = self.pos;
                let has_escape = self.bytes.get(second_at) == Some(&b'\\')
                    && self.bytes.get(second_at + 1) == Some(&b'u');
                let second = if has_escape {
                    Some(self.hex4(second_at)?)
                } else {
                    None
                };
                match second {
                    Some(low @ 0xDC00..=0xDFFF) => {
                        self.pos += 6;
                        0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00)
                    }
                    _ => {
                        return Err(self.syntax(
                            first_at,
                            format!("invalid surrogate pair: \\u{first:04X} is not followed by a low surrogate \\uDC00-\\uDFFF"),
                        ));
                    }
                }
            }
            0xDC00..=0xDFFF => {
                return Err(self.syntax(
                    first_at,
                    format!("invalid surrogate pair: \\u{first:04X} is a low surrogate without a high surrogate before it"),
                ));
            }
            code => code,
        };
        match char::from_u32(code) {
            Some(c) => {
                out.push(c);
                Ok(())
            }
            None => Err(self.syntax(first_at, "invalid \\u escape")),
        }
    }

    /// Reads the four hex digits of the `\u` escape that starts at `at`.
    fn hex4(&mut self, at: usize) -> Result<u32, ParseError> {
        let digits = self.bytes.get(at + 2..at + 6).unwrap_or_default();
        let valid = digits.len() == 4 && digits.iter().all(u8::is_ascii_hexdigit);
        let parsed = valid
            .then(|| self.src.get(at + 2..at + 6))
            .flatten()
            .and_then(|s| u32::from_str_radix(s, 16).ok());
        parsed.ok_or_else(|| self.syntax(at, "expected four hex digits after \\u"))
    }

    /// Reads a number per the RFC grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<serde_json::Number, ParseError> {
        let start = self.pos;
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match self.bytes.get(self.pos) {
            Some(b'0') => {
                self.pos += 1;
                if self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                    return Err(self.syntax(start, "numbers cannot have leading zeros"));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.syntax(self.pos, "expected a digit after '-'")),
        }
        let mut integer = true;
        if self.bytes.get(self.pos) == Some(&b'.') {
            integer = false;
            self.pos += 1;
            if !self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                return Err(self.syntax(self.pos, "expected a digit after the decimal point"));
            }
            self.digits();
        }
        if matches!(self.bytes.get(self.pos), Some(b'e' | b'E')) {
            integer = false;
            self.pos += 1;
            if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
                return Err(self.syntax(self.pos, "expected a digit in the exponent"));
            }
            self.digits();
        }
        let text = self.src.get(start..self.pos).unwrap_or_default();
        number::decimal(text, integer).ok_or_else(|| {
            let span = self.span_at(start);
            ParseError::new(
                ParseErrorKind::InvalidNumber,
                Some(span),
                format!("the number {text} is out of range"),
            )
        })
    }

    fn digits(&mut self) {
        while self.bytes.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
    }

    /// Skips JSON whitespace, keeping track of lines.
    fn skip_whitespace(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            match b {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\n' => {
                    self.pos += 1;
                    self.line = self.line.saturating_add(1);
                    self.line_start = self.pos;
                    self.column_at = self.pos;
                    self.column = 0;
                }
                _ => break,
            }
        }
    }

    /// The span of byte position `pos`, which must be on the current line.
    fn span_at(&mut self, pos: usize) -> Span {
        if pos < self.column_at {
            self.column_at = self.line_start;
            self.column = 0;
        }
        let skipped = self.bytes.get(self.column_at..pos).unwrap_or_default();
        // Counting the bytes that do not continue a UTF-8 sequence counts chars.
        self.column += skipped.iter().filter(|&&b| b & 0xC0 != 0x80).count();
        self.column_at = pos;
        Span {
            line: self.line,
            column: to_u32(self.column + 1),
            offset: self.base + pos,
        }
    }

    fn syntax(&mut self, pos: usize, message: impl Into<String>) -> ParseError {
        let span = self.span_at(pos);
        ParseError::new(ParseErrorKind::Syntax, Some(span), message)
    }

    /// Names the char at `pos` for an error message.
    fn describe(&self, pos: usize) -> String {
        match self.src.get(pos..).and_then(|s| s.chars().next()) {
            None => "the end of the input".to_owned(),
            Some(c) if c.is_control() => format!("U+{:04X}", u32::from(c)),
            Some(c) => format!("`{c}`"),
        }
    }

    /// Names the word at `pos` (up to a delimiter) for an error message.
    fn describe_word(&self, pos: usize) -> String {
        let rest = self.src.get(pos..).unwrap_or_default();
        let word: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .take(20)
            .collect();
        if word.is_empty() {
            self.describe(pos)
        } else {
            format!("`{word}`")
        }
    }
}
