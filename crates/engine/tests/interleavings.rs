//! Property test: whatever order a worker completes a loop's invocations in, the loop never
//! exceeds its concurrency, outputs follow item order, and the journal replays to the same state.

use std::sync::Arc;

use aion_compiler::Compiler;
use aion_dsl::source::Format;
use aion_engine::{Action, CompiledPlan, Event, RunState, RunStatus};
use proptest::prelude::*;
use serde_json::{Value, json};

fn compiled(concurrency: u32) -> Arc<CompiledPlan> {
    let yaml = format!(
        r#"
aion: 1
id: loop
nodes:
  - id: each
    type: core.foreach
    config: {{ items: "{{{{ inputs.items }}}}", concurrency: {concurrency} }}
    body:
      nodes:
        - {{ id: a, type: http.request, config: {{ url: "https://x.invalid/{{{{ item }}}}" }} }}
        - {{ id: b, type: core.set, config: {{ value: "{{{{ steps.a.output }}}}-{{{{ index }}}}" }} }}
      edges: [{{ from: a, to: b }}]
      output: "{{{{ steps.b.output }}}}"
output: "{{{{ steps.each.output }}}}"
"#
    );
    let output = Compiler::new(aion_nodes::catalog()).compile(yaml.as_bytes(), Format::Yaml);
    let plan = output.plan.expect("flow compiles");
    Arc::new(CompiledPlan::new(plan, &aion_expr::Engine::default()).expect("plan compiles"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_completion_order(
        items in 0usize..10,
        concurrency in 1u32..5,
        picks in proptest::collection::vec(any::<u16>(), 64),
    ) {
        let plan = compiled(concurrency);
        let engine = Arc::new(aion_expr::Engine::default());
        let mut state = RunState::new(Arc::clone(&plan), Arc::clone(&engine));
        let mut journal = Vec::new();
        let start = Event::RunStarted {
            run_id: "r".into(),
            flow_id: "loop".into(),
            flow_version: 1,
            input: json!({ "items": (0..items).collect::<Vec<_>>() }),
            trigger: Value::Null,
            vars: Value::Null,
            at_ms: 0,
            seed: 3,
        };
        journal.push(start.clone());
        let mut in_flight: Vec<Action> = state.apply(start);
        let mut picks = picks.into_iter().cycle();
        let mut time = 0;
        while !in_flight.is_empty() {
            let loops_in_flight = in_flight
                .iter()
                .filter(|a| matches!(a, Action::InvokeStep { node_type, .. } if node_type == "http.request"))
                .count();
            prop_assert!(loops_in_flight <= concurrency as usize);
            let index = usize::from(picks.next().unwrap_or(0)) % in_flight.len();
            let action = in_flight.swap_remove(index);
            let Action::InvokeStep { key, attempt, config, .. } = action else {
                continue;
            };
            time += 1;
            let output = config.get("value").or(config.get("url")).cloned().unwrap_or(Value::Null);
            let event = Event::StepSucceeded { usage: Default::default(), key, attempt, output, port: None, cache_hit: false, at_ms: time };
            journal.push(event.clone());
            in_flight.extend(state.apply(event).into_iter().filter(|a| matches!(a, Action::InvokeStep { .. })));
        }
        prop_assert_eq!(state.status(), RunStatus::Succeeded);
        let expected: Vec<String> = (0..items).map(|i| format!("https://x.invalid/{i}-{i}")).collect();
        prop_assert_eq!(state.output(), Some(&json!(expected)));
        let replayed = RunState::replay(plan, engine, journal);
        prop_assert!(replayed == state);
    }
}
