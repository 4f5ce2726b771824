//! Integration tests for compiling and evaluating templates: typed versus string results,
//! compile errors with offsets, and evaluation errors. Safety limits are tested in
//! `safety.rs`, references in `references.rs`, jq in `jq.rs`; none of that is repeated here.

use aion_expr::{CompileError, Engine, ErrorKind, EvalError, Scope, StepState, Template};
use serde_json::{Value, json};

fn scope() -> Scope {
    Scope::new()
        .with_inputs(json!({"threshold": 100, "name": "SOL", "tags": ["a", "b"], "n": null}))
        .with_step(
            "price",
            StepState::succeeded(json!({"body": {"price": 93.5, "history": [1, 2, 3]}})),
        )
        .with_step("skipped", StepState::skipped())
        .with_step(
            "broken",
            StepState::failed(json!({"kind": "timeout", "message": "slow", "attempts": 3})),
        )
        .with_step("a-b", StepState::succeeded(json!({"x": 1})))
        .with_trigger(json!({"body": {"id": 7}}))
        .with_vars(json!({"region": "eu"}))
        .with_run(json!({"id": "r1", "flow_id": "f"}))
        .with_item(json!({"name": "Ada"}), 2)
}

fn eval(field: &str) -> Result<Value, EvalError> {
    let engine = Engine::default();
    let template = engine
        .compile(field)
        .unwrap_or_else(|e| panic!("{field}: {e}"));
    engine.eval(&template, &scope())
}

fn ok(field: &str) -> Value {
    eval(field).unwrap_or_else(|e| panic!("{field}: {e}"))
}

fn compile_err(field: &str) -> CompileError {
    Engine::default().compile(field).expect_err(field)
}

#[test]
fn literals_stay_literal() {
    let engine = Engine::default();
    for field in ["plain text", "", "{ not } an {% expression %}", "}} alone"] {
        let t = engine.compile(field).unwrap();
        assert!(t.is_literal());
        assert_eq!(t.source(), field);
        assert_eq!(engine.eval(&t, &Scope::new()).unwrap(), json!(field));
    }
}

#[test]
fn single_expressions_are_typed() {
    assert_eq!(
        ok("{{ steps.price.output.body.price < inputs.threshold }}"),
        json!(true)
    );
    assert_eq!(ok("{{ steps.price.output.body.price }}"), json!(93.5));
    assert_eq!(ok("  {{ inputs.threshold * 2 }}\n"), json!(200));
    assert_eq!(ok("{{ inputs.n }}"), json!(null));
    assert_eq!(ok("{{ inputs.tags }}"), json!(["a", "b"]));
    assert_eq!(
        ok("{{ steps.price.output.body }}"),
        json!({"price": 93.5, "history": [1, 2, 3]})
    );
    assert_eq!(
        ok("{{ [1, 'a', none, true] }}"),
        json!([1, "a", null, true])
    );
    assert_eq!(ok("{{ {'a': {'b': 1}} }}"), json!({"a": {"b": 1}}));
    assert_eq!(ok("{{ '}}' ~ \"{{\" }}"), json!("}}{{"));
    assert_eq!(ok("{{ 7 // 2 }}"), json!(3));
    assert_eq!(ok("{{ 2 ** 100 }}"), json!(1.2676506002282294e30));
    assert!(matches!(
        Engine::default().compile("{{ 1 }}").unwrap(),
        Template::Expression(_)
    ));
}

#[test]
fn mixed_fields_are_strings() {
    assert_eq!(
        ok("SOL is at {{ steps.price.output.body.price }}"),
        json!("SOL is at 93.5")
    );
    assert_eq!(
        ok("{{ inputs.name }}: {{ inputs.tags }} {{ inputs.n }} {{ true }} {{ {'k': 'v'} }}"),
        json!("SOL: [\"a\",\"b\"] null true {\"k\":\"v\"}")
    );
    assert_eq!(ok("{{ 1 }}{{ 2 }}"), json!("12"));
    assert_eq!(
        ok("Hello {{ item.name }} #{{ index }}"),
        json!("Hello Ada #2")
    );
    assert!(matches!(
        Engine::default().compile("a {{ 1 }}").unwrap(),
        Template::Interpolated(_)
    ));
}

#[test]
fn scope_variables_are_readable() {
    assert_eq!(ok("{{ trigger.body.id }}"), json!(7));
    assert_eq!(ok("{{ vars.region }}"), json!("eu"));
    assert_eq!(ok("{{ run.id }}"), json!("r1"));
    assert_eq!(ok("{{ steps['a-b'].output.x }}"), json!(1));
    assert_eq!(ok("{{ steps.broken.error.kind }}"), json!("timeout"));
    assert_eq!(ok("{{ steps.broken.status }}"), json!("failed"));
    assert_eq!(ok("{{ steps.skipped.status }}"), json!("skipped"));
    assert_eq!(ok("{{ steps.price.output.body.history[-1] }}"), json!(3));
    assert_eq!(
        ok("{{ steps.price.output.body.history | length }}"),
        json!(3)
    );
    assert_eq!(ok("{{ steps.price.output.body.history | sum }}"), json!(6));
    assert_eq!(ok("{{ inputs.tags | join(',') | upper }}"), json!("A,B"));
    assert_eq!(
        ok("{{ steps.price.output.body | tojson }}"),
        json!("{\"history\":[1,2,3],\"price\":93.5}")
    );
    assert_eq!(
        ok("{{ steps.price.output.body.history | map('string') | list }}"),
        json!(["1", "2", "3"])
    );
    assert_eq!(
        ok("{{ 'x: ' ~ steps.price.output.body.history }}"),
        json!("x: [1,2,3]")
    );
    assert_eq!(ok("{{ steps | length }}"), json!(4));
}

#[test]
fn default_and_defined_tolerate_undefined() {
    assert_eq!(
        ok("{{ steps.skipped.output | default('none') }}"),
        json!("none")
    );
    assert_eq!(ok("{{ steps.skipped.output is defined }}"), json!(false));
    assert_eq!(
        ok("{{ steps.price.output.body.nope is undefined }}"),
        json!(true)
    );
    assert_eq!(
        ok("{{ inputs.missing | default(inputs.threshold) }}"),
        json!(100)
    );
}

#[test]
fn undefined_values_name_their_path() {
    let cases = [
        ("{{ steps.skipped.output }}", "steps.skipped.output"),
        ("{{ steps.price.output.foo }}", "steps.price.output.foo"),
        ("{{ steps.price.output.foo.bar }}", "steps.price.output.foo"),
        ("x {{ steps.skipped.output.body }}", "steps.skipped.output"),
        ("{{ inputs.nope < 3 }}", "inputs.nope"),
        (
            "{{ [steps.price.output.body.nope] }}",
            "steps.price.output.body.nope",
        ),
        (
            "{{ 1 + inputs.threshold + trigger.body.nope }}",
            "trigger.body.nope",
        ),
        (
            "{{ steps.price.output.body.history[7] }}",
            "steps.price.output.body.history[7]",
        ),
    ];
    for (field, path) in cases {
        let err = eval(field).expect_err(field);
        assert_eq!(err.kind(), ErrorKind::Undefined, "{field}: {err:?}");
        assert_eq!(err.to_string(), format!("`{path}` is undefined"), "{field}");
    }
}

#[test]
fn unset_scope_variables_are_undefined() {
    let engine = Engine::default();
    let t = engine.compile("{{ item.name }}").unwrap();
    let err = engine.eval(&t, &Scope::new()).unwrap_err();
    assert_eq!(
        err,
        EvalError::Undefined {
            path: "item".into()
        }
    );
}

#[test]
fn syntax_errors_carry_offsets() {
    let cases = [
        ("abc {{ 1 + }}", 9),
        ("{{ steps.a.output", 0),
        ("text {{ 'open }}", 8),
        ("a {{ }} b", 2),
        ("{{}}", 0),
        ("{{ 1 }} {{ (1 }}", 8),
    ];
    for (field, offset) in cases {
        let err = compile_err(field);
        assert_eq!(err.kind(), ErrorKind::Syntax, "{field}: {err}");
        assert_eq!(err.offset(), offset, "{field}: {err}");
    }
    let err = compile_err("{{ 1 + }}");
    assert!(err.to_string().contains("syntax error"), "{err}");
}

#[test]
fn unknown_names_are_compile_errors() {
    let err = compile_err("x {{ stepz.a.output }}");
    assert_eq!(
        err,
        CompileError::UnknownVariable {
            name: "stepz".into(),
            offset: 5
        }
    );
    assert_eq!(
        compile_err("{{ foo(1) }}").kind(),
        ErrorKind::UnknownVariable
    );
    assert_eq!(
        compile_err("{{ debug() }}").kind(),
        ErrorKind::UnknownVariable
    );
    let err = compile_err("{{ inputs.x | nosuch }}");
    assert_eq!(
        err,
        CompileError::UnknownFilter {
            name: "nosuch".into(),
            offset: 14
        }
    );
    let err = compile_err("{{ inputs.x is nosuch }}");
    assert_eq!(
        err,
        CompileError::UnknownTest {
            name: "nosuch".into(),
            offset: 15
        }
    );
    let err = compile_err("{{ inputs.items() }}");
    assert_eq!(err.kind(), ErrorKind::Syntax);
    assert!(err.to_string().contains("method calls"), "{err}");
}

#[test]
fn runtime_errors_have_kinds() {
    let type_err = eval("{{ range }}").unwrap_err();
    assert_eq!(type_err.kind(), ErrorKind::Type, "{type_err}");
    let invalid = eval("{{ 1 / 0 }}").unwrap_err();
    assert_eq!(invalid.kind(), ErrorKind::Invalid, "{invalid}");
    let bad_op = eval("{{ inputs.tags - 1 }}").unwrap_err();
    assert_eq!(bad_op.kind(), ErrorKind::Invalid, "{bad_op}");
    assert_eq!(
        eval("{{ 'nan' | float }}").unwrap_err().kind(),
        ErrorKind::Type
    );
}

#[test]
fn engines_with_other_limits_recompile() {
    let generous = Engine::default();
    let stingy = Engine::new(aion_expr::Limits {
        fuel: 3,
        ..Default::default()
    });
    let t = generous
        .compile("{{ [1, 2, 3] | map('string') | join(',') }}")
        .unwrap();
    assert_eq!(generous.eval(&t, &Scope::new()).unwrap(), json!("1,2,3"));
    assert_eq!(
        stingy.eval(&t, &Scope::new()).unwrap_err().kind(),
        ErrorKind::FuelExhausted
    );
}

#[test]
fn templates_compare_by_source() {
    let engine = Engine::default();
    assert_eq!(
        engine.compile("{{ 1 }}").unwrap(),
        engine.compile("{{ 1 }}").unwrap()
    );
    assert_ne!(
        engine.compile("{{ 1 }}").unwrap(),
        engine.compile("{{ 2 }}").unwrap()
    );
}
