//! The engine's semantics, one test per rule: flows are compiled from YAML with the real
//! compiler and catalog, then driven by the scripted worker of `aion_engine::testing`.

use std::sync::{Arc, OnceLock};

use aion_compiler::Compiler;
use aion_dsl::source::Format;
use aion_engine::testing::{Reply, TestEnv};
use aion_engine::{
    Action, CompiledPlan, Event, Frame, RunState, RunStatus, StepError, StepKey, StepStatus,
    TimerId,
};
use aion_plan::Plan;
use serde_json::{Value, json};

fn compiler() -> &'static Compiler {
    static COMPILER: OnceLock<Compiler> = OnceLock::new();
    COMPILER.get_or_init(|| Compiler::new(aion_nodes::catalog()))
}

/// Compiles a flow given its `nodes`/`edges`/... part (the header is added).
fn plan(body: &str) -> Plan {
    let yaml = format!("aion: 1\nid: test-flow\n{body}");
    let output = compiler().compile(yaml.as_bytes(), Format::Yaml);
    match output.plan {
        Some(plan) => plan,
        None => panic!("flow does not compile: {:#?}", output.diagnostics),
    }
}

fn env(body: &str) -> TestEnv {
    TestEnv::new(plan(body)).expect("plan compiles in the engine")
}

fn state(body: &str) -> RunState {
    let engine = Arc::new(aion_expr::Engine::default());
    let compiled = Arc::new(CompiledPlan::new(plan(body), &engine).expect("plan compiles"));
    RunState::new(compiled, engine)
}

fn started(seed: u64) -> Event {
    Event::RunStarted {
        run_id: "run-1".into(),
        flow_id: "test-flow".into(),
        flow_version: 1,
        input: json!({}),
        trigger: Value::Null,
        vars: Value::Null,
        at_ms: 0,
        seed,
    }
}

fn started_with(input: Value) -> Event {
    Event::RunStarted {
        run_id: "run-1".into(),
        flow_id: "test-flow".into(),
        flow_version: 1,
        input,
        trigger: Value::Null,
        vars: Value::Null,
        at_ms: 0,
        seed: 1,
    }
}

fn invokes(actions: &[Action]) -> Vec<(StepKey, u32)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::InvokeStep { key, attempt, .. } => Some((key.clone(), *attempt)),
            _ => None,
        })
        .collect()
}

fn timers(actions: &[Action]) -> Vec<(TimerId, i64)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::ScheduleTimer { timer, due_ms } => Some((*timer, *due_ms)),
            _ => None,
        })
        .collect()
}

fn status(env: &TestEnv, display: &str) -> StepStatus {
    env.state()
        .step(display)
        .unwrap_or_else(|| panic!("no record for {display}"))
        .status
}

fn output(env: &TestEnv, display: &str) -> Value {
    env.state()
        .step(display)
        .and_then(|r| r.output.as_deref().cloned())
        .unwrap_or(Value::Null)
}

const CHAIN: &str = r#"
inputs:
  type: object
  properties:
    name: { type: string, default: world }
nodes:
  - { id: a, type: core.set, config: { value: "{{ inputs.name }}" } }
  - { id: b, type: core.set, config: { value: "hello {{ steps.a.output }}" } }
  - { id: c, type: core.set, config: { value: { greeting: "{{ steps.b.output }}", run: "{{ run.id }}", v: "{{ vars.region }}" } } }
edges:
  - { from: a, to: b }
  - { from: b, to: c }
output: "{{ steps.c.output }}"
"#;

#[test]
fn chain_resolves_expressions_and_evaluates_the_flow_output() {
    let mut env = env(CHAIN);
    let status = env.run_with(
        json!({}),
        json!({"kind": "manual"}),
        json!({"region": "eu"}),
    );
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(
        env.state().output(),
        Some(&json!({"greeting": "hello world", "run": "run-1", "v": "eu"}))
    );
    assert_eq!(env.state().inputs(), Some(&json!({"name": "world"})));
    insta::assert_snapshot!("chain_trace", env.trace());
}

#[test]
fn given_input_wins_over_defaults() {
    let mut env = env(CHAIN);
    env.run(json!({"name": "ada"}));
    assert_eq!(output(&env, "b"), json!("hello ada"));
}

#[test]
fn records_keep_history() {
    let mut env = env(CHAIN);
    env.latency_ms = 10;
    env.run(json!({}));
    let record = env.state().step("b").expect("record");
    assert_eq!(record.status, StepStatus::Succeeded);
    assert_eq!(record.attempts, 1);
    assert_eq!(record.input, Some(json!({"value": "hello world"})));
    assert_eq!(record.idempotency_key, "run-1/b");
    assert_eq!(record.started_at_ms, Some(20));
    assert_eq!(record.finished_at_ms, Some(20));
    assert!(!record.cache_hit);
    assert_eq!(env.state().steps().len(), 3);
}

#[test]
fn parallel_branches_are_invoked_in_the_same_apply() {
    let mut state = state(
        r#"
nodes:
  - { id: a, type: core.noop }
  - { id: b, type: core.noop }
  - { id: c, type: core.noop }
  - { id: join, type: core.noop }
edges:
  - { from: a, to: join }
  - { from: b, to: join }
  - { from: c, to: join }
"#,
    );
    let actions = state.apply(started(1));
    assert_eq!(
        invokes(&actions),
        vec![
            (StepKey::top(0), 1),
            (StepKey::top(1), 1),
            (StepKey::top(2), 1)
        ]
    );
    for step in 0..2 {
        let actions = state.apply(Event::StepSucceeded {
            usage: Default::default(),
            key: StepKey::top(step),
            attempt: 1,
            output: Value::Null,
            port: None,
            cache_hit: false,
            at_ms: 5,
        });
        assert!(actions.is_empty(), "join waits for every predecessor");
    }
    let actions = state.apply(Event::StepSucceeded {
        usage: Default::default(),
        key: StepKey::top(2),
        attempt: 1,
        output: Value::Null,
        port: None,
        cache_hit: false,
        at_ms: 6,
    });
    assert_eq!(invokes(&actions), vec![(StepKey::top(3), 1)]);
}

const BRANCHES: &str = r#"
inputs:
  type: object
  properties:
    n: { type: number, default: 5 }
nodes:
  - { id: check, type: core.if, config: { condition: "{{ inputs.n > 3 }}" } }
  - { id: big, type: core.set, config: { value: big } }
  - { id: big_more, type: core.set, config: { value: "{{ steps.big.output }}!" } }
  - { id: small, type: core.set, config: { value: small } }
  - { id: small_more, type: core.set, config: { value: "{{ steps.small.output }}?" } }
  - { id: join, type: core.merge }
  - id: after
    type: core.set
    config:
      value:
        small: "{{ steps.small_more.status }}"
        small_output: "{{ steps.small_more.output | default('none') }}"
        merged: "{{ steps.join.output }}"
edges:
  - { from: check, port: "true", to: big }
  - { from: big, to: big_more }
  - { from: check, port: "false", to: small }
  - { from: small, to: small_more }
  - { from: big_more, to: join }
  - { from: small_more, to: join }
  - { from: join, to: after }
output: "{{ steps.after.output }}"
"#;

#[test]
fn if_skips_the_inactive_branch_and_the_merge_runs_once() {
    let mut env = env(BRANCHES);
    assert_eq!(env.run(json!({})), RunStatus::Succeeded);
    assert_eq!(status(&env, "small"), StepStatus::Skipped);
    assert_eq!(status(&env, "small_more"), StepStatus::Skipped);
    assert_eq!(output(&env, "check"), json!(true));
    assert_eq!(
        env.state().output(),
        Some(&json!({"small": "skipped", "small_output": "none", "merged": {"big_more": "big!"}}))
    );
    assert_eq!(env.invocations_of("big_more").len(), 1);
    assert!(env.invocations_of("small").is_empty());

    let mut env = self::env(BRANCHES);
    env.run(json!({"n": 1}));
    assert_eq!(status(&env, "big"), StepStatus::Skipped);
    assert_eq!(
        env.state().output().and_then(|o| o.get("merged")),
        Some(&json!({"small_more": "small?"}))
    );
}

const SWITCH: &str = r#"
inputs:
  type: object
  properties:
    n: { type: number, default: 0 }
nodes:
  - id: route
    type: core.switch
    config:
      cases:
        - { port: many, when: "{{ inputs.n > 100 }}" }
        - { port: some, when: "{{ inputs.n > 0 }}" }
  - { id: many, type: core.set, config: { value: many } }
  - { id: some, type: core.set, config: { value: some } }
  - { id: none, type: core.set, config: { value: none } }
  - { id: all, type: core.merge, config: { mode: array } }
  - { id: first, type: core.merge, config: { mode: first } }
  - { id: only_many, type: core.noop }
edges:
  - { from: route, port: many, to: many }
  - { from: route, port: some, to: some }
  - { from: route, port: default, to: none }
  - { from: many, to: all }
  - { from: some, to: all }
  - { from: none, to: all }
  - { from: many, to: first }
  - { from: some, to: first }
  - { from: none, to: first }
  - { from: many, to: only_many }
output: { all: "{{ steps.all.output }}", first: "{{ steps.first.output }}", route: "{{ steps.route.output }}", only: "{{ steps.only_many.status }}" }
"#;

#[test]
fn switch_takes_the_first_matching_case_or_default() {
    for (n, port) in [(500, "many"), (5, "some"), (0, "none")] {
        let mut env = env(SWITCH);
        assert_eq!(env.run(json!({ "n": n })), RunStatus::Succeeded);
        let out = env.state().output().cloned().unwrap_or_default();
        assert_eq!(out["all"], json!([port]), "n = {n}");
        assert_eq!(out["first"], json!(port));
        let expected_route = if port == "none" { "default" } else { port };
        assert_eq!(out["route"], json!(expected_route));
        let only = if port == "many" {
            "succeeded"
        } else {
            "skipped"
        };
        assert_eq!(out["only"], json!(only));
    }
}

#[test]
fn a_merge_whose_edges_are_all_inactive_is_skipped_and_skipping_propagates() {
    let mut env = env(r#"
nodes:
  - { id: check, type: core.if, config: { condition: false } }
  - { id: a, type: core.noop }
  - { id: b, type: core.noop }
  - { id: join, type: core.merge }
  - { id: after, type: core.noop }
edges:
  - { from: check, port: "true", to: a }
  - { from: check, port: "true", to: b }
  - { from: a, to: join }
  - { from: b, to: join }
  - { from: join, to: after }
"#);
    assert_eq!(env.run(json!({})), RunStatus::Succeeded);
    for id in ["a", "b", "join", "after"] {
        assert_eq!(status(&env, id), StepStatus::Skipped, "{id}");
    }
    assert!(env.invocations().is_empty());
}

const FETCH_WITH_ERROR_EDGE: &str = r#"
nodes:
  - { id: fetch, type: http.request, config: { url: "https://example.invalid" } }
  - { id: use_it, type: core.set, config: { value: "{{ steps.fetch.output }}" } }
  - id: handle
    type: core.set
    config:
      value: "{{ steps.fetch.error.kind }}: {{ steps.fetch.error.message }} after {{ steps.fetch.error.attempts }} ({{ steps.fetch.status }})"
edges:
  - { from: fetch, to: use_it }
  - { from: fetch, port: error, to: handle }
output: { handled: "{{ steps.handle.output | default(none) }}", used: "{{ steps.use_it.status }}" }
"#;

#[test]
fn a_failure_takes_the_error_edge_and_the_run_goes_on() {
    let mut env = env(FETCH_WITH_ERROR_EDGE);
    env.on_step("fetch", |_| {
        Reply::Err(StepError::permanent("http_status", "404 Not Found"))
    });
    assert_eq!(env.run(json!({})), RunStatus::Succeeded);
    assert_eq!(
        env.state().output(),
        Some(&json!({"handled": "http_status: 404 Not Found after 1 (failed)", "used": "skipped"}))
    );
    assert_eq!(status(&env, "fetch"), StepStatus::Failed);
}

#[test]
fn a_success_skips_the_error_edge() {
    let mut env = env(FETCH_WITH_ERROR_EDGE);
    env.on_step("fetch", |_| Reply::Ok(json!({"status": 200})));
    assert_eq!(env.run(json!({})), RunStatus::Succeeded);
    assert_eq!(status(&env, "handle"), StepStatus::Skipped);
    assert_eq!(
        env.state().output(),
        Some(&json!({"handled": null, "used": "succeeded"}))
    );
}

#[test]
fn a_failure_without_error_edge_fails_the_run() {
    let mut env = env(r#"
nodes:
  - { id: boom, type: core.fail, config: { message: "bad order", kind: invalid_order } }
  - { id: never, type: core.noop }
edges:
  - { from: boom, to: never }
"#);
    assert_eq!(env.run(json!({})), RunStatus::Failed);
    let (error, step) = env.state().error().expect("error");
    assert_eq!(error.kind, "invalid_order");
    assert_eq!(error.message, "bad order");
    assert_eq!(step, Some("boom"));
    assert!(env.state().step("never").is_none());
    assert!(matches!(
        env.actions().last(),
        Some(Action::FailRun { step: Some(s), .. }) if s == "boom"
    ));
    assert!(
        !env.actions()
            .iter()
            .any(|a| matches!(a, Action::StartFlow { .. }))
    );
}

#[test]
fn on_error_starts_the_flow_with_the_failed_runs_summary() {
    let mut env = env(r#"
nodes:
  - { id: boom, type: core.fail, config: { message: "nope" } }
on_error: { flow: notify-oncall }
"#);
    env.advance(1_000);
    assert_eq!(env.run(json!({})), RunStatus::Failed);
    let Some(Action::StartFlow { flow, input }) = env.actions().last() else {
        panic!("no StartFlow: {:?}", env.actions());
    };
    assert_eq!(flow, "notify-oncall");
    assert_eq!(
        input,
        &json!({
            "run": {
                "id": "run-1",
                "flow_id": "test-flow",
                "flow_version": 1,
                "started_at": "1970-01-01T00:00:01.000Z",
                "failed_at": "1970-01-01T00:00:01.000Z",
            },
            "step": "boom",
            "error": { "kind": "flow_failed", "message": "nope", "retryable": false },
        })
    );
}

const RETRIED: &str = r#"
nodes:
  - id: flaky
    type: http.request
    config: { url: "https://example.invalid" }
    retry: { max_attempts: 4, backoff: exponential, initial: 1s, max: 3s, jitter: JITTER }
    timeout: 2s
"#;

/// Runs `flaky` failing `failures` times with a retryable error; returns the retry delays.
fn retry_delays(jitter: bool, seed: u64, failures: u32) -> (TestEnv, Vec<i64>) {
    let mut env = env(&RETRIED.replace("JITTER", &jitter.to_string()));
    env.seed = seed;
    env.on_step("flaky", move |inv| {
        if inv.attempt <= failures {
            Reply::Err(StepError::retryable("timeout", "attempt timed out"))
        } else {
            Reply::Ok(json!(inv.attempt))
        }
    });
    env.run(json!({}));
    let calls: Vec<i64> = env
        .invocations_of("flaky")
        .iter()
        .map(|i| i.at_ms)
        .collect();
    let delays = calls.windows(2).map(|w| w[1] - w[0]).collect();
    (env, delays)
}

#[test]
fn exponential_backoff_doubles_up_to_max() {
    let (env, delays) = retry_delays(false, 1, 3);
    assert_eq!(delays, vec![1_000, 2_000, 3_000]);
    assert_eq!(env.state().status(), RunStatus::Succeeded);
    assert_eq!(output(&env, "flaky"), json!(4));
    assert_eq!(env.state().step("flaky").map(|r| r.attempts), Some(4));
}

#[test]
fn jitter_is_bounded_and_deterministic_per_seed() {
    let mut all = Vec::new();
    for seed in 0..20 {
        let (_, delays) = retry_delays(true, seed, 3);
        let (_, again) = retry_delays(true, seed, 3);
        assert_eq!(delays, again, "same seed, same delays");
        for (delay, cap) in delays.iter().zip([1_000, 2_000, 3_000]) {
            assert!((0..=cap).contains(delay), "{delay} > {cap}");
        }
        all.push(delays);
    }
    all.dedup();
    assert!(all.len() > 1, "jitter varies with the seed");
}

#[test]
fn retries_stop_after_max_attempts_and_timeout_passes_to_the_worker() {
    let (env, delays) = retry_delays(false, 1, 10);
    assert_eq!(delays.len(), 3);
    assert_eq!(env.state().status(), RunStatus::Failed);
    let (error, _) = env.state().error().expect("error");
    assert_eq!(error.kind, "timeout");
    for invocation in env.invocations_of("flaky") {
        let Action::InvokeStep {
            timeout_ms,
            idempotency_key,
            ..
        } = &invocation.action
        else {
            panic!("not an invoke");
        };
        assert_eq!(*timeout_ms, Some(2_000));
        assert_eq!(idempotency_key, "run-1/flaky", "the same for every attempt");
    }
}

#[test]
fn fixed_backoff_and_non_retryable_errors() {
    let mut env = env(r#"
nodes:
  - id: fixed
    type: http.request
    config: { url: "https://example.invalid" }
    retry: { max_attempts: 3, backoff: fixed, initial: 500ms, jitter: false }
  - id: permanent
    type: http.request
    config: { url: "https://example.invalid" }
    retry: { max_attempts: 5 }
  - { id: after, type: core.noop }
edges:
  - { from: permanent, port: error, to: after }
"#);
    env.on_step("fixed", |inv| {
        if inv.attempt < 3 {
            Reply::Err(StepError::retryable("unavailable", "503"))
        } else {
            Reply::Ok(json!("ok"))
        }
    });
    env.on_step("permanent", |_| {
        Reply::Err(StepError::permanent("bad_request", "400"))
    });
    assert_eq!(env.run(json!({})), RunStatus::Succeeded);
    let times: Vec<i64> = env
        .invocations_of("fixed")
        .iter()
        .map(|i| i.at_ms)
        .collect();
    assert_eq!(times, vec![0, 500, 1_000]);
    assert_eq!(env.invocations_of("permanent").len(), 1, "no retry");
}

const CACHED: &str = r#"
inputs:
  type: object
  properties:
    q: { type: string, default: sol }
nodes:
  - id: price
    type: http.request
    config: { url: "https://example.invalid/{{ inputs.q }}" }
    cache: { ttl: 5m }
  - id: keyed
    type: http.request
    config: { url: "https://example.invalid/{{ inputs.q }}/x" }
    cache: { ttl: 1m, key: "price-{{ inputs.q }}" }
"#;

fn cache_keys(input: Value) -> (TestEnv, Vec<(String, u64)>) {
    let mut env = env(CACHED);
    env.on_step("price", |_| Reply::Cached(json!(1)));
    env.on_step("keyed", |_| Reply::Ok(json!(2)));
    env.run(input);
    let keys = env
        .invocations()
        .iter()
        .filter_map(|i| match &i.action {
            Action::InvokeStep { cache: Some(c), .. } => Some((c.key.clone(), c.ttl_ms)),
            _ => None,
        })
        .collect();
    (env, keys)
}

#[test]
fn cache_keys_are_stable_and_follow_the_config() {
    let (env, first) = cache_keys(json!({}));
    let (_, again) = cache_keys(json!({}));
    let (_, other) = cache_keys(json!({"q": "eth"}));
    assert_eq!(first, again);
    assert_eq!(first.len(), 2);
    assert!(first[0].0.starts_with("sha256:") && first[0].0.len() == 71);
    assert_eq!(first[0].1, 300_000);
    assert_ne!(
        first[0].0, other[0].0,
        "a different config gives a different key"
    );
    assert_eq!(first[1], ("price-sol".to_owned(), 60_000));
    assert_eq!(other[1].0, "price-eth");
    assert!(env.state().step("price").is_some_and(|r| r.cache_hit));
    assert!(env.state().step("keyed").is_some_and(|r| !r.cache_hit));
}

const LOOP: &str = r#"
nodes:
  - id: each
    type: core.foreach
    config: { items: "{{ inputs.items }}", concurrency: 3 }
    body:
      nodes:
        - { id: work, type: core.set, config: { value: "{{ item }}-{{ index }}" } }
      edges: []
      output: "{{ steps.work.output }}"
output: "{{ steps.each.output }}"
"#;

#[test]
fn foreach_bounds_concurrency_and_keeps_item_order() {
    let mut env = env(LOOP);
    env.latency_ms = 1;
    let items: Vec<String> = (0..10).map(|i| format!("i{i}")).collect();
    assert_eq!(env.run(json!({ "items": items })), RunStatus::Succeeded);
    assert_eq!(env.max_in_flight("work"), 3);
    let expected: Vec<String> = (0..10).map(|i| format!("i{i}-{i}")).collect();
    assert_eq!(env.state().output(), Some(&json!(expected)));
    assert_eq!(
        env.state()
            .step("each[7].work")
            .map(|r| r.idempotency_key.as_str()),
        Some("run-1/each[7].work")
    );
}

#[test]
fn foreach_outputs_follow_item_order_whatever_the_completion_order() {
    let mut state = state(LOOP);
    let mut actions = state.apply(started_with(json!({"items": ["a", "b", "c"]})));
    let keys = invokes(&actions);
    assert_eq!(keys.len(), 3);
    assert_eq!(
        keys[2].0,
        StepKey::new(
            vec![Frame {
                foreach: 0,
                item: 2
            }],
            0
        )
    );
    for (key, attempt) in keys.into_iter().rev() {
        let item = key.frames[0].item;
        actions = state.apply(Event::StepSucceeded {
            usage: Default::default(),
            key,
            attempt,
            output: json!(format!("out{item}")),
            port: None,
            cache_hit: false,
            at_ms: 1,
        });
    }
    assert_eq!(
        actions,
        vec![Action::CompleteRun {
            output: json!(["out0", "out1", "out2"])
        }]
    );
}

#[test]
fn foreach_over_an_empty_list_outputs_an_empty_list() {
    let mut env = env(LOOP);
    assert_eq!(env.run(json!({"items": []})), RunStatus::Succeeded);
    assert_eq!(env.state().output(), Some(&json!([])));
}

#[test]
fn foreach_body_without_output_gives_nulls_and_outer_steps_are_visible() {
    let mut env = env(r#"
nodes:
  - { id: base, type: core.set, config: { value: 10 } }
  - id: each
    type: core.foreach
    config: { items: [1, 2] }
    body:
      nodes:
        - { id: add, type: core.set, config: { value: "{{ steps.base.output + item }}" } }
      edges: []
edges:
  - { from: base, to: each }
"#);
    assert_eq!(env.run(json!({})), RunStatus::Succeeded);
    assert_eq!(output(&env, "each"), json!([null, null]));
    assert_eq!(output(&env, "each[1].add"), json!(12));
}

#[test]
fn nested_foreach_inner_item_wins() {
    let mut env = env(r#"
nodes:
  - id: outer
    type: core.foreach
    config: { items: [[1, 2], [3]], concurrency: 2 }
    body:
      nodes:
        - id: inner
          type: core.foreach
          config: { items: "{{ item }}", concurrency: 2 }
          body:
            nodes:
              - { id: double, type: core.set, config: { value: "{{ item * 2 }}" } }
            edges: []
            output: "{{ steps.double.output }}"
      edges: []
      output: "{{ steps.inner.output }}"
output: "{{ steps.outer.output }}"
"#);
    assert_eq!(env.run(json!({})), RunStatus::Succeeded);
    assert_eq!(env.state().output(), Some(&json!([[2, 4], [6]])));
    assert_eq!(output(&env, "outer[0].inner[1].double"), json!(4));
    let key = StepKey::new(
        vec![
            Frame {
                foreach: 0,
                item: 0,
            },
            Frame {
                foreach: 0,
                item: 1,
            },
        ],
        0,
    );
    assert_eq!(env.state().plan().display(&key), "outer[0].inner[1].double");
}

#[test]
fn a_failing_body_step_fails_the_loop_and_its_error_edge_applies() {
    let body = r#"
nodes:
  - id: each
    type: core.foreach
    config: { items: [1, 2, 3, 4] }
    body:
      nodes:
        - { id: check, type: core.fail, config: { message: "item {{ item }} is bad" } }
      edges: []
  - { id: recover, type: core.set, config: { value: "{{ steps.each.error.message }}" } }
edges:
  - { from: each, port: error, to: recover }
output: "{{ steps.recover.output }}"
"#;
    let mut env = env(body);
    assert_eq!(env.run(json!({})), RunStatus::Succeeded);
    assert_eq!(
        env.state().output(),
        Some(&json!("each[0].check: item 1 is bad"))
    );
    assert_eq!(
        env.invocations_of("check").len(),
        1,
        "later items never start"
    );

    let mut env = self::env(&body.replace("port: error, ", ""));
    assert_eq!(env.run(json!({})), RunStatus::Failed);
    assert_eq!(env.state().error().and_then(|(_, s)| s), Some("each"));
}

#[test]
fn wait_arms_a_timer_for_a_duration_or_an_instant() {
    let mut env = env(r#"
nodes:
  - { id: pause, type: core.wait, config: { duration: 5s } }
  - { id: until, type: core.wait, config: { until: "1970-01-01T00:00:09Z" } }
  - { id: past, type: core.wait, config: { until: "1960-01-01T00:00:00Z" } }
  - { id: done, type: core.set, config: { value: "{{ run.started_at }}" } }
edges:
  - { from: pause, to: until }
  - { from: until, to: past }
  - { from: past, to: done }
"#);
    assert_eq!(env.run(json!({})), RunStatus::Succeeded);
    assert_eq!(env.now_ms(), 9_000);
    assert_eq!(
        timers(env.actions()),
        vec![(TimerId(0), 5_000), (TimerId(1), 9_000)]
    );
    assert_eq!(output(&env, "done"), json!("1970-01-01T00:00:00.000Z"));
    assert_eq!(
        env.state().step("until").and_then(|r| r.finished_at_ms),
        Some(9_000)
    );
}

const SIGNAL: &str = r#"
nodes:
  - id: approve
    type: core.signal
    config: { name: approval, timeout: 1h, schema: { type: object, required: [ok] } }
  - { id: after, type: core.set, config: { value: "{{ steps.approve.output.ok }}" } }
  - { id: late, type: core.set, config: { value: "{{ steps.approve.error.kind }}" } }
edges:
  - { from: approve, to: after }
  - { from: approve, port: error, to: late }
"#;

#[test]
fn signal_delivers_its_payload() {
    let mut env = env(SIGNAL);
    env.signal_at(60_000, "approval", json!({"ok": true}));
    assert_eq!(env.run(json!({})), RunStatus::Succeeded);
    assert_eq!(output(&env, "after"), json!(true));
    assert_eq!(status(&env, "late"), StepStatus::Skipped);
    assert!(env.actions().iter().any(
        |a| matches!(a, Action::AwaitSignal { name, schema: Some(schema), .. }
                if name == "approval" && schema["required"] == json!(["ok"]))
    ));
}

#[test]
fn signal_times_out_with_kind_timeout() {
    let mut env = env(SIGNAL);
    env.signal_at(4_000_000, "approval", json!({"ok": true}));
    assert_eq!(env.run(json!({})), RunStatus::Succeeded);
    assert_eq!(env.now_ms(), 3_600_000);
    assert_eq!(output(&env, "late"), json!("timeout"));
    assert_eq!(status(&env, "after"), StepStatus::Skipped);
}

#[test]
fn a_signal_sent_before_anyone_waits_is_kept() {
    let mut state = state(
        r#"
nodes:
  - { id: pause, type: core.wait, config: { duration: 1s } }
  - { id: approve, type: core.signal, config: { name: go } }
edges:
  - { from: pause, to: approve }
"#,
    );
    state.apply(started(1));
    let none = state.apply(Event::SignalReceived {
        name: "go".into(),
        payload: json!(7),
        at_ms: 10,
    });
    assert!(none.is_empty());
    let actions = state.apply(Event::TimerFired {
        timer: TimerId(0),
        at_ms: 1_000,
    });
    assert_eq!(
        actions,
        vec![Action::CompleteRun {
            output: Value::Null
        }]
    );
    assert_eq!(
        state
            .step("approve")
            .and_then(|r| r.output.as_deref().cloned()),
        Some(json!(7))
    );
}

const SUBFLOW: &str = r#"
nodes:
  - id: child
    type: core.subflow
    config: { flow: billing, version: 3, input: { amount: 5 }, wait: WAIT }
output: "{{ steps.child.output }}"
"#;

#[test]
fn subflow_waits_for_the_child_result() {
    let mut env = env(&SUBFLOW.replace("WAIT", "true"));
    env.on_child("billing", |input| Ok(json!({"charged": input["amount"]})));
    assert_eq!(env.run(json!({})), RunStatus::Succeeded);
    assert_eq!(env.state().output(), Some(&json!({"charged": 5})));
    assert!(env.actions().iter().any(|a| matches!(
        a,
        Action::StartChildRun { flow, version: Some(3), wait: true, child_run_id, .. }
            if flow == "billing" && child_run_id == "run-1/child"
    )));

    let mut env = self::env(&SUBFLOW.replace("WAIT", "true"));
    env.on_child("billing", |_| {
        Err(StepError::permanent("child_failed", "declined"))
    });
    assert_eq!(env.run(json!({})), RunStatus::Failed);
    assert_eq!(
        env.state().error().map(|(e, _)| e.kind.as_str()),
        Some("child_failed")
    );
}

#[test]
fn subflow_without_wait_finishes_with_the_child_run_id() {
    let mut env = env(&SUBFLOW.replace("WAIT", "false"));
    env.on_child("billing", |_| Ok(Value::Null));
    assert_eq!(env.run(json!({})), RunStatus::Succeeded);
    assert_eq!(
        env.state().output(),
        Some(&json!({"run_id": "run-1/child"}))
    );
}

#[test]
fn cancel_stops_the_run_and_later_results_are_ignored() {
    let mut env = env(r#"
nodes:
  - { id: slow, type: http.request, config: { url: "https://example.invalid" } }
  - { id: after, type: core.noop }
edges:
  - { from: slow, to: after }
"#);
    env.on_step("slow", |_| Reply::Hang);
    env.cancel_at(100, "user asked");
    assert_eq!(env.run(json!({})), RunStatus::Cancelled);
    assert!(
        matches!(env.actions().last(), Some(Action::CancelRun { reason }) if reason == "user asked")
    );
    assert_eq!(status(&env, "slow"), StepStatus::Cancelled);
    let before = env.actions().len();
    env.feed(Event::StepSucceeded {
        usage: Default::default(),
        key: StepKey::top(0),
        attempt: 1,
        output: Value::Null,
        port: None,
        cache_hit: false,
        at_ms: 200,
    });
    assert_eq!(env.actions().len(), before);
    assert!(env.state().pending().is_empty());
}

#[test]
fn stale_attempts_and_fencing_are_ignored() {
    let mut state = state(&RETRIED.replace("JITTER", "false"));
    let actions = state.apply(started(1));
    assert_eq!(invokes(&actions), vec![(StepKey::top(0), 1)]);
    let start = |attempt, fencing| Event::StepStarted {
        key: StepKey::top(0),
        attempt,
        fencing,
        at_ms: 1,
    };
    state.apply(start(1, 5));
    assert_eq!(state.step("flaky").map(|r| r.fencing), Some(5));
    assert!(state.apply(start(1, 3)).is_empty());
    assert_eq!(
        state.step("flaky").map(|r| r.fencing),
        Some(5),
        "lower token ignored"
    );
    let actions = state.apply(Event::StepFailed {
        usage: Default::default(),
        key: StepKey::top(0),
        attempt: 1,
        error: StepError::retryable("timeout", "slow"),
        at_ms: 10,
    });
    assert_eq!(timers(&actions), vec![(TimerId(0), 1_010)]);
    let actions = state.apply(Event::TimerFired {
        timer: TimerId(0),
        at_ms: 1_010,
    });
    assert_eq!(invokes(&actions), vec![(StepKey::top(0), 2)]);
    let snapshot = state.steps().clone();
    let late = Event::StepSucceeded {
        usage: Default::default(),
        key: StepKey::top(0),
        attempt: 1,
        output: json!("late"),
        port: None,
        cache_hit: false,
        at_ms: 1_020,
    };
    assert!(state.apply(late).is_empty(), "attempt 1 is stale");
    assert_eq!(state.steps(), &snapshot);
    let ok = Event::StepSucceeded {
        usage: Default::default(),
        key: StepKey::top(0),
        attempt: 2,
        output: json!("ok"),
        port: None,
        cache_hit: false,
        at_ms: 1_030,
    };
    assert_eq!(
        state.apply(ok.clone()),
        vec![Action::CompleteRun {
            output: Value::Null
        }]
    );
    assert!(state.apply(ok).is_empty(), "a result is accepted once");
}

#[test]
fn events_for_unknown_steps_or_timers_change_nothing() {
    let mut state = state(CHAIN);
    state.apply(started(1));
    let before = state.steps().clone();
    let odd = [
        Event::StepSucceeded {
            usage: Default::default(),
            key: StepKey::new(
                vec![Frame {
                    foreach: 9,
                    item: 9,
                }],
                99,
            ),
            attempt: 1,
            output: Value::Null,
            port: None,
            cache_hit: false,
            at_ms: 1,
        },
        Event::StepFailed {
            usage: Default::default(),
            key: StepKey::top(77),
            attempt: 0,
            error: StepError::permanent("x", "y"),
            at_ms: 1,
        },
        Event::TimerFired {
            timer: TimerId(1234),
            at_ms: 1,
        },
        Event::ChildRunFinished {
            key: StepKey::top(0),
            result: Ok(Value::Null),
            at_ms: 1,
        },
        started(2),
    ];
    for event in odd {
        assert!(state.apply(event).is_empty());
    }
    assert_eq!(state.steps(), &before);
}

#[test]
fn expression_errors_fail_the_step_naming_expression_and_path() {
    let mut env = env(r#"
nodes:
  - { id: a, type: core.set, config: { value: { x: 1 } } }
  - { id: b, type: core.set, config: { value: { deep: ["{{ steps.a.output.missing }}"] } } }
edges:
  - { from: a, to: b }
"#);
    assert_eq!(env.run(json!({})), RunStatus::Failed);
    let (error, step) = env.state().error().expect("error");
    assert_eq!(step, Some("b"));
    assert_eq!(error.kind, "expression");
    assert!(!error.retryable);
    assert_eq!(
        error.message,
        "expression `{{ steps.a.output.missing }}` in config/value/deep/0 failed: \
         `steps.a.output.missing` is undefined"
    );
    assert!(env.invocations_of("b").is_empty());
}

#[test]
fn transform_without_input_receives_the_whole_scope() {
    let mut env = env(r#"
nodes:
  - { id: users, type: core.set, config: { value: [{ name: ada }, { name: bob }] } }
  - { id: names, type: core.transform, config: { program: "[.steps.users.output[] | .name]" } }
edges:
  - { from: users, to: names }
output: "{{ steps.names.output }}"
"#);
    assert_eq!(env.run(json!({})), RunStatus::Succeeded);
    assert_eq!(env.state().output(), Some(&json!(["ada", "bob"])));
    let config = &env.invocations_of("names")[0].config;
    assert_eq!(config["input"]["run"]["id"], json!("run-1"));
}

/// A flow exercising retries, a loop, a wait and a signal, for replay.
const EVERYTHING: &str = r#"
nodes:
  - id: flaky
    type: http.request
    config: { url: "https://example.invalid" }
    retry: { max_attempts: 3, initial: 1s }
  - id: each
    type: core.foreach
    config: { items: [1, 2, 3], concurrency: 2 }
    body:
      nodes:
        - { id: work, type: http.request, config: { url: "https://example.invalid/{{ item }}" } }
      edges: []
      output: "{{ steps.work.output }}"
  - { id: pause, type: core.wait, config: { duration: 1m } }
  - { id: approve, type: core.signal, config: { name: go, timeout: 1d } }
edges:
  - { from: flaky, to: each }
  - { from: each, to: pause }
  - { from: pause, to: approve }
output: { loop: "{{ steps.each.output }}", signal: "{{ steps.approve.output }}" }
"#;

fn everything() -> TestEnv {
    let mut env = env(EVERYTHING);
    env.latency_ms = 3;
    env.on_step("flaky", |inv| {
        if inv.attempt == 1 {
            Reply::Err(StepError::retryable("unavailable", "503"))
        } else {
            Reply::Ok(json!("up"))
        }
    });
    env.on_step("work", |inv| Reply::Ok(inv.config["url"].clone()));
    env.signal_at(100_000, "go", json!("yes"));
    env
}

#[test]
fn replaying_the_journal_rebuilds_the_same_state() {
    let mut env = everything();
    assert_eq!(env.run(json!({})), RunStatus::Succeeded);
    let journal = env.journal().to_vec();
    // The journal survives serialization: it is what the store keeps.
    let text = serde_json::to_string(&journal).expect("serialize");
    let back: Vec<Event> = serde_json::from_str(&text).expect("deserialize");
    assert_eq!(back, journal);
    let replayed = RunState::replay(
        Arc::clone(env.state().plan()),
        Arc::new(aion_expr::Engine::default()),
        back,
    );
    assert_eq!(&replayed, env.state());
    assert_eq!(
        env.state().output(),
        Some(&json!({
            "loop": [
                "https://example.invalid/1",
                "https://example.invalid/2",
                "https://example.invalid/3"
            ],
            "signal": "yes"
        }))
    );
    insta::assert_snapshot!("everything_trace", env.trace());
}

#[test]
fn every_journal_prefix_replays_to_the_same_state_and_pending_actions() {
    let mut env = everything();
    env.run(json!({}));
    let journal = env.journal().to_vec();
    let plan = Arc::clone(env.state().plan());
    let engine = Arc::new(aion_expr::Engine::default());
    let mut live = RunState::new(Arc::clone(&plan), Arc::clone(&engine));
    let mut saw_invoke = false;
    let mut saw_timer = false;
    for (n, event) in journal.iter().enumerate() {
        live.apply(event.clone());
        let replayed = RunState::replay(
            Arc::clone(&plan),
            Arc::clone(&engine),
            journal[..=n].iter().cloned(),
        );
        assert_eq!(replayed, live, "after {n} events");
        let pending = replayed.pending();
        assert_eq!(pending, live.pending());
        // What is pending is exactly what is outstanding.
        for record in live.steps().values() {
            if record.status == StepStatus::Running {
                saw_invoke = true;
                assert!(pending.iter().any(|a| matches!(
                    a,
                    Action::InvokeStep { idempotency_key, attempt, .. }
                        if *idempotency_key == record.idempotency_key && *attempt == record.attempts
                )));
            }
        }
        saw_timer |= pending
            .iter()
            .any(|a| matches!(a, Action::ScheduleTimer { .. }));
    }
    assert!(saw_invoke && saw_timer);
}

#[test]
fn pending_after_a_crash_reissues_the_same_attempt() {
    let mut state = state(&RETRIED.replace("JITTER", "false"));
    state.apply(started(1));
    state.apply(Event::StepFailed {
        usage: Default::default(),
        key: StepKey::top(0),
        attempt: 1,
        error: StepError::retryable("timeout", "slow"),
        at_ms: 10,
    });
    assert_eq!(
        state.pending(),
        vec![Action::ScheduleTimer {
            timer: TimerId(0),
            due_ms: 1_010
        }]
    );
    state.apply(Event::TimerFired {
        timer: TimerId(0),
        at_ms: 1_010,
    });
    let pending = state.pending();
    assert_eq!(invokes(&pending), vec![(StepKey::top(0), 2)]);
}

#[test]
fn events_and_actions_round_trip_through_json() {
    let event = Event::ChildRunFinished {
        key: StepKey::new(
            vec![Frame {
                foreach: 1,
                item: 2,
            }],
            3,
        ),
        result: Err(StepError::permanent("k", "m")),
        at_ms: 5,
    };
    let text = serde_json::to_string(&event).expect("serialize");
    assert_eq!(serde_json::from_str::<Event>(&text).expect("parse"), event);
    let action = Action::CompleteRun { output: json!(1) };
    let text = serde_json::to_string(&action).expect("serialize");
    assert_eq!(text, r#"{"type":"complete_run","output":1}"#);
}

#[test]
fn invocations_carry_credential_side_effects_and_node_version() {
    let mut env = env(r##"
nodes:
  - id: post
    type: slack.post_message
    credential: slack-alerts
    config: { channel: "#alerts", text: "hi" }
"##);
    env.on_step("post", |_| Reply::Ok(json!({"ok": true})));
    assert_eq!(env.run(json!({})), RunStatus::Succeeded);
    let Action::InvokeStep {
        credential,
        side_effects,
        node_version,
        node_type,
        cache,
        timeout_ms,
        ..
    } = &env.invocations_of("post")[0].action
    else {
        panic!("not an invoke");
    };
    assert_eq!(credential.as_deref(), Some("slack-alerts"));
    assert!(*side_effects);
    assert_eq!(*node_version, 1);
    assert_eq!(node_type, "slack.post_message");
    assert_eq!((cache, timeout_ms), (&None, &None));
}

#[test]
fn a_merge_reached_through_an_error_edge_gets_the_error_object() {
    let mut env = env(r#"
nodes:
  - { id: a, type: core.fail, config: { message: "a broke", kind: broken } }
  - { id: b, type: core.set, config: { value: 2 } }
  - { id: join, type: core.merge }
edges:
  - { from: a, port: error, to: join }
  - { from: b, to: join }
output: "{{ steps.join.output }}"
"#);
    assert_eq!(env.run(json!({})), RunStatus::Succeeded);
    assert_eq!(
        env.state().output(),
        Some(&json!({"a": {"kind": "broken", "message": "a broke", "attempts": 1}, "b": 2}))
    );
}

#[test]
fn bad_config_values_known_only_at_run_time_fail_the_step() {
    let mut env = env(r#"
nodes:
  - { id: each, type: core.foreach, config: { items: "{{ inputs.items }}" }, body: { nodes: [ { id: x, type: core.noop } ], edges: [] } }
  - { id: pause, type: core.wait, config: { until: "{{ inputs.when }}" } }
  - { id: report, type: core.set, config: { value: ["{{ steps.each.error.kind }}", "{{ steps.pause.error.message }}"] } }
edges:
  - { from: each, port: error, to: report }
  - { from: pause, port: error, to: report }
output: "{{ steps.report.output }}"
"#);
    assert_eq!(
        env.run(json!({"items": 5, "when": "tomorrow"})),
        RunStatus::Succeeded
    );
    assert_eq!(
        env.state().output(),
        Some(&json!([
            "invalid_config",
            "`until`: `tomorrow` is not an RFC 3339 instant"
        ]))
    );
}
