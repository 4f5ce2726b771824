//! A small tokenizer for Jinja expression syntax, used before minijinja sees the text.
//!
//! It serves two purposes: finding where an expression inside `{{ ... }}` ends (a `}}` only
//! closes the expression outside string literals and outside `{...}` dict literals), and
//! giving the reference extractor tokens with byte offsets. It deliberately does not validate
//! syntax: anything it does not understand becomes a one-character punctuation token and
//! minijinja reports the real error afterwards. It never recurses, so no input can exhaust the
//! stack here.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokKind {
    /// An identifier or keyword (`steps`, `and`, `default`).
    Ident,
    /// A string literal, including its quotes.
    Str,
    /// An integer literal.
    Int,
    /// A float literal.
    Float,
    /// An operator or delimiter.
    Punct,
}

/// One token with its byte range in the text that was lexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token<'s> {
    pub kind: TokKind,
    pub text: &'s str,
    pub start: usize,
    pub end: usize,
}

impl Token<'_> {
    pub fn is_punct(&self, p: &str) -> bool {
        self.kind == TokKind::Punct && self.text == p
    }

    pub fn is_ident(&self, name: &str) -> bool {
        self.kind == TokKind::Ident && self.text == name
    }
}

/// A string literal that is not closed; the only error the lexer itself reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnterminatedString {
    pub offset: usize,
}

/// A cursor over `src` starting at a byte offset.
pub(crate) struct Lexer<'s> {
    src: &'s str,
    pos: usize,
}

const TWO_CHAR_OPS: [&str; 6] = ["**", "//", "==", "!=", "<=", ">="];

impl<'s> Lexer<'s> {
    pub fn new(src: &'s str, pos: usize) -> Self {
        Self { src, pos }
    }

    /// The byte offset of the next unread character.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Skips whitespace and returns the next token, `None` at the end of the text.
    pub fn next_token(&mut self) -> Result<Option<Token<'s>>, UnterminatedString> {
        let bytes = self.src.as_bytes();
        while let Some(b) = bytes.get(self.pos) {
            if b.is_ascii_whitespace() {
                self.pos += 1;
            } else {
                break;
            }
        }
        let start = self.pos;
        let Some(&first) = bytes.get(start) else {
            return Ok(None);
        };
        let (kind, end) = if first == b'_' || first.is_ascii_alphabetic() {
            let len = bytes[start..]
                .iter()
                .take_while(|c| **c == b'_' || c.is_ascii_alphanumeric())
                .count();
            (TokKind::Ident, start + len)
        } else if first.is_ascii_digit() {
            self.number(start)
        } else if first == b'\'' || first == b'"' {
            (TokKind::Str, self.string(start, first)?)
        } else {
            let two = self.src.get(start..start + 2);
            match two {
                Some(op) if TWO_CHAR_OPS.contains(&op) => (TokKind::Punct, start + 2),
                _ => {
                    // A non-ASCII character is taken whole so that slicing stays on a char
                    // boundary; minijinja will reject it with its own message.
                    let len = self.src[start..].chars().next().map_or(1, char::len_utf8);
                    (TokKind::Punct, start + len)
                }
            }
        };
        self.pos = end;
        Ok(Some(Token {
            kind,
            text: &self.src[start..end],
            start,
            end,
        }))
    }

    /// Lexes a number. Right after a dot only digits are taken, because minijinja reads
    /// `foo.1.0` as `foo[1][0]`, not as `foo[1.0]`.
    fn number(&self, start: usize) -> (TokKind, usize) {
        let bytes = self.src.as_bytes();
        let after_dot = start > 0 && bytes.get(start - 1) == Some(&b'.');
        let mut end = start;
        let digits = |from: usize| {
            bytes[from..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                .count()
        };
        if after_dot {
            end += bytes[start..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            return (TokKind::Int, end);
        }
        end += digits(end);
        let mut kind = TokKind::Int;
        if bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) {
            kind = TokKind::Float;
            end += 1 + digits(end + 1);
        }
        // An exponent sign belongs to the number (`1e-3`); the letters were taken above.
        if matches!(bytes.get(end.wrapping_sub(1)), Some(b'e' | b'E'))
            && matches!(bytes.get(end), Some(b'+' | b'-'))
            && !self.src[start..].starts_with("0x")
        {
            kind = TokKind::Float;
            end += 1 + digits(end + 1);
        }
        (kind, end)
    }

    /// Lexes a quoted string with backslash escapes and returns the end offset.
    fn string(&self, start: usize, quote: u8) -> Result<usize, UnterminatedString> {
        let bytes = self.src.as_bytes();
        let mut i = start + 1;
        while let Some(&b) = bytes.get(i) {
            if b == b'\\' {
                i += 2;
            } else if b == quote {
                return Ok(i + 1);
            } else {
                i += 1;
            }
        }
        Err(UnterminatedString { offset: start })
    }
}

/// Decodes the value of a string literal token, or `None` if it uses an escape this crate
/// does not decode (the caller then treats the subscript as non-constant, which is safe).
pub(crate) fn string_value(token: &str) -> Option<String> {
    let inner = token.get(1..token.len().checked_sub(1)?)?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            '/' => out.push('/'),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(TokKind, &str)> {
        let mut lexer = Lexer::new(src, 0);
        let mut out = Vec::new();
        while let Some(t) = lexer.next_token().unwrap() {
            out.push((t.kind, t.text));
        }
        out
    }

    #[test]
    fn lexes_paths_numbers_and_strings() {
        use TokKind::*;
        assert_eq!(
            kinds("a.b[0]['x y'] ** 2.5e-3 // 1_000 != \"}}\""),
            vec![
                (Ident, "a"),
                (Punct, "."),
                (Ident, "b"),
                (Punct, "["),
                (Int, "0"),
                (Punct, "]"),
                (Punct, "["),
                (Str, "'x y'"),
                (Punct, "]"),
                (Punct, "**"),
                (Float, "2.5e-3"),
                (Punct, "//"),
                (Int, "1_000"),
                (Punct, "!="),
                (Str, "\"}}\""),
            ]
        );
        assert_eq!(
            kinds("foo.1.0"),
            vec![
                (Ident, "foo"),
                (Punct, "."),
                (Int, "1"),
                (Punct, "."),
                (Int, "0")
            ]
        );
    }

    #[test]
    fn unterminated_string_is_reported_at_its_quote() {
        let mut lexer = Lexer::new("a ~ 'abc", 0);
        assert!(lexer.next_token().unwrap().is_some());
        assert!(lexer.next_token().unwrap().is_some());
        assert_eq!(lexer.next_token(), Err(UnterminatedString { offset: 4 }));
    }

    #[test]
    fn decodes_simple_escapes() {
        assert_eq!(string_value(r"'a\'b'").as_deref(), Some("a'b"));
        assert_eq!(string_value(r#""x\ny""#).as_deref(), Some("x\ny"));
        assert_eq!(string_value(r"'\u0041'"), None);
        assert_eq!(string_value("'é'").as_deref(), Some("é"));
    }

    #[test]
    fn non_ascii_punctuation_stays_on_char_boundaries() {
        assert_eq!(kinds("é"), vec![(TokKind::Punct, "é")]);
    }
}
