//! Source positions of a parsed document, looked up by JSON Pointer (RFC 6901).
//!
//! The positions are kept as a tree that mirrors the `serde_json::Value`, so building it costs
//! one small node per value and no pointer strings; subtrees are shared behind `Arc` so that a
//! YAML merge key can reuse them cheaply. This module does not parse documents and does
//! not format diagnostics: it only stores and answers positions.

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;

/// A position in the source document.
///
/// `line` and `column` are 1-based and the column counts Unicode scalar values (chars), which is
/// what an editor shows; `offset` is the byte offset in the original input (a leading byte-order
/// mark included), for tools that slice the raw bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Span {
    /// The 1-based line number.
    pub line: u32,
    /// The 1-based column, counted in chars.
    pub column: u32,
    /// The byte offset from the start of the input.
    pub offset: usize,
}

/// Where every value of a parsed document starts, and where each object member's key starts.
///
/// Lookups take an RFC 6901 JSON Pointer such as `""` (the root) or `/nodes/0/config/url`.
#[derive(Clone, Debug, Default)]
pub struct SpanMap {
    root: Option<SpanNode>,
}

/// The span of one value plus, for arrays and objects, the spans of its children.
///
/// The children sit behind an `Arc` so that a YAML merge key can reuse the merged mapping's
/// subtrees instead of copying them.
#[derive(Clone, Debug)]
pub(crate) struct SpanNode {
    pub(crate) span: Span,
    kids: Option<Arc<Kids>>,
}

/// The children of an array or object node.
#[derive(Debug)]
enum Kids {
    Array(Vec<SpanNode>),
    /// Object members, sorted by key so that lookups can binary-search.
    Object(Vec<Member>),
}

/// One object member: its key, where the key starts, and its value's spans.
#[derive(Clone, Debug)]
pub(crate) struct Member {
    pub(crate) key: Box<str>,
    pub(crate) key_span: Span,
    pub(crate) node: SpanNode,
}

impl SpanNode {
    /// A scalar (or a collection whose children are not tracked).
    pub(crate) fn leaf(span: Span) -> Self {
        Self { span, kids: None }
    }

    /// An array whose element spans are given in order.
    pub(crate) fn array(span: Span, items: Vec<SpanNode>) -> Self {
        Self {
            span,
            kids: Some(Arc::new(Kids::Array(items))),
        }
    }

    /// An object; the members are sorted here so that callers may push them in any order.
    pub(crate) fn object(span: Span, mut members: Vec<Member>) -> Self {
        members.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Self {
            span,
            kids: Some(Arc::new(Kids::Object(members))),
        }
    }

    /// The element at `index` if this node is an array.
    pub(crate) fn element(&self, index: usize) -> Option<&SpanNode> {
        match self.kids.as_deref() {
            Some(Kids::Array(items)) => items.get(index),
            _ => None,
        }
    }

    /// The member named `key` if this node is an object.
    pub(crate) fn member(&self, key: &str) -> Option<&Member> {
        match self.kids.as_deref() {
            Some(Kids::Object(members)) => members
                .binary_search_by(|m| m.key.as_ref().cmp(key))
                .ok()
                .and_then(|i| members.get(i)),
            _ => None,
        }
    }
}

/// The outcome of walking a pointer: the deepest node reached and whether the walk got to the end.
struct Walk<'m> {
    node: &'m SpanNode,
    key: Option<Span>,
    complete: bool,
}

impl SpanMap {
    pub(crate) fn new(root: SpanNode) -> Self {
        Self { root: Some(root) }
    }

    /// The span where the value at `pointer` starts, if that value exists.
    pub fn value(&self, pointer: &str) -> Option<Span> {
        self.walk(pointer)
            .filter(|w| w.complete)
            .map(|w| w.node.span)
    }

    /// The span of the key of the object member at `pointer`, for errors such as "unknown field".
    ///
    /// Array elements and the root have no key, so they give `None`.
    pub fn key(&self, pointer: &str) -> Option<Span> {
        self.walk(pointer)
            .filter(|w| w.complete)
            .and_then(|w| w.key)
    }

    /// The span of the value at `pointer` or, if it does not exist, of its closest existing
    /// ancestor; `None` only when the map is empty or `pointer` is not a valid JSON Pointer.
    pub fn nearest(&self, pointer: &str) -> Option<Span> {
        self.walk(pointer).map(|w| w.node.span)
    }

    /// Follows `pointer` as far as it leads; `None` if the pointer is malformed.
    fn walk(&self, pointer: &str) -> Option<Walk<'_>> {
        let root = self.root.as_ref()?;
        let mut walk = Walk {
            node: root,
            key: None,
            complete: true,
        };
        if pointer.is_empty() {
            return Some(walk);
        }
        let rest = pointer.strip_prefix('/')?;
        // Tokens are all unescaped up front so that a malformed pointer is refused as a whole,
        // rather than answered for its valid prefix.
        let unescaped: Vec<Cow<'_, str>> = rest.split('/').map(unescape).collect::<Option<_>>()?;
        for token in unescaped {
            let next = match walk.node.kids.as_deref() {
                Some(Kids::Array(_)) => array_index(&token)
                    .and_then(|i| walk.node.element(i))
                    .map(|n| (n, None)),
                Some(Kids::Object(_)) => walk
                    .node
                    .member(&token)
                    .map(|m| (&m.node, Some(m.key_span))),
                None => None,
            };
            match next {
                Some((node, key)) => {
                    walk.node = node;
                    walk.key = key;
                }
                None => {
                    walk.complete = false;
                    walk.key = None;
                    break;
                }
            }
        }
        Some(walk)
    }
}

/// Decodes one pointer token (`~1` is `/`, `~0` is `~`); `None` for a stray `~`.
fn unescape(token: &str) -> Option<Cow<'_, str>> {
    if !token.contains('~') {
        return Some(Cow::Borrowed(token));
    }
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(Cow::Owned(out))
}

/// Parses an array index token; RFC 6901 forbids leading zeros and signs.
fn array_index(token: &str) -> Option<usize> {
    let well_formed = token == "0"
        || (!token.starts_with('0')
            && !token.is_empty()
            && token.bytes().all(|b| b.is_ascii_digit()));
    if well_formed {
        token.parse().ok()
    } else {
        None
    }
}

/// Escapes one reference token for use in a JSON Pointer: `~` becomes `~0` and `/` becomes `~1`.
pub fn escape_pointer_token(s: &str) -> String {
    if s.contains(['~', '/']) {
        s.replace('~', "~0").replace('/', "~1")
    } else {
        s.to_owned()
    }
}
