//! Diagnostics: what the compiler says about a document, each tied to a place in it.

use aion_types::{Code, Severity};
use serde::Serialize;

/// One problem found in a document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The stable code, e.g. `AION-E0027`.
    pub code: &'static str,
    /// `error` or `warning`.
    pub severity: Severity,
    /// The JSON Pointer of the offending value (`/nodes/2/config/url`); empty for the root.
    pub pointer: String,
    /// 1-based line of the offending value, when the source has one.
    pub line: Option<u32>,
    /// 1-based column (in characters), when the source has one.
    pub column: Option<u32>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
    /// For a problem inside a string value (an expression), the byte offset in that string;
    /// used to move the column onto the problem when the source allows it.
    #[serde(skip)]
    pub value_offset: Option<usize>,
}

impl Diagnostic {
    /// A diagnostic with the code's default severity and no position yet.
    pub fn new(code: Code, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            code: code.id,
            severity: code.severity,
            pointer: pointer.into(),
            line: None,
            column: None,
            message: message.into(),
            hint: None,
            value_offset: None,
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Records where, inside the string value, the problem is.
    pub fn at_offset(mut self, offset: usize) -> Self {
        self.value_offset = Some(offset);
        self
    }

    /// Whether this diagnostic makes the document invalid.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}
