//! Attack strings against templates: every one must fail with a clear error kind, quickly,
//! without allocating gigabytes, overflowing the stack or reaching the host. jq attacks are
//! not here but in `jq.rs`.

use std::time::{Duration, Instant};

use aion_expr::{Engine, ErrorKind, Limits, Scope, StepState};
use serde_json::json;

/// Compiles and evaluates `field`, returning the error kind (compile or eval) and checking
/// that it ended (a generous bound: the point is that nothing hangs, speed is benchmarked).
fn outcome(engine: &Engine, field: &str, scope: &Scope) -> Result<serde_json::Value, ErrorKind> {
    let start = Instant::now();
    let result = match engine.compile(field) {
        Ok(t) => engine.eval(&t, scope).map_err(|e| e.kind()),
        Err(e) => Err(e.kind()),
    };
    let elapsed = start.elapsed();
    let shown: String = field.chars().take(80).collect();
    assert!(
        elapsed < Duration::from_secs(60),
        "{shown}: took {elapsed:?}"
    );
    result
}

fn kind(field: &str) -> ErrorKind {
    outcome(&Engine::default(), field, &Scope::new())
        .expect_err(&field.chars().take(80).collect::<String>())
}

#[test]
fn string_and_list_blow_ups_are_refused() {
    let fuel = [
        "{{ 'x' * 100000000 }}",
        "{{ 'x' * 10000000000000 }}",
        "{{ range(100000) | list }}",
        "{{ range(100000) | join('x' * 10000) }}",
        "{{ ([1] * 100000000) | join(',') }}",
        "{{ ([1] * 100000000) | list | length }}",
        "{{ '%999999999s' | format(1) }}",
        "{{ '%s' | format('x' * 4000000) }}",
        "{{ [1, 2] | batch(1000000000, 'x') }}",
        "{{ ('x' * 1000000) | indent(1000000) }}",
        "{{ ('x' * 1000000) | replace('x', 'yyyyyyyy') }}",
        "{{ range(100000) | map('string') | join }}",
        "{{ range(100000) | sort | reverse | list }}",
    ];
    for field in fuel {
        assert_eq!(kind(field), ErrorKind::FuelExhausted, "{field}");
    }
    // Repeated concatenation: each `~` checks its size first.
    let concat = format!("{{{{ {} }}}}", vec!["('x' * 400000)"; 20].join(" ~ "));
    assert_eq!(kind(&concat), ErrorKind::FuelExhausted);
    // Lazy or fitting values that are too large for the result.
    assert_eq!(kind("{{ [1] * 100000000 }}"), ErrorKind::OutputTooLarge);
    assert_eq!(kind("{{ 'x' * 2000000 }}"), ErrorKind::OutputTooLarge);
    assert_eq!(
        kind("{{ range(100000) | map('string') | list }}"),
        ErrorKind::FuelExhausted
    );
    assert_eq!(kind("a {{ 'x' * 2000000 }}"), ErrorKind::OutputTooLarge);
    assert_eq!(kind("{{ range(1000000) }}"), ErrorKind::Invalid);
    assert_eq!(kind("{{ 10 ** 10 ** 10 }}"), ErrorKind::Invalid);
}

#[test]
fn reading_large_scope_values_is_charged() {
    let big = "y".repeat(1 << 20);
    let scope = Scope::new().with_inputs(json!({ "big": big })).with_step(
        "s",
        StepState::succeeded(json!({ "items": vec![big.clone(); 3] })),
    );
    let engine = Engine::default();
    let many = format!(
        "{{{{ [{}] | length }}}}",
        vec!["inputs.big"; 200].join(", ")
    );
    assert_eq!(
        outcome(&engine, &many, &scope),
        Err(ErrorKind::FuelExhausted)
    );
    assert_eq!(
        outcome(&engine, "{{ steps.s.output }}", &scope),
        Err(ErrorKind::OutputTooLarge)
    );
    // Repeating a list read from the scope is not supported, so it cannot blow up either.
    assert_eq!(
        outcome(&engine, "{{ steps.s.output.items * 100000000 }}", &scope),
        Err(ErrorKind::Invalid)
    );
    assert_eq!(
        outcome(&engine, "{{ steps.s.output.items | length }}", &scope),
        Ok(json!(3))
    );
    let small = Engine::new(Limits {
        max_output_bytes: 100,
        ..Limits::default()
    });
    assert_eq!(
        outcome(&small, "{{ inputs.big }}", &scope),
        Err(ErrorKind::OutputTooLarge)
    );
    let short_strings = Engine::new(Limits {
        max_string_bytes: 10,
        ..Limits::default()
    });
    assert_eq!(
        outcome(&short_strings, "{{ ['x' * 11] }}", &Scope::new()),
        Err(ErrorKind::OutputTooLarge)
    );
}

#[test]
fn deep_and_long_expressions_do_not_crash() {
    let chain = |op: &str, n: usize| format!("{{{{ 1{} }}}}", format!("{op}1").repeat(n));
    assert_eq!(
        outcome(&Engine::default(), &chain(" + ", 4000), &Scope::new()),
        Ok(json!(4001))
    );
    // 4000 concatenations copy about 8 MB in total, which the fuel does not cover.
    assert_eq!(kind(&chain(" ~ ", 4000)), ErrorKind::FuelExhausted);
    assert_eq!(
        outcome(&Engine::default(), &chain(" ~ ", 500), &Scope::new()),
        Ok(json!("1".repeat(501)))
    );
    assert!(outcome(&Engine::default(), &chain(" and ", 2500), &Scope::new()).is_ok());
    assert!(outcome(&Engine::default(), &chain(" | abs", 0), &Scope::new()).is_ok());
    let filters = format!("{{{{ -1{} }}}}", " | abs".repeat(2500));
    assert_eq!(
        outcome(&Engine::default(), &filters, &Scope::new()),
        Ok(json!(1))
    );
    let nots = format!("{{{{ {}true }}}}", "not ".repeat(3000));
    assert_eq!(
        outcome(&Engine::default(), &nots, &Scope::new()),
        Ok(json!(true))
    );
    let negs = format!("{{{{ {}1 }}}}", "-".repeat(5000));
    assert_eq!(
        outcome(&Engine::default(), &negs, &Scope::new()),
        Ok(json!(1))
    );
    let attrs = format!("{{{{ inputs{} | default(0) }}}}", ".a".repeat(3000));
    assert!(outcome(&Engine::default(), &attrs, &Scope::new()).is_err());
    // The parser limits bracket nesting itself.
    let parens = format!("{{{{ {}1{} }}}}", "(".repeat(1000), ")".repeat(1000));
    assert_eq!(kind(&parens), ErrorKind::Syntax);
    let lists = format!("{{{{ {}{} }}}}", "[".repeat(1000), "]".repeat(1000));
    assert_eq!(kind(&lists), ErrorKind::Syntax);
    // Results nested deeper than JSON parsers accept are refused.
    let mut deep = json!(1);
    for _ in 0..140 {
        deep = json!([deep]);
    }
    let scope = Scope::new().with_inputs(deep);
    assert_eq!(
        outcome(&Engine::default(), "{{ inputs }}", &scope),
        Err(ErrorKind::Type)
    );
    assert_eq!(
        outcome(&Engine::default(), "{{ [inputs[0]] }}", &scope),
        Err(ErrorKind::Type)
    );
    // Over-long expressions are refused before parsing.
    let long = format!("{{{{ 1{} }}}}", " + 1".repeat(5000));
    assert_eq!(kind(&long), ErrorKind::Syntax);
    let unclosed = format!("{{{{ 1{}", " + 1".repeat(5000));
    assert_eq!(kind(&unclosed), ErrorKind::Syntax);
}

#[test]
fn nothing_reaches_the_host() {
    for field in [
        "{{ debug() }}",
        "{{ namespace() }}",
        "{{ include('/etc/passwd') }}",
        "{{ import('os') }}",
        "{{ self }}",
        "{{ config }}",
        "{{ env }}",
        "{{ environ }}",
        "{{ lipsum() }}",
        "{{ cycler(1) }}",
        "{{ joiner() }}",
        "{{ loop }}",
        "{{ request }}",
        "{{ __builtins__ }}",
    ] {
        assert_eq!(kind(field), ErrorKind::UnknownVariable, "{field}");
    }
    for field in [
        "{{ 1 | urlencode }}",
        "{{ 1 | fromjson }}",
        "{{ 1 | include }}",
    ] {
        assert_eq!(kind(field), ErrorKind::UnknownFilter, "{field}");
    }
    assert_eq!(kind("{{ ''.__class__.__mro__ }}"), ErrorKind::Undefined);
    assert_eq!(kind("{{ range.__globals__ }}"), ErrorKind::Undefined);
    assert_eq!(kind("{{ inputs.x.__init__() }}"), ErrorKind::Syntax);
    // Statements are not part of the language: without `{{`, this is plain text.
    let engine = Engine::default();
    let t = engine.compile("{% include '/etc/passwd' %}").unwrap();
    assert_eq!(
        engine.eval(&t, &Scope::new()).unwrap(),
        json!("{% include '/etc/passwd' %}")
    );
    let t = engine.compile("{{ 1 }} {% raw %}").unwrap();
    assert_eq!(
        engine.eval(&t, &Scope::new()).unwrap(),
        json!("1 {% raw %}")
    );
}

#[test]
fn fuel_is_per_evaluation() {
    let engine = Engine::new(Limits {
        fuel: 200,
        ..Limits::default()
    });
    let t = engine.compile("{{ range(50) | sum }}").unwrap();
    for _ in 0..3 {
        assert_eq!(engine.eval(&t, &Scope::new()).unwrap(), json!(1225));
    }
    let t = engine.compile("{{ range(1000) | sum }}").unwrap();
    let err = engine.eval(&t, &Scope::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FuelExhausted);
    assert_eq!(
        err.to_string(),
        "expression exceeded its step budget (200 fuel)"
    );
}
