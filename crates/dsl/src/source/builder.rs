//! Assembles a `serde_json::Value` and its span tree from a stream of "begin / key / scalar /
//! end" calls, shared by the JSON and YAML readers.
//!
//! It enforces the rules that do not depend on syntax: the nesting limit, the value budget,
//! duplicate keys, and YAML merge keys (`<<`), which need the whole mapping before they can be
//! applied. It does not read any text and does not resolve scalars; the readers do that.

use serde_json::{Map, Value};

use super::spans::{Member, SpanMap, SpanNode};
use super::{Limits, ParseError, ParseErrorKind, Span};

/// Which kind of collection is open at the top of the builder's stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Container {
    Array,
    Object,
}

/// Builds one document's value tree, one event at a time.
#[derive(Debug)]
pub(super) struct Builder {
    max_depth: usize,
    max_nodes: usize,
    /// Every value produced so far, aliases expanded, collections included.
    produced: usize,
    stack: Vec<Frame>,
    root: Option<(Value, SpanNode)>,
}

#[derive(Debug)]
enum Frame {
    Array {
        span: Span,
        items: Vec<Value>,
        nodes: Vec<SpanNode>,
    },
    Object(ObjectFrame),
}

#[derive(Debug)]
struct ObjectFrame {
    span: Span,
    map: Map<String, Value>,
    members: Vec<Member>,
    /// The key read for the member whose value is still to come.
    pending: Option<PendingKey>,
    /// Where a `<<` merge key appeared, so that a second one counts as a duplicate.
    merge_key: Option<Span>,
    /// Values of merge keys, applied when the mapping ends because explicit keys win wherever
    /// they appear in the mapping.
    merges: Vec<(Value, SpanNode)>,
}

#[derive(Debug)]
struct PendingKey {
    name: String,
    span: Span,
    merge: bool,
}

impl Builder {
    pub(super) fn new(limits: &Limits) -> Self {
        Self {
            max_depth: limits.max_depth,
            max_nodes: limits.max_nodes,
            produced: 0,
            stack: Vec::new(),
            root: None,
        }
    }

    /// How many collections are open.
    pub(super) fn depth(&self) -> usize {
        self.stack.len()
    }

    /// How many values have been produced so far.
    pub(super) fn produced(&self) -> usize {
        self.produced
    }

    /// The kind of the innermost open collection, if any.
    pub(super) fn top(&self) -> Option<Container> {
        match self.stack.last() {
            Some(Frame::Array { .. }) => Some(Container::Array),
            Some(Frame::Object(_)) => Some(Container::Object),
            None => None,
        }
    }

    /// Whether the next event is an object key (rather than a value).
    pub(super) fn expects_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Object(o)) if o.pending.is_none())
    }

    /// Whether the root value is complete.
    pub(super) fn is_done(&self) -> bool {
        self.root.is_some()
    }

    /// Opens an array that starts at `span`.
    pub(super) fn begin_array(&mut self, span: Span) -> Result<(), ParseError> {
        self.open(span)?;
        self.stack.push(Frame::Array {
            span,
            items: Vec::new(),
            nodes: Vec::new(),
        });
        Ok(())
    }

    /// Opens an object that starts at `span`.
    pub(super) fn begin_object(&mut self, span: Span) -> Result<(), ParseError> {
        self.open(span)?;
        self.stack.push(Frame::Object(ObjectFrame {
            span,
            map: Map::new(),
            members: Vec::new(),
            pending: None,
            merge_key: None,
            merges: Vec::new(),
        }));
        Ok(())
    }

    /// Checks the depth and the budget before a collection is opened.
    fn open(&mut self, span: Span) -> Result<(), ParseError> {
        if self.stack.len() >= self.max_depth {
            return Err(ParseError::new(
                ParseErrorKind::TooDeep,
                Some(span),
                format!(
                    "the document nests deeper than the limit of {} levels",
                    self.max_depth
                ),
            ));
        }
        self.charge(span)
    }

    /// Counts one more value against the budget.
    fn charge(&mut self, span: Span) -> Result<(), ParseError> {
        self.produced += 1;
        if self.produced > self.max_nodes {
            return Err(ParseError::new(
                ParseErrorKind::TooManyNodes,
                Some(span),
                format!(
                    "the document has more than {} values (aliases expanded)",
                    self.max_nodes
                ),
            ));
        }
        Ok(())
    }

    /// Records the key of the next object member; `merge` marks a YAML `<<` merge key.
    pub(super) fn key(&mut self, name: String, span: Span, merge: bool) -> Result<(), ParseError> {
        let Some(Frame::Object(frame)) = self.stack.last_mut() else {
            return Err(internal(span, "a key outside of a mapping"));
        };
        if frame.pending.is_some() {
            return Err(internal(span, "two keys in a row"));
        }
        let first = if merge || name == "<<" {
            frame.merge_key.or_else(|| frame.key_span(&name))
        } else {
            frame.key_span(&name)
        };
        if let Some(first) = first {
            return Err(ParseError::new(
                ParseErrorKind::DuplicateKey,
                Some(span),
                format!(
                    "duplicate key `{name}` (first defined at line {}, column {})",
                    first.line, first.column
                ),
            ));
        }
        if merge {
            frame.merge_key = Some(span);
        }
        frame.pending = Some(PendingKey { name, span, merge });
        Ok(())
    }

    /// Adds a scalar value.
    pub(super) fn scalar(&mut self, value: Value, span: Span) -> Result<(), ParseError> {
        self.charge(span)?;
        self.attach(value, SpanNode::leaf(span))
    }

    /// Closes the innermost collection; `span` is where its closing event was seen.
    pub(super) fn end(&mut self, span: Span) -> Result<(), ParseError> {
        let (value, node) = match self.stack.pop() {
            Some(Frame::Array { span, items, nodes }) => {
                (Value::Array(items), SpanNode::array(span, nodes))
            }
            Some(Frame::Object(frame)) => frame.finish()?,
            None => return Err(internal(span, "a collection end without a start")),
        };
        self.attach(value, node)
    }

    /// Hands a finished value to its parent, or makes it the root.
    fn attach(&mut self, value: Value, node: SpanNode) -> Result<(), ParseError> {
        match self.stack.last_mut() {
            None if self.root.is_none() => {
                self.root = Some((value, node));
                Ok(())
            }
            None => Err(internal(node.span, "a second root value")),
            Some(Frame::Array { items, nodes, .. }) => {
                items.push(value);
                nodes.push(node);
                Ok(())
            }
            Some(Frame::Object(frame)) => {
                let Some(key) = frame.pending.take() else {
                    return Err(internal(node.span, "a mapping value without a key"));
                };
                if key.merge && is_mergeable(&value) {
                    frame.merges.push((value, node));
                } else {
                    frame.insert(key.name, key.span, value, node);
                }
                Ok(())
            }
        }
    }

    /// The finished document; an error if the events did not make exactly one complete value.
    pub(super) fn finish(self) -> Result<(Value, SpanMap), ParseError> {
        match self.root {
            Some((value, node)) if self.stack.is_empty() => Ok((value, SpanMap::new(node))),
            _ => Err(internal(
                None,
                "the document ended before its value was complete",
            )),
        }
    }
}

impl ObjectFrame {
    /// Where the explicit key `name` was defined, if it was.
    fn key_span(&self, name: &str) -> Option<Span> {
        if !self.map.contains_key(name) {
            return None;
        }
        self.members
            .iter()
            .find(|m| &*m.key == name)
            .map(|m| m.key_span)
    }

    fn insert(&mut self, name: String, key_span: Span, value: Value, node: SpanNode) {
        self.members.push(Member {
            key: name.clone().into_boxed_str(),
            key_span,
            node,
        });
        self.map.insert(name, value);
    }

    /// Applies the merge keys and builds the object and its span node.
    fn finish(mut self) -> Result<(Value, SpanNode), ParseError> {
        if let Some(key) = &self.pending {
            return Err(internal(key.span, "a mapping key without a value"));
        }
        for (value, node) in std::mem::take(&mut self.merges) {
            match value {
                Value::Object(source) => self.merge(source, &node),
                Value::Array(items) => {
                    for (index, item) in items.into_iter().enumerate() {
                        if let Value::Object(source) = item {
                            let item_node = node.element(index).unwrap_or(&node).clone();
                            self.merge(source, &item_node);
                        }
                    }
                }
                // `attach` only queues objects and arrays of objects.
                _ => {}
            }
        }
        Ok((
            Value::Object(self.map),
            SpanNode::object(self.span, self.members),
        ))
    }

    /// Adds the members of `source` that this mapping does not already have: explicit keys, and
    /// keys from earlier merge sources, take precedence as the YAML merge-key spec requires.
    fn merge(&mut self, source: Map<String, Value>, node: &SpanNode) {
        for (name, value) in source {
            if self.map.contains_key(&name) {
                continue;
            }
            let (key_span, member_node) = match node.member(&name) {
                Some(m) => (m.key_span, m.node.clone()),
                None => (node.span, node.clone()),
            };
            self.insert(name, key_span, value, member_node);
        }
    }
}

/// Whether a `<<` value can be merged: a mapping, or a sequence of mappings.
fn is_mergeable(value: &Value) -> bool {
    match value {
        Value::Object(_) => true,
        Value::Array(items) => items.iter().all(Value::is_object),
        _ => false,
    }
}

/// An error for an event sequence that a correct reader never produces; it is reported rather
/// than panicking so that a reader bug cannot crash the caller.
fn internal(span: impl Into<Option<Span>>, what: &str) -> ParseError {
    ParseError::new(
        ParseErrorKind::Syntax,
        span.into(),
        format!("internal parser error: {what}"),
    )
}
