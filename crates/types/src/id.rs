//! Identifier formats fixed by the flow document: flow slugs, node ids and port names.
//!
//! These are plain validation functions over `&str`; they do not allocate and never panic, so the
//! compiler can call them on untrusted text.

/// Longest flow id: one leading character plus 62 more, as the DSL fixes.
pub const MAX_FLOW_ID_LEN: usize = 63;
/// Longest node id. The DSL fixes only the alphabet; 64 keeps ids readable in logs and URLs.
pub const MAX_NODE_ID_LEN: usize = 64;

/// Checks a flow id (`[a-z0-9][a-z0-9-]{0,62}`).
pub fn is_flow_id(s: &str) -> bool {
    let bytes = s.as_bytes();
    match bytes.split_first() {
        Some((first, rest)) => {
            bytes.len() <= MAX_FLOW_ID_LEN
                && (first.is_ascii_lowercase() || first.is_ascii_digit())
                && rest
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        }
        None => false,
    }
}

/// Checks a node id (`[a-z_][a-z0-9_]*`, at most [`MAX_NODE_ID_LEN`] characters).
pub fn is_node_id(s: &str) -> bool {
    let bytes = s.as_bytes();
    match bytes.split_first() {
        Some((first, rest)) => {
            bytes.len() <= MAX_NODE_ID_LEN
                && (first.is_ascii_lowercase() || *first == b'_')
                && rest
                    .iter()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
        }
        None => false,
    }
}

/// Checks a port name: node-id alphabet plus `-`, so `true`, `false`, `error` and switch case
/// names such as `high-priority` are all valid.
pub fn is_port_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NODE_ID_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

/// Checks a node type name: `namespace.action`, each part in the node-id alphabet.
pub fn is_node_type(s: &str) -> bool {
    match s.split_once('.') {
        Some((namespace, action)) => is_node_id(namespace) && is_node_id(action),
        None => false,
    }
}

/// Checks a credential name: like a flow id, but `_` is allowed too.
pub fn is_credential_name(s: &str) -> bool {
    let bytes = s.as_bytes();
    match bytes.split_first() {
        Some((first, rest)) => {
            bytes.len() <= MAX_FLOW_ID_LEN
                && (first.is_ascii_lowercase() || first.is_ascii_digit())
                && rest.iter().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_'
                })
        }
        None => false,
    }
}

/// Checks a webhook path: one or more `/`-separated segments of `[a-z0-9_-]`, no leading or
/// trailing slash, at most 128 characters. The path becomes part of a public URL, so it is kept
/// to characters that never need escaping.
pub fn is_webhook_path(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.split('/').all(|segment| {
            !segment.is_empty()
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_ids() {
        assert!(is_flow_id("price-alert"));
        assert!(is_flow_id("0"));
        assert!(is_flow_id(&"a".repeat(63)));
        assert!(!is_flow_id(&"a".repeat(64)));
        assert!(!is_flow_id("-x"));
        assert!(!is_flow_id("Price"));
        assert!(!is_flow_id(""));
        assert!(!is_flow_id("a_b"));
    }

    #[test]
    fn node_ids() {
        assert!(is_node_id("price"));
        assert!(is_node_id("_x1"));
        assert!(!is_node_id("1x"));
        assert!(!is_node_id("a-b"));
        assert!(!is_node_id(""));
        assert!(!is_node_id("Ab"));
    }

    #[test]
    fn node_types_and_paths() {
        assert!(is_node_type("core.if"));
        assert!(is_node_type("http.request"));
        assert!(!is_node_type("core"));
        assert!(!is_node_type("core.if.x"));
        assert!(is_webhook_path("price-alert"));
        assert!(is_webhook_path("github/push_events"));
        assert!(!is_webhook_path("/leading"));
        assert!(!is_webhook_path("a//b"));
        assert!(!is_webhook_path("Upper"));
        assert!(is_port_name("true"));
        assert!(is_port_name("high-priority"));
        assert!(!is_port_name("a b"));
    }
}
