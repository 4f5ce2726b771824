//! Property test: arbitrary event sequences (unknown keys, wrong attempts, stray timers and
//! signals, duplicates) never panic, and replaying what was applied rebuilds the same state.

use std::sync::Arc;

use aion_compiler::Compiler;
use aion_dsl::source::Format;
use aion_engine::{CompiledPlan, Event, Frame, RunState, StepError, StepKey, TimerId};
use proptest::prelude::*;
use serde_json::{Value, json};

const FLOW: &str = r#"
aion: 1
id: robust
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
        - { id: gate, type: core.signal, config: { name: go, timeout: 1m } }
      edges: [{ from: work, to: gate }]
      output: "{{ steps.gate.output }}"
  - { id: pause, type: core.wait, config: { duration: 1s } }
  - { id: child, type: core.subflow, config: { flow: other } }
edges:
  - { from: flaky, to: each }
  - { from: flaky, port: error, to: pause }
  - { from: each, to: child }
"#;

fn plan() -> Arc<CompiledPlan> {
    let output = Compiler::new(aion_nodes::catalog()).compile(FLOW.as_bytes(), Format::Yaml);
    let plan = output.plan.expect("flow compiles");
    Arc::new(CompiledPlan::new(plan, &aion_expr::Engine::default()).expect("plan compiles"))
}

fn key() -> impl Strategy<Value = StepKey> {
    (proptest::collection::vec((0u32..3, 0u32..4), 0..3), 0u32..5).prop_map(|(frames, step)| {
        StepKey::new(
            frames
                .into_iter()
                .map(|(foreach, item)| Frame { foreach, item })
                .collect(),
            step,
        )
    })
}

fn event() -> impl Strategy<Value = Event> {
    let at = 0i64..100_000;
    prop_oneof![
        (key(), 0u32..4, 0u64..3, at.clone()).prop_map(|(key, attempt, fencing, at_ms)| {
            Event::StepStarted {
                key,
                attempt,
                fencing,
                at_ms,
            }
        }),
        (key(), 0u32..4, any::<bool>(), at.clone()).prop_map(|(key, attempt, hit, at_ms)| {
            Event::StepSucceeded {
                usage: Default::default(),
                key,
                attempt,
                output: json!(attempt),
                port: None,
                cache_hit: hit,
                at_ms,
            }
        }),
        (key(), 0u32..4, any::<bool>(), at.clone()).prop_map(|(key, attempt, retryable, at_ms)| {
            Event::StepFailed {
                usage: Default::default(),
                key,
                attempt,
                error: StepError {
                    kind: "k".into(),
                    message: "m".into(),
                    retryable,
                    details: None,
                },
                at_ms,
            }
        }),
        (0u64..6, at.clone()).prop_map(|(t, at_ms)| Event::TimerFired {
            timer: TimerId(t),
            at_ms
        }),
        at.clone().prop_map(|at_ms| Event::SignalReceived {
            name: "go".into(),
            payload: json!(1),
            at_ms
        }),
        (key(), any::<bool>(), at.clone()).prop_map(|(key, ok, at_ms)| Event::ChildRunFinished {
            key,
            result: if ok {
                Ok(Value::Null)
            } else {
                Err(StepError::permanent("c", "d"))
            },
            at_ms,
        }),
        at.prop_map(|at_ms| Event::CancelRequested {
            reason: "r".into(),
            at_ms
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn arbitrary_events_never_panic_and_replay(
        events in proptest::collection::vec(event(), 0..60),
    ) {
        let plan = plan();
        let engine = Arc::new(aion_expr::Engine::default());
        let mut state = RunState::new(Arc::clone(&plan), Arc::clone(&engine));
        let mut journal = vec![Event::RunStarted {
            run_id: "r".into(),
            flow_id: "robust".into(),
            flow_version: 1,
            input: Value::Null,
            trigger: Value::Null,
            vars: Value::Null,
            at_ms: 0,
            seed: 9,
        }];
        state.apply(journal[0].clone());
        for event in events {
            state.apply(event.clone());
            journal.push(event);
            let _ = state.pending();
        }
        let replayed = RunState::replay(plan, engine, journal);
        prop_assert!(replayed == state);
        prop_assert_eq!(replayed.pending(), state.pending());
    }
}
