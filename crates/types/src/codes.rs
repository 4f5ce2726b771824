//! The registry of stable diagnostic codes (`AION-E0001`…) that users see and search for.
//!
//! A code, once published, keeps its meaning forever: add new ones at the end, never renumber.
//! Every code has a page under `docs/errors/`, checked by a test. This module only names codes;
//! building messages is the job of the crate that detects the problem.

use std::fmt;

/// How serious a diagnostic is. Errors make a document invalid; warnings do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The document cannot be compiled or run.
    Error,
    /// The document is valid but probably not what its author meant.
    Warning,
}

impl Severity {
    /// The lowercase name used in JSON output.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One registered code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code {
    /// The stable identifier, e.g. `AION-E0001`.
    pub id: &'static str,
    /// The default severity of diagnostics with this code.
    pub severity: Severity,
    /// A one-line title, used as the heading of the doc page.
    pub title: &'static str,
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id)
    }
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $name:ident = $id:literal, $severity:ident, $title:literal; )*) => {
        $(
            $(#[$doc])*
            pub const $name: Code = Code { id: $id, severity: Severity::$severity, title: $title };
        )*
        /// Every registered code, in numeric order.
        pub const ALL: &[Code] = &[$($name),*];
    };
}

codes! {
    /// The document has no content.
    EMPTY_DOCUMENT = "AION-E0001", Error, "Empty document";
    /// The document is larger than the size limit.
    DOCUMENT_TOO_LARGE = "AION-E0002", Error, "Document too large";
    /// The document is not valid UTF-8.
    NOT_UTF8 = "AION-E0003", Error, "Document is not UTF-8";
    /// YAML or JSON syntax error.
    SYNTAX = "AION-E0004", Error, "Syntax error";
    /// Nesting deeper than the limit.
    TOO_DEEP = "AION-E0005", Error, "Nesting too deep";
    /// Too many values, usually YAML aliases expanding exponentially.
    TOO_MANY_VALUES = "AION-E0006", Error, "Too many values (alias expansion)";
    /// A mapping has the same key twice.
    DUPLICATE_KEY = "AION-E0007", Error, "Duplicate key";
    /// A mapping key is not a string.
    UNSUPPORTED_KEY = "AION-E0008", Error, "Unsupported mapping key";
    /// The YAML stream holds more than one document.
    MULTIPLE_DOCUMENTS = "AION-E0009", Error, "More than one document";
    /// A number that JSON cannot represent.
    INVALID_NUMBER = "AION-E0010", Error, "Invalid number";
    /// The document's root is not a mapping.
    ROOT_NOT_OBJECT = "AION-E0011", Error, "Document root is not a mapping";
    /// The `aion` version field is missing.
    MISSING_VERSION = "AION-E0012", Error, "Missing `aion` version";
    /// The `aion` version is not one this release understands.
    UNSUPPORTED_VERSION = "AION-E0013", Error, "Unsupported `aion` version";
    /// A field the document format does not define.
    UNKNOWN_FIELD = "AION-E0014", Error, "Unknown field";
    /// A field the document format requires is absent.
    MISSING_FIELD = "AION-E0015", Error, "Missing required field";
    /// A field has the wrong type or a value outside its allowed set.
    INVALID_VALUE = "AION-E0016", Error, "Invalid value";
    /// The flow id is not a valid slug.
    INVALID_FLOW_ID = "AION-E0017", Error, "Invalid flow id";
    /// A node id does not match `[a-z_][a-z0-9_]*`.
    INVALID_NODE_ID = "AION-E0018", Error, "Invalid node id";
    /// Two nodes share an id.
    DUPLICATE_NODE_ID = "AION-E0019", Error, "Duplicate node id";
    /// A node type that is not in the node catalog.
    UNKNOWN_NODE_TYPE = "AION-E0020", Error, "Unknown node type";
    /// A config field the node's schema does not define.
    UNKNOWN_CONFIG_FIELD = "AION-E0021", Error, "Unknown config field";
    /// A config field the node's schema requires is absent.
    MISSING_CONFIG_FIELD = "AION-E0022", Error, "Missing config field";
    /// A config value does not match the node's schema.
    INVALID_CONFIG_VALUE = "AION-E0023", Error, "Invalid config value";
    /// An edge starts at a node that does not exist.
    EDGE_UNKNOWN_SOURCE = "AION-E0024", Error, "Edge from an unknown node";
    /// An edge ends at a node that does not exist.
    EDGE_UNKNOWN_TARGET = "AION-E0025", Error, "Edge to an unknown node";
    /// An edge leaves from a port its node does not have.
    EDGE_UNKNOWN_PORT = "AION-E0026", Error, "Edge from an unknown port";
    /// The edges form a cycle.
    CYCLE = "AION-E0027", Error, "Cycle in the graph";
    /// An expression does not parse.
    EXPRESSION_SYNTAX = "AION-E0028", Error, "Expression syntax error";
    /// An expression reads a variable that does not exist.
    UNKNOWN_VARIABLE = "AION-E0029", Error, "Unknown variable";
    /// An expression reads a step that is not upstream of the reading node.
    STEP_NOT_UPSTREAM = "AION-E0030", Error, "Step is not upstream";
    /// `item` or `index` read outside a `core.foreach` body.
    LOOP_VARIABLE_OUTSIDE_LOOP = "AION-E0031", Error, "`item`/`index` outside a loop";
    /// `inputs` is not a valid JSON Schema.
    INVALID_INPUT_SCHEMA = "AION-E0032", Error, "Invalid `inputs` schema";
    /// A default in `inputs` does not match its own schema.
    INVALID_INPUT_DEFAULT = "AION-E0033", Error, "Input default does not match its schema";
    /// A cron schedule that does not parse.
    INVALID_CRON = "AION-E0034", Error, "Invalid cron schedule";
    /// A time zone that is not an IANA zone name.
    INVALID_TIMEZONE = "AION-E0035", Error, "Invalid time zone";
    /// A webhook path with characters outside the allowed set.
    INVALID_WEBHOOK_PATH = "AION-E0036", Error, "Invalid webhook path";
    /// Two webhook triggers share a path.
    DUPLICATE_WEBHOOK_PATH = "AION-E0037", Error, "Duplicate webhook path";
    /// A duration that does not parse.
    INVALID_DURATION = "AION-E0038", Error, "Invalid duration";
    /// A retry policy that cannot work as written.
    INVALID_RETRY = "AION-E0039", Error, "Invalid retry policy";
    /// A timeout of zero.
    INVALID_TIMEOUT = "AION-E0040", Error, "Invalid timeout";
    /// A cache policy that cannot work as written.
    INVALID_CACHE = "AION-E0041", Error, "Invalid cache policy";
    /// A `core.transform` jq program that does not parse.
    JQ_SYNTAX = "AION-E0042", Error, "jq program syntax error";
    /// A value whose type provably does not fit where it is used.
    TYPE_MISMATCH = "AION-E0043", Error, "Type mismatch";
    /// A node that needs a credential has none, or one that takes none has one.
    CREDENTIAL_MISMATCH = "AION-E0044", Error, "Credential mismatch";
    /// The same edge is written twice.
    DUPLICATE_EDGE = "AION-E0045", Warning, "Duplicate edge";
    /// An edge connects a loop body with the outside, or two different bodies.
    EDGE_CROSSES_LOOP = "AION-E0046", Error, "Edge crosses a loop boundary";
    /// A `body` on a node that is not a `core.foreach`, or a `core.foreach` without one.
    INVALID_BODY = "AION-E0047", Error, "Misplaced or missing loop body";
    /// A `core.switch` with two cases of the same port, or a case named like a reserved port.
    DUPLICATE_PORT = "AION-E0048", Error, "Duplicate or reserved port";
    /// Two triggers fire identically, or a trigger is otherwise redundant.
    DUPLICATE_TRIGGER = "AION-E0049", Warning, "Duplicate trigger";
    /// An expression reads `steps.<id>.error` where `<id>` has no error edge into the reader.
    ERROR_NOT_ROUTED = "AION-E0050", Warning, "Error read without an error edge";
    /// An expression reads a step field other than `output`, `error` and `status`.
    UNKNOWN_STEP_FIELD = "AION-E0051", Error, "Unknown step field";
}

/// Looks a code up by its identifier.
pub fn find(id: &str) -> Option<Code> {
    ALL.iter().copied().find(|code| code.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_numbered_in_order_without_gaps() {
        for (index, code) in ALL.iter().enumerate() {
            assert_eq!(code.id, format!("AION-E{:04}", index + 1), "{}", code.title);
        }
    }

    #[test]
    fn find_returns_registered_codes() {
        assert_eq!(find("AION-E0027"), Some(CYCLE));
        assert_eq!(find("AION-E9999"), None);
    }
}
