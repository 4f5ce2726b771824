//! Error types for compiling and evaluating templates and jq programs.
//!
//! Every error carries a stable [`ErrorKind`] so that callers (the flow compiler, the run
//! history, the API) can branch on the kind without parsing messages. Messages are written for
//! flow authors and never include host details. This module deliberately does not decide how
//! errors are presented (JSON Pointers, hints): that is the caller's business.

use std::time::Duration;

/// The stable identifier of an error, independent of its message.
///
/// The string form returned by [`ErrorKind::as_str`] is part of the public contract and can be
/// stored or sent over the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// A template does not parse (unclosed `{{`, empty expression, bad syntax).
    Syntax,
    /// An expression names a top-level variable that does not exist.
    UnknownVariable,
    /// An expression applies a filter that does not exist (or was removed for safety).
    UnknownFilter,
    /// An expression uses a test (`is ...`) that does not exist.
    UnknownTest,
    /// The evaluation ran out of its step or memory budget.
    FuelExhausted,
    /// The result is larger than the configured limit.
    OutputTooLarge,
    /// An undefined value was used.
    Undefined,
    /// A value had the wrong type for an operation, or cannot be represented as JSON.
    Type,
    /// Any other evaluation failure (division by zero, bad arguments, ...).
    Invalid,
    /// A jq program does not parse or names an undefined filter or variable.
    JqSyntax,
    /// A jq program raised an error while running.
    JqRuntime,
    /// A jq program did not finish before its deadline.
    JqTimeout,
    /// A jq program produced more outputs than allowed.
    JqTooManyOutputs,
    /// Too many timed-out jq programs are still being stopped; the run was refused.
    JqBusy,
}

impl ErrorKind {
    /// The stable snake_case name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Syntax => "syntax",
            Self::UnknownVariable => "unknown_variable",
            Self::UnknownFilter => "unknown_filter",
            Self::UnknownTest => "unknown_test",
            Self::FuelExhausted => "fuel_exhausted",
            Self::OutputTooLarge => "output_too_large",
            Self::Undefined => "undefined",
            Self::Type => "type",
            Self::Invalid => "invalid",
            Self::JqSyntax => "jq_syntax",
            Self::JqRuntime => "jq_runtime",
            Self::JqTimeout => "jq_timeout",
            Self::JqTooManyOutputs => "jq_too_many_outputs",
            Self::JqBusy => "jq_busy",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A template field or jq program that cannot be compiled.
///
/// Offsets are byte offsets into the string that was compiled (the whole field for templates,
/// the program for jq), so an editor can underline the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// The template does not parse.
    #[error("syntax error at byte {offset}: {message}")]
    Syntax {
        /// Byte offset of the problem in the field.
        offset: usize,
        /// What is wrong, usually minijinja's own message.
        message: String,
    },
    /// The expression reads a variable that is never in scope.
    #[error(
        "unknown variable `{name}` at byte {offset}: expressions can read inputs, steps, \
         trigger, vars, run, item and index"
    )]
    UnknownVariable {
        /// The top-level name that was used.
        name: String,
        /// Byte offset of the name in the field.
        offset: usize,
    },
    /// The expression applies a filter that is not available.
    #[error("unknown filter `{name}` at byte {offset}")]
    UnknownFilter {
        /// The filter name.
        name: String,
        /// Byte offset of the name in the field.
        offset: usize,
    },
    /// The expression uses a test that is not available.
    #[error("unknown test `{name}` at byte {offset}")]
    UnknownTest {
        /// The test name.
        name: String,
        /// Byte offset of the name in the field.
        offset: usize,
    },
    /// The jq program does not compile.
    #[error("jq error at byte {offset}: {message}")]
    JqSyntax {
        /// Byte offset of the problem in the program.
        offset: usize,
        /// What is wrong.
        message: String,
    },
}

impl CompileError {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Syntax { .. } => ErrorKind::Syntax,
            Self::UnknownVariable { .. } => ErrorKind::UnknownVariable,
            Self::UnknownFilter { .. } => ErrorKind::UnknownFilter,
            Self::UnknownTest { .. } => ErrorKind::UnknownTest,
            Self::JqSyntax { .. } => ErrorKind::JqSyntax,
        }
    }

    /// The byte offset of the problem in the compiled string.
    pub fn offset(&self) -> usize {
        match self {
            Self::Syntax { offset, .. }
            | Self::UnknownVariable { offset, .. }
            | Self::UnknownFilter { offset, .. }
            | Self::UnknownTest { offset, .. }
            | Self::JqSyntax { offset, .. } => *offset,
        }
    }
}

/// A failure while evaluating a template or running a jq program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The evaluation used up its budget of steps (and memory, which is charged in steps).
    #[error("expression exceeded its step budget ({budget} fuel)")]
    FuelExhausted {
        /// The configured budget.
        budget: u64,
    },
    /// The result, or a string built on the way, is larger than allowed.
    #[error("result is larger than the limit of {limit} bytes")]
    OutputTooLarge {
        /// The limit that was exceeded, in bytes.
        limit: usize,
    },
    /// An undefined value was used; `path` names it, e.g. `steps.x.output.foo`.
    #[error("`{path}` is undefined")]
    Undefined {
        /// The variable path, or a description when no path is known.
        path: String,
    },
    /// A value had the wrong type, or cannot be turned into JSON.
    #[error("type error: {message}")]
    Type {
        /// What went wrong.
        message: String,
    },
    /// Any other evaluation failure.
    #[error("{message}")]
    Invalid {
        /// What went wrong.
        message: String,
    },
    /// The jq program raised an error.
    #[error("jq error: {message}")]
    JqRuntime {
        /// The error message (truncated if it was very long).
        message: String,
    },
    /// The jq program did not finish in time.
    #[error("jq program did not finish within {timeout:?}")]
    JqTimeout {
        /// The deadline that was exceeded.
        timeout: Duration,
    },
    /// The jq program produced more outputs than allowed.
    #[error("jq program produced more than {limit} outputs")]
    JqTooManyOutputs {
        /// The configured cap.
        limit: usize,
    },
    /// The jq program exceeded its step budget.
    #[error("jq program exceeded its step budget ({budget} steps)")]
    JqFuelExhausted {
        /// The configured budget.
        budget: u64,
    },
    /// Too many earlier jq programs that timed out are still being stopped.
    #[error("too many timed-out jq programs are still running; try again later")]
    JqBusy,
}

impl EvalError {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::FuelExhausted { .. } | Self::JqFuelExhausted { .. } => ErrorKind::FuelExhausted,
            Self::OutputTooLarge { .. } => ErrorKind::OutputTooLarge,
            Self::Undefined { .. } => ErrorKind::Undefined,
            Self::Type { .. } => ErrorKind::Type,
            Self::Invalid { .. } => ErrorKind::Invalid,
            Self::JqRuntime { .. } => ErrorKind::JqRuntime,
            Self::JqTimeout { .. } => ErrorKind::JqTimeout,
            Self::JqTooManyOutputs { .. } => ErrorKind::JqTooManyOutputs,
            Self::JqBusy => ErrorKind::JqBusy,
        }
    }

    pub(crate) fn type_error(message: impl Into<String>) -> Self {
        Self::Type {
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialize_as_their_stable_names() {
        let all = [
            ErrorKind::Syntax,
            ErrorKind::UnknownVariable,
            ErrorKind::UnknownFilter,
            ErrorKind::UnknownTest,
            ErrorKind::FuelExhausted,
            ErrorKind::OutputTooLarge,
            ErrorKind::Undefined,
            ErrorKind::Type,
            ErrorKind::Invalid,
            ErrorKind::JqSyntax,
            ErrorKind::JqRuntime,
            ErrorKind::JqTimeout,
            ErrorKind::JqTooManyOutputs,
            ErrorKind::JqBusy,
        ];
        for kind in all {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            assert_eq!(kind.to_string(), kind.as_str());
        }
    }
}
