//! Benchmarks of the hot paths: evaluating a compiled comparison against a scope (the budget
//! is 2 µs), rendering a mixed-text template, and running a small jq program (which includes
//! starting its worker thread). Compilation is deliberately not measured: it happens once per
//! flow version.

use std::hint::black_box;

use aion_expr::{Engine, Scope, StepState};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn scope() -> Scope {
    // A realistic step output: the lazy scope must not pay for the parts that are not read.
    let history: Vec<_> = (0..1000)
        .map(|i| json!({"t": i, "price": 90.0 + f64::from(i) / 100.0}))
        .collect();
    Scope::new()
        .with_inputs(json!({"threshold": 100, "symbol": "SOL"}))
        .with_step(
            "a",
            StepState::succeeded(json!({
                "status": 200,
                "headers": {"content-type": "application/json"},
                "body": {"price": 93.5, "symbol": "SOL", "history": history},
            })),
        )
        .with_run(json!({"id": "run-1", "flow_id": "price-alert"}))
}

fn benches(c: &mut Criterion) {
    let engine = Engine::default();
    let scope = scope();

    let condition = engine
        .compile("{{ steps.a.output.body.price < inputs.threshold }}")
        .unwrap();
    assert_eq!(engine.eval(&condition, &scope).unwrap(), json!(true));
    c.bench_function("eval condition", |b| {
        b.iter(|| engine.eval(black_box(&condition), black_box(&scope)))
    });

    let text = engine
        .compile("{{ inputs.symbol }} is at {{ steps.a.output.body.price }} (run {{ run.id }})")
        .unwrap();
    assert_eq!(
        engine.eval(&text, &scope).unwrap(),
        json!("SOL is at 93.5 (run run-1)")
    );
    c.bench_function("eval mixed text", |b| {
        b.iter(|| engine.eval(black_box(&text), black_box(&scope)))
    });

    let program = engine
        .compile_jq(".items | map(select(.active)) | length")
        .unwrap();
    let input = json!({"items": [{"active": true}, {"active": false}, {"active": true}]});
    assert_eq!(engine.run_jq(&program, input.clone()).unwrap(), json!(2));
    c.bench_function("run jq", |b| {
        b.iter(|| engine.run_jq(black_box(&program), black_box(input.clone())))
    });
}

criterion_group!(eval, benches);
criterion_main!(eval);
