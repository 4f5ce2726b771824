//! The variables an expression can read: `inputs`, `steps`, `trigger`, `vars`, `run`, `item`
//! and `index`.
//!
//! A [`Scope`] holds each value as an `Arc<serde_json::Value>` so that building a scope for a
//! node, cloning it for every iteration of a `core.foreach` body, and evaluating against it never
//! copy the JSON documents. Evaluation wraps these values lazily (see `objects.rs`), so only the
//! parts an expression touches are converted. This module deliberately does not validate the
//! shape of the values (that `run` has an `id`, for instance): the runtime builds them.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value as Json;

/// How a step ended, as seen by later expressions through `steps.<id>.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// The step finished and has an `output`.
    Succeeded,
    /// The step failed; its `error` is visible on error edges.
    Failed,
    /// The step did not run because its branch was inactive; its `output` is undefined.
    Skipped,
}

impl StepStatus {
    /// The value of `steps.<id>.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

/// What the scope knows about one upstream step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepState {
    /// The step's output; `None` makes `steps.<id>.output` undefined.
    pub output: Option<Arc<Json>>,
    /// The step's error object (`kind`, `message`, `attempts`); `None` makes it undefined.
    pub error: Option<Arc<Json>>,
    /// How the step ended.
    pub status: StepStatus,
}

impl StepState {
    /// A step that finished with `output`.
    pub fn succeeded(output: impl Into<Arc<Json>>) -> Self {
        Self {
            output: Some(output.into()),
            error: None,
            status: StepStatus::Succeeded,
        }
    }

    /// A step that failed with `error`.
    pub fn failed(error: impl Into<Arc<Json>>) -> Self {
        Self {
            output: None,
            error: Some(error.into()),
            status: StepStatus::Failed,
        }
    }

    /// A step that was skipped: both `output` and `error` are undefined.
    pub fn skipped() -> Self {
        Self {
            output: None,
            error: None,
            status: StepStatus::Skipped,
        }
    }

    fn to_json(&self) -> Json {
        let mut map = serde_json::Map::new();
        if let Some(output) = &self.output {
            map.insert("output".into(), Json::clone(output));
        }
        if let Some(error) = &self.error {
            map.insert("error".into(), Json::clone(error));
        }
        map.insert("status".into(), Json::from(self.status.as_str()));
        Json::Object(map)
    }
}

/// The data behind a [`Scope`], shared between clones.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ScopeData {
    pub inputs: Option<Arc<Json>>,
    pub steps: BTreeMap<String, StepState>,
    pub trigger: Option<Arc<Json>>,
    pub vars: Option<Arc<Json>>,
    pub run: Option<Arc<Json>>,
    pub item: Option<Arc<Json>>,
    pub index: Option<u64>,
}

/// The variables visible to an expression.
///
/// Cloning is cheap (one reference count); the `with_*` methods copy the small table of
/// references only when the scope is shared, never the JSON values.
///
/// ```
/// use aion_expr::{Scope, StepState};
/// use serde_json::json;
///
/// let scope = Scope::new()
///     .with_inputs(json!({ "threshold": 100 }))
///     .with_step("price", StepState::succeeded(json!({ "body": { "price": 93.5 } })));
/// # let _ = scope;
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    pub(crate) data: Arc<ScopeData>,
}

impl Scope {
    /// An empty scope: every variable is undefined.
    pub fn new() -> Self {
        Self::default()
    }

    fn data_mut(&mut self) -> &mut ScopeData {
        Arc::make_mut(&mut self.data)
    }

    /// Sets `inputs`, the run input after defaults.
    pub fn with_inputs(mut self, inputs: impl Into<Arc<Json>>) -> Self {
        self.data_mut().inputs = Some(inputs.into());
        self
    }

    /// Sets `trigger`, the payload of the trigger that started the run.
    pub fn with_trigger(mut self, trigger: impl Into<Arc<Json>>) -> Self {
        self.data_mut().trigger = Some(trigger.into());
        self
    }

    /// Sets `vars`, the workspace variables.
    pub fn with_vars(mut self, vars: impl Into<Arc<Json>>) -> Self {
        self.data_mut().vars = Some(vars.into());
        self
    }

    /// Sets `run` (`id`, `flow_id`, `flow_version`, `started_at`, `trace_id`).
    pub fn with_run(mut self, run: impl Into<Arc<Json>>) -> Self {
        self.data_mut().run = Some(run.into());
        self
    }

    /// Sets `item` and `index` for one iteration of a `core.foreach` body.
    pub fn with_item(mut self, item: impl Into<Arc<Json>>, index: u64) -> Self {
        let data = self.data_mut();
        data.item = Some(item.into());
        data.index = Some(index);
        self
    }

    /// Adds or replaces what is known about step `id`.
    pub fn with_step(mut self, id: impl Into<String>, state: StepState) -> Self {
        self.insert_step(id, state);
        self
    }

    /// Adds or replaces what is known about step `id` in place.
    pub fn insert_step(&mut self, id: impl Into<String>, state: StepState) {
        self.data_mut().steps.insert(id.into(), state);
    }

    /// What is known about step `id`, if anything.
    pub fn step(&self, id: &str) -> Option<&StepState> {
        self.data.steps.get(id)
    }

    /// The whole scope as one JSON object, the input of a `core.transform` program that has no
    /// explicit `input`: `{ inputs, steps, trigger, vars, run }` plus `item` and `index` when
    /// set. Unset variables are left out, and each step shows `output`, `error` (when present)
    /// and `status`. This copies the values, so call it only when a program needs it.
    pub fn to_json(&self) -> Json {
        let data = &*self.data;
        let mut map = serde_json::Map::new();
        let mut put = |name: &str, value: &Option<Arc<Json>>| {
            if let Some(value) = value {
                map.insert(name.to_owned(), Json::clone(value));
            }
        };
        put("inputs", &data.inputs);
        put("trigger", &data.trigger);
        put("vars", &data.vars);
        put("run", &data.run);
        put("item", &data.item);
        let steps = data
            .steps
            .iter()
            .map(|(id, step)| (id.clone(), step.to_json()))
            .collect();
        map.insert("steps".into(), Json::Object(steps));
        if let Some(index) = data.index {
            map.insert("index".into(), Json::from(index));
        }
        Json::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clones_share_values_until_changed() {
        let a = Scope::new().with_inputs(json!({"x": 1}));
        let b = a.clone().with_item(json!("i"), 3);
        assert!(Arc::ptr_eq(
            a.data.inputs.as_ref().unwrap(),
            b.data.inputs.as_ref().unwrap()
        ));
        assert_eq!(a.data.item, None);
        assert_eq!(b.data.index, Some(3));
    }

    #[test]
    fn whole_scope_as_json() {
        let scope = Scope::new()
            .with_inputs(json!({"x": 1}))
            .with_step("a", StepState::succeeded(json!(2)))
            .with_step("b", StepState::skipped());
        assert_eq!(
            scope.to_json(),
            json!({
                "inputs": {"x": 1},
                "steps": {"a": {"output": 2, "status": "succeeded"}, "b": {"status": "skipped"}}
            })
        );
    }
}
