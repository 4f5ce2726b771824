//! Engine overhead per step: a 10-step chain of `core.set` with expressions and a 1,000-item
//! `core.foreach`, driven through `apply` by a fake executor that answers every invocation at
//! once with its config's `value` (so the numbers are the engine's work only: scheduling,
//! expression evaluation, records, actions).

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;

use aion_compiler::Compiler;
use aion_dsl::source::Format;
use aion_engine::{Action, CompiledPlan, Event, RunState, RunStatus};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

fn compile(yaml: &str) -> Arc<CompiledPlan> {
    let compiler = Compiler::new(aion_nodes::catalog());
    let output = compiler.compile(yaml.as_bytes(), Format::Yaml);
    let Some(plan) = output.plan else {
        panic!("bench flow does not compile: {:#?}", output.diagnostics);
    };
    Arc::new(CompiledPlan::new(plan, &aion_expr::Engine::default()).expect("plan compiles"))
}

fn chain_yaml(steps: usize) -> String {
    let mut yaml = String::from(
        "aion: 1\nid: chain\ninputs: { type: object, properties: { n: { type: number, default: 1 } } }\nnodes:\n",
    );
    yaml.push_str("  - { id: s0, type: core.set, config: { value: { n: \"{{ inputs.n }}\", label: \"start\" } } }\n");
    for i in 1..steps {
        yaml.push_str(&format!(
            "  - {{ id: s{i}, type: core.set, config: {{ value: {{ n: \"{{{{ steps.s{p}.output.n + 1 }}}}\", label: \"step {{{{ steps.s{p}.output.n }}}} of {{{{ run.id }}}}\" }} }} }}\n",
            p = i - 1
        ));
    }
    yaml.push_str("edges:\n");
    for i in 1..steps {
        yaml.push_str(&format!("  - {{ from: s{}, to: s{i} }}\n", i - 1));
    }
    yaml.push_str(&format!(
        "output: \"{{{{ steps.s{}.output }}}}\"\n",
        steps - 1
    ));
    yaml
}

const FOREACH: &str = r#"
aion: 1
id: loop
nodes:
  - id: each
    type: core.foreach
    config: { items: "{{ inputs.users }}", concurrency: 8 }
    body:
      nodes:
        - { id: greet, type: core.set, config: { value: "Hello {{ item.name }} (#{{ index + 1 }})" } }
      edges: []
      output: "{{ steps.greet.output }}"
output: "{{ steps.each.output | length }}"
"#;

/// Runs a whole run: the fake executor answers invocations in order.
fn run(plan: &Arc<CompiledPlan>, engine: &Arc<aion_expr::Engine>, input: &Value) -> RunState {
    let mut state = RunState::new(Arc::clone(plan), Arc::clone(engine));
    let mut queue: VecDeque<Action> = state
        .apply(Event::RunStarted {
            run_id: "run-1".into(),
            flow_id: "bench".into(),
            flow_version: 1,
            input: input.clone(),
            trigger: Value::Null,
            vars: Value::Null,
            at_ms: 0,
            seed: 7,
        })
        .into();
    while let Some(action) = queue.pop_front() {
        if let Action::InvokeStep {
            key,
            attempt,
            config,
            ..
        } = action
        {
            let output = match config {
                Value::Object(mut map) => map.remove("value").unwrap_or(Value::Null),
                _ => Value::Null,
            };
            queue.extend(state.apply(Event::StepSucceeded {
                usage: Default::default(),
                key,
                attempt,
                output,
                port: None,
                cache_hit: false,
                at_ms: 1,
            }));
        }
    }
    state
}

fn bench(c: &mut Criterion) {
    let engine = Arc::new(aion_expr::Engine::default());

    let chain = compile(&chain_yaml(10));
    let input = json!({});
    let check = run(&chain, &engine, &input);
    assert_eq!(check.status(), RunStatus::Succeeded);
    assert_eq!(check.output().map(|o| o["n"].clone()), Some(json!(10)));
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(10));
    group.bench_function("chain_10_core_set", |b| {
        b.iter(|| run(black_box(&chain), &engine, &input))
    });

    let foreach = compile(FOREACH);
    let users: Vec<Value> = (0..1000)
        .map(|i| json!({ "name": format!("user{i}") }))
        .collect();
    let input = json!({ "users": users });
    let check = run(&foreach, &engine, &input);
    assert_eq!(check.output(), Some(&json!(1000)));
    group.throughput(Throughput::Elements(1000));
    group.sample_size(20);
    group.bench_function("foreach_1000_items", |b| {
        b.iter(|| run(black_box(&foreach), &engine, &input))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
