//! Human rendering of diagnostics, in the style of rustc: the file and position, the code and
//! message, the source line with a caret under the offending value, and the hint.

use std::fmt::Write as _;

use aion_compiler::Diagnostic;

/// Renders one diagnostic; `source` is the file's text (lossily decoded).
pub(crate) fn diagnostic(file: &str, source: &str, diagnostic: &Diagnostic) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}[{}]: {}",
        diagnostic.severity, diagnostic.code, diagnostic.message
    );
    match (diagnostic.line, diagnostic.column) {
        (Some(line), Some(column)) => {
            let number = line.to_string();
            let gutter = " ".repeat(number.len());
            let _ = writeln!(out, "{gutter}--> {file}:{line}:{column}");
            if let Some(text) = source.lines().nth((line as usize).saturating_sub(1)) {
                let text = text.replace('\t', " ");
                let skip = column.saturating_sub(1) as usize;
                let width = token_width(text.chars().skip(skip));
                let _ = writeln!(out, "{gutter} |");
                let _ = writeln!(out, "{number} | {text}");
                let _ = writeln!(out, "{gutter} | {}{}", " ".repeat(skip), "^".repeat(width));
                if !diagnostic.pointer.is_empty() {
                    let _ = writeln!(out, "{gutter} = at: {}", diagnostic.pointer);
                }
                if let Some(hint) = &diagnostic.hint {
                    let _ = writeln!(out, "{gutter} = help: {hint}");
                }
                out.push('\n');
                return out;
            }
        }
        _ => {
            let _ = writeln!(out, " --> {file}");
        }
    }
    if !diagnostic.pointer.is_empty() {
        let _ = writeln!(out, "  = at: {}", diagnostic.pointer);
    }
    if let Some(hint) = &diagnostic.hint {
        let _ = writeln!(out, "  = help: {hint}");
    }
    out.push('\n');
    out
}

/// How many characters to underline: the scalar starting at the caret, up to the next
/// separator, or one character for structure.
fn token_width(mut rest: impl Iterator<Item = char>) -> usize {
    match rest.next() {
        None => 1,
        Some(quote @ ('"' | '\'')) => {
            let mut width = 1;
            for c in rest {
                width += 1;
                if c == quote {
                    break;
                }
            }
            width
        }
        Some('{' | '[' | '-') => 1,
        Some(_) => {
            1 + rest
                .take_while(|c| !matches!(c, ' ' | ',' | '}' | ']' | '#'))
                .count()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths() {
        assert_eq!(token_width("http.reqest".chars()), 11);
        assert_eq!(token_width("\"a b\", x".chars()), 5);
        assert_eq!(token_width("{ a: 1 }".chars()), 1);
        assert_eq!(token_width("".chars()), 1);
        assert_eq!(token_width("x, y".chars()), 1);
    }
}
