//! `aion_engine`: the pure run state machine of Aion.
//!
//! A run is driven by [`apply`] (or [`RunState::apply`]): each [`Event`] a worker reports (the
//! run started, a step attempt started, succeeded or failed, a timer fired, a signal or a child
//! run's result arrived, cancellation was requested) moves the [`RunState`] forward and returns
//! the [`Action`]s the worker must carry out (invoke a step with its resolved config, arm a
//! timer, await a signal, start a child run, complete or fail the run, start the `on_error`
//! flow).
//!
//! # Guarantees
//!
//! * **Deterministic.** No clock (events carry the time the worker observed, `at_ms`), no I/O,
//!   no threads, no randomness but a splitmix64 source seeded by [`Event::RunStarted`] and kept
//!   in the state, and only ordered collections. Replaying a run's journal
//!   ([`RunState::replay`]) rebuilds an equal state, and [`RunState::pending`] lists what to
//!   re-issue after a crash.
//! * **Fenced.** A result whose attempt is not the step's current one, or that arrives for a
//!   step that already finished, is ignored; so is a `StepStarted` with a fencing token lower
//!   than one already seen. A step's result is accepted once.
//! * **Never panics** on any event, even one naming steps that do not exist.
//!
//! # Semantics
//!
//! * Steps without predecessors start together; a step starts when all its predecessors ended
//!   and at least one incoming edge is active, and is skipped (which propagates) when none is.
//!   `core.if` takes port `true`/`false` by truthiness and outputs the boolean; `core.switch`
//!   takes the port of the first truthy case (else `default`) and outputs the port name;
//!   `core.merge` combines its active predecessors (mode `object`, `array` or `first`; a
//!   predecessor reached through its error edge contributes its error object).
//! * A step that fails is retried when its error is retryable and attempts remain, after a
//!   fixed or exponential delay capped at `max` (with full jitter when enabled). Per-attempt
//!   timeouts are enforced by the worker (`timeout_ms` in [`Action::InvokeStep`]) and reported
//!   as retryable errors of kind `timeout`. A final failure takes the step's `error` edges, where
//!   `steps.<id>.error` is `{kind, message, attempts}`; without one, it fails the run (see
//!   `state.rs` for loops) and starts the `on_error` flow with a summary of the run.
//! * Expressions are evaluated by the engine against a scope of `inputs` (after defaults),
//!   `steps`, `trigger`, `vars`, `run` and, in loop bodies, `item` and `index`. An evaluation
//!   error fails the step with kind `expression` (not retryable), naming the expression, where it
//!   sits and the undefined path.
//! * Caching: with a `cache` policy, [`Action::InvokeStep`] carries a [`CacheRequest`] whose key
//!   is the `cache.key` expression's value, or `sha256:` over node type, version and resolved
//!   config; the worker reports `cache_hit`.
//! * `core.foreach` runs at most `concurrency` items at once and outputs the body `output`
//!   values (`null` when the body has none) in item order; an empty list outputs `[]`.
//! * `core.wait` arms a timer (`duration`, or `until` an RFC 3339 instant; a past instant
//!   finishes at once). `core.signal` awaits the next signal of its name (signals that arrive
//!   before anyone waits are kept), failing with kind `timeout` after its optional timeout.
//!   `core.subflow` asks for a child run whose id is the step's idempotency key and finishes
//!   with the child's result, or at once with `{ "run_id": ... }` when `wait` is false.
//! * `core.transform` without `input` gets the whole scope as `input` in its resolved config,
//!   since only the engine has the scope. Every other node is an [`Action::InvokeStep`].
//! * The flow's `output` is evaluated when every top-level step has ended.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//!
//! use aion_engine::{Action, CompiledPlan, Event, RunState, RunStatus};
//! use serde_json::json;
//!
//! let compiler = aion_compiler::Compiler::new(aion_nodes::catalog());
//! let yaml = br#"
//! aion: 1
//! id: hello
//! nodes:
//!   - { id: greet, type: core.set, config: { value: "Hello {{ inputs.name }}" } }
//! output: "{{ steps.greet.output }}"
//! "#;
//! let plan = compiler.compile(yaml, aion_dsl::source::Format::Yaml).plan.expect("compiles");
//!
//! // Once per plan version, shared by all its runs.
//! let engine = Arc::new(aion_expr::Engine::default());
//! let plan = Arc::new(CompiledPlan::new(plan, &engine)?);
//!
//! let mut state = RunState::new(plan, engine);
//! let actions = state.apply(Event::RunStarted {
//!     run_id: "r1".into(),
//!     flow_id: "hello".into(),
//!     flow_version: 1,
//!     input: json!({ "name": "Ada" }),
//!     trigger: json!(null),
//!     vars: json!({}),
//!     at_ms: 1_000,
//!     seed: 7,
//! });
//! let Some(Action::InvokeStep { key, attempt, config, idempotency_key, .. }) = actions.first()
//! else {
//!     panic!("expected an invocation");
//! };
//! assert_eq!(config, &json!({ "value": "Hello Ada" }));
//! assert_eq!(idempotency_key, "r1/greet");
//!
//! // The worker ran the step (core.set outputs its value).
//! let actions = state.apply(Event::StepSucceeded {
//!     key: key.clone(),
//!     attempt: *attempt,
//!     output: json!("Hello Ada"),
//!     port: None,
//!     cache_hit: false,
//!     usage: Default::default(),
//!     at_ms: 1_005,
//! });
//! assert_eq!(actions, vec![Action::CompleteRun { output: json!("Hello Ada") }]);
//! assert_eq!(state.status(), RunStatus::Succeeded);
//! # Ok::<(), aion_engine::PlanError>(())
//! ```
//!
//! [`testing::TestEnv`] drives a run to completion with a fake clock and scripted step results.
//!
//! Compile the plan's expressions with the same [`aion_expr::Engine`] (or one with equal
//! limits) as the one given to [`RunState::new`]: compiled expressions are tied to the
//! environment of their engine.

mod model;
mod plan;
mod state;
pub mod testing;
mod util;

pub use model::{
    Action, CacheRequest, Event, Frame, RunStatus, StepError, StepKey, StepRecord, StepStatus,
    TimerId,
};
pub use plan::{CompiledPlan, PlanError};
pub use state::{KeyMap, RunState, apply};
