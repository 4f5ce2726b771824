//! Lazy minijinja views of a [`Scope`](crate::Scope) and of `serde_json` values.
//!
//! Evaluating `{{ steps.a.output.body.price < inputs.threshold }}` must not convert whole step
//! outputs into minijinja values. Instead the root of the evaluation is a [`Root`] object that
//! hands out small objects on demand: an attribute lookup on a JSON object or array returns a
//! [`JsonNode`] that remembers the shared `Arc<serde_json::Value>` and the path to the node, and
//! only scalars are converted. Strings are copied when read, so every read is charged against a
//! per-evaluation byte meter; once the meter is empty, lookups return undefined and the caller
//! reports the evaluation as out of fuel. This module deliberately does not implement methods
//! (`x.items()`): templates use filters.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use serde_json::Value as Json;

use crate::scope::{ScopeData, StepState};

/// Top-level names an expression may read.
pub(crate) const ROOT_NAMES: [&str; 7] =
    ["inputs", "steps", "trigger", "vars", "run", "item", "index"];

/// The number of bytes an evaluation may copy out of the scope, shared by all views of it.
#[derive(Debug)]
pub(crate) struct Meter {
    remaining: AtomicU64,
    exhausted: AtomicBool,
}

impl Meter {
    pub fn new(bytes: u64) -> Self {
        Self {
            remaining: AtomicU64::new(bytes),
            exhausted: AtomicBool::new(false),
        }
    }

    /// Takes `bytes` from the meter; false (and the meter stays empty) if there are not enough.
    fn charge(&self, bytes: usize) -> bool {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        // Evaluation is single-threaded, so a load-then-store is not racy in practice; the
        // atomics only exist because minijinja objects must be `Sync`.
        let left = self.remaining.load(Ordering::Relaxed);
        if left < bytes {
            self.remaining.store(0, Ordering::Relaxed);
            self.exhausted.store(true, Ordering::Relaxed);
            false
        } else {
            self.remaining.store(left - bytes, Ordering::Relaxed);
            true
        }
    }

    pub fn is_exhausted(&self) -> bool {
        self.exhausted.load(Ordering::Relaxed)
    }
}

/// The root object of one evaluation.
#[derive(Debug)]
pub(crate) struct Root {
    pub scope: Arc<ScopeData>,
    pub meter: Meter,
}

impl Root {
    fn top(self: &Arc<Self>, name: &str) -> Option<Value> {
        let scope = &self.scope;
        match name {
            "inputs" => wrap_root(scope.inputs.as_ref()?, self),
            "trigger" => wrap_root(scope.trigger.as_ref()?, self),
            "vars" => wrap_root(scope.vars.as_ref()?, self),
            "run" => wrap_root(scope.run.as_ref()?, self),
            "item" => wrap_root(scope.item.as_ref()?, self),
            "index" => scope.index.map(Value::from),
            "steps" => Some(Value::from_object(Steps { root: self.clone() })),
            _ => None,
        }
    }
}

impl Object for Root {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.top(key.as_str()?)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let present: Vec<Value> = ROOT_NAMES
            .iter()
            .filter(|name| self.top(name).is_some())
            .map(|name| Value::from(*name))
            .collect();
        Enumerator::Values(present)
    }
}

/// `steps`: one entry per known upstream step.
#[derive(Debug)]
struct Steps {
    root: Arc<Root>,
}

impl Object for Steps {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let state = self.root.scope.steps.get(key.as_str()?)?;
        Some(Value::from_object(Step {
            state: state.clone(),
            root: self.root.clone(),
        }))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let ids = self
            .root
            .scope
            .steps
            .keys()
            .map(|k| Value::from(k.as_str()));
        Enumerator::Values(ids.collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.root.scope.steps.len())
    }
}

/// `steps.<id>`: `output`, `error` and `status`.
#[derive(Debug)]
struct Step {
    state: StepState,
    root: Arc<Root>,
}

impl Object for Step {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "output" => wrap_root(self.state.output.as_ref()?, &self.root),
            "error" => wrap_root(self.state.error.as_ref()?, &self.root),
            "status" => Some(Value::from(self.state.status.as_str())),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut keys = Vec::with_capacity(3);
        if self.state.output.is_some() {
            keys.push(Value::from("output"));
        }
        if self.state.error.is_some() {
            keys.push(Value::from("error"));
        }
        keys.push(Value::from("status"));
        Enumerator::Values(keys)
    }
}

/// One step on the way from a shared JSON document to a node inside it.
#[derive(Debug, Clone)]
enum Seg {
    Key(Arc<str>),
    Index(usize),
}

/// A JSON object or array inside a shared document.
#[derive(Debug)]
pub(crate) struct JsonNode {
    doc: Arc<Json>,
    path: Vec<Seg>,
    root: Arc<Root>,
}

impl JsonNode {
    /// The node this view stands for. The document is immutable, so the path always resolves;
    /// `Null` is only a defensive fallback.
    pub fn resolve(&self) -> &Json {
        let mut node = &*self.doc;
        for seg in &self.path {
            let next = match (seg, node) {
                (Seg::Key(key), Json::Object(map)) => map.get(&**key),
                (Seg::Index(i), Json::Array(items)) => items.get(*i),
                _ => None,
            };
            node = next.unwrap_or(&Json::Null);
        }
        node
    }

    fn child(self: &Arc<Self>, seg: Seg, value: &Json) -> Option<Value> {
        if is_container(value) {
            let mut path = Vec::with_capacity(self.path.len() + 1);
            path.extend_from_slice(&self.path);
            path.push(seg);
            Some(Value::from_object(JsonNode {
                doc: self.doc.clone(),
                path,
                root: self.root.clone(),
            }))
        } else {
            scalar(value, &self.root)
        }
    }
}

impl Object for JsonNode {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        match self.resolve() {
            Json::Array(_) => ObjectRepr::Seq,
            _ => ObjectRepr::Map,
        }
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match self.resolve() {
            Json::Object(map) => {
                let key = key.as_str()?;
                let (key, value) = map.get_key_value(key)?;
                self.child(Seg::Key(Arc::from(key.as_str())), value)
            }
            Json::Array(items) => {
                let index = key.as_i64()?;
                // Negative indices count from the end, like Python and minijinja's own lists.
                let index = if index < 0 {
                    items
                        .len()
                        .checked_sub(usize::try_from(index.unsigned_abs()).ok()?)?
                } else {
                    usize::try_from(index).ok()?
                };
                self.child(Seg::Index(index), items.get(index)?)
            }
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.resolve() {
            Json::Object(map) => {
                let bytes: usize = map.keys().map(String::len).sum();
                if !self.root.meter.charge(bytes) {
                    return Enumerator::Empty;
                }
                Enumerator::Values(map.keys().map(|k| Value::from(k.as_str())).collect())
            }
            Json::Array(items) => Enumerator::Seq(items.len()),
            _ => Enumerator::Empty,
        }
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        match self.resolve() {
            Json::Object(map) => Some(map.len()),
            Json::Array(items) => Some(items.len()),
            _ => Some(0),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Rendering as compact JSON makes `'data: ' ~ steps.x.output` read naturally; the
        // engine charges the produced string against the fuel afterwards.
        let text = serde_json::to_string(self.resolve()).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

fn is_container(value: &Json) -> bool {
    matches!(value, Json::Object(_) | Json::Array(_))
}

/// Wraps a top-level scope value.
fn wrap_root(doc: &Arc<Json>, root: &Arc<Root>) -> Option<Value> {
    if is_container(doc) {
        Some(Value::from_object(JsonNode {
            doc: doc.clone(),
            path: Vec::new(),
            root: root.clone(),
        }))
    } else {
        scalar(doc, root)
    }
}

/// Converts a JSON scalar; strings are charged to the meter because they are copied.
fn scalar(value: &Json, root: &Root) -> Option<Value> {
    Some(match value {
        Json::Null => Value::from(()),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => {
            if !root.meter.charge(s.len()) {
                return None;
            }
            Value::from(s.as_str())
        }
        Json::Array(_) | Json::Object(_) => return None,
    })
}
