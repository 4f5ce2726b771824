//! Integration tests for jq programs: results, compile and run-time errors, host isolation,
//! deadlines, budgets and memory guards. The "busy" behaviour has its own test binary
//! (`jq_busy.rs`) because it changes process-wide state. Template behaviour is not tested
//! here.

use std::time::{Duration, Instant};

use aion_expr::{CompileError, Engine, ErrorKind, EvalError, Limits};
use serde_json::{Value, json};

/// Programs that must succeed get a generous deadline: a debug build on a loaded 2-core CI
/// machine is slow, and these tests are about results, not speed (that is benchmarked).
fn run(program: &str, input: Value) -> Result<Value, EvalError> {
    let engine = Engine::new(Limits {
        jq_timeout: Duration::from_secs(30),
        ..Limits::default()
    });
    let p = engine
        .compile_jq(program)
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    engine.run_jq(&p, input)
}

fn ok(program: &str, input: Value) -> Value {
    run(program, input).unwrap_or_else(|e| panic!("{program}: {e}"))
}

fn compile_err(program: &str) -> CompileError {
    Engine::default().compile_jq(program).expect_err(program)
}

#[test]
fn outputs_become_one_value() {
    let input = json!({"items": [{"active": true, "n": 1}, {"active": false, "n": 2}]});
    assert_eq!(
        ok(".items | map(select(.active)) | length", input.clone()),
        json!(1)
    );
    assert_eq!(ok(".items[] | .n", input.clone()), json!([1, 2]));
    assert_eq!(ok("empty", input.clone()), json!(null));
    assert_eq!(ok("[.items[].n] | add", input.clone()), json!(3));
    assert_eq!(ok("{a: 1} + {b: 2}", json!(null)), json!({"a": 1, "b": 2}));
    assert_eq!(
        ok(r#""\(.x)-\(.y)""#, json!({"x": 1, "y": "z"})),
        json!("1-z")
    );
    assert_eq!(
        ok(".a += 1 | .s *= 2", json!({"a": 1, "s": "ab"})),
        json!({"a": 2, "s": "abab"})
    );
    assert_eq!(
        ok("[.[] | tostring] | join(\",\")", json!([1, "a", null])),
        json!("1,a,null")
    );
    assert_eq!(
        ok("tojson | fromjson", json!({"k": [1, 2.5]})),
        json!({"k": [1, 2.5]})
    );
    assert_eq!(ok("[paths]", json!({"a": [1]})), json!([["a"], ["a", 0]]));
    assert_eq!(
        ok("[(1, 2) + (10, 20)]", json!(null)),
        json!([11, 21, 12, 22])
    );
    assert_eq!(
        ok("[(1, 2) * (10, 20)]", json!(null)),
        json!([10, 20, 20, 40])
    );
    assert_eq!(
        ok(
            "def fac: if . <= 1 then 1 else . * (. - 1 | fac) end; 10 | fac",
            json!(null)
        ),
        json!(3628800)
    );
    assert_eq!(ok("1e1000", json!(null)), json!(f64::MAX));
    assert_eq!(ok("[limit(3; repeat(1))]", json!(null)), json!([1, 1, 1]));
    assert_eq!(ok("\"x\" * 0", json!(null)), json!(null));
}

#[test]
fn all_outputs_are_available() {
    let engine = Engine::default();
    let p = engine.compile_jq(".[]").unwrap();
    assert_eq!(
        engine.run_jq_outputs(&p, json!([[1], 2])).unwrap(),
        vec![json!([1]), json!(2)]
    );
    assert_eq!(
        engine.run_jq_outputs(&p, json!([])).unwrap(),
        Vec::<Value>::new()
    );
    assert_eq!(p.source(), ".[]");
}

#[test]
fn compile_errors_have_positions() {
    let err = compile_err(".a | ");
    assert_eq!(err.kind(), ErrorKind::JqSyntax);
    let err = compile_err(".a | foo(1)");
    assert_eq!(err.offset(), 5, "{err}");
    assert!(
        err.to_string().contains("undefined filter `foo/1`"),
        "{err}"
    );
    let err = compile_err("[1, 2");
    assert_eq!(err.kind(), ErrorKind::JqSyntax, "{err}");
    let err = compile_err(". as [$a] | $b");
    assert_eq!(err.offset(), 12, "{err}");
}

#[test]
fn host_access_is_unavailable() {
    for program in [
        "$ENV",
        "$ENV.PATH",
        "env",
        "env.HOME",
        "input",
        "inputs",
        "input_filename",
        "now",
        "localtime",
        "0 | strflocaltime(\"%c\")",
        "get_search_list",
        "input_line_number",
        "$__prog_args",
    ] {
        assert_eq!(
            compile_err(program).kind(),
            ErrorKind::JqSyntax,
            "{program}"
        );
    }
    for program in [
        "import \"a\" as $a; $a",
        "include \"x\"; 1",
        "  import \"a\" as a; 1",
    ] {
        let err = compile_err(program);
        assert!(err.to_string().contains("modules"), "{program}: {err}");
    }
    // Logging built-ins compile but print nothing and pass their input through.
    assert_eq!(ok("debug", json!(1)), json!(1));
    assert_eq!(ok("debug(\"msg\")", json!(1)), json!(1));
    assert_eq!(ok("stderr", json!(1)), json!(1));
    // `halt` would exit the process in jq; here it is an error.
    for program in ["halt", "halt_error", "\"bye\" | halt_error(1)"] {
        let err = run(program, json!(1)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::JqRuntime, "{program}");
        assert!(err.to_string().contains("halt"), "{program}: {err}");
    }
    // Time functions that do not read the host's clock or time zone remain.
    assert_eq!(ok("0 | todate", json!(null)), json!("1970-01-01T00:00:00Z"));
}

#[test]
fn runtime_errors_are_reported() {
    let err = run("error(\"boom\")", json!(null)).unwrap_err();
    assert_eq!(
        err,
        EvalError::JqRuntime {
            message: "boom".into()
        }
    );
    let err = run("1 + \"a\"", json!(null)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::JqRuntime);
    let err = run(".a", json!([1])).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::JqRuntime);
    // Huge values in messages are cut.
    let err = run("[range(100000)] | error", json!(null)).unwrap_err();
    assert!(err.to_string().len() < 1100, "{}", err.to_string().len());
    let err = run("\"[[[\" | fromjson", json!(null)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::JqRuntime);
    let err = run("\"[\" * 1000 + \"]\" * 1000 | fromjson", json!(null)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::JqRuntime, "{err}");
}

fn quick(timeout_ms: u64) -> Engine {
    Engine::new(Limits {
        jq_timeout: Duration::from_millis(timeout_ms),
        jq_fuel: u64::MAX,
        ..Limits::default()
    })
}

/// Waits until no timed-out worker is left, proving that workers really stop.
fn wait_for_workers() {
    let start = Instant::now();
    while aion_expr::overdue_jq_runs() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "a jq worker did not stop"
        );
        std::thread::yield_now();
    }
}

#[test]
fn endless_programs_time_out_and_stop() {
    let engine = quick(200);
    for program in [
        "def f: f; f",
        "[repeat(1)]",
        "[range(1e18)]",
        "last(range(infinite))",
        "reduce range(infinite) as $x (0; . + 1)",
        "def f: 1 + f; f",
        "[limit(1e18; repeat(\"x\"))] | length",
        "reduce range(40) as $i (0; [., .]) | [..] | length",
        "until(false; .)",
    ] {
        let p = engine.compile_jq(program).unwrap();
        let start = Instant::now();
        let err = engine.run_jq(&p, json!(null)).unwrap_err();
        let elapsed = start.elapsed();
        assert!(
            matches!(err.kind(), ErrorKind::JqTimeout | ErrorKind::JqRuntime),
            "{program}: {err}"
        );
        assert!(elapsed < Duration::from_secs(3), "{program}: {elapsed:?}");
    }
    wait_for_workers();
}

#[test]
fn step_budget_stops_programs() {
    let engine = Engine::new(Limits {
        jq_fuel: 10_000,
        ..Limits::default()
    });
    let p = engine.compile_jq("def f: f; f").unwrap();
    let err = engine.run_jq(&p, json!(null)).unwrap_err();
    assert_eq!(err, EvalError::JqFuelExhausted { budget: 10_000 });
    assert_eq!(err.kind(), ErrorKind::FuelExhausted);
    let p = engine.compile_jq("[range(1e9)] | length").unwrap();
    assert_eq!(
        engine.run_jq(&p, json!(null)).unwrap_err().kind(),
        ErrorKind::FuelExhausted
    );
}

#[test]
fn deep_recursion_is_an_error_not_a_crash() {
    for program in ["def f: [f]; f", "def f: 1 + f; f", "def f: (f | .) , 1; f"] {
        let err = run(program, json!(null)).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::JqRuntime | ErrorKind::FuelExhausted | ErrorKind::JqTimeout
            ),
            "{program}: {err}"
        );
    }
    let err = run(
        &format!("{}1{}", "[".repeat(5000), "]".repeat(5000)),
        json!(null),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Type, "{err}");
}

#[test]
fn deeply_nested_values_are_handled() {
    // Built one level per step, then measured and dropped on the worker's large stack.
    assert_eq!(
        ok(
            "reduce range(200000) as $i (null; [.]) | length",
            json!(null)
        ),
        json!(1)
    );
    let err = run("reduce range(200) as $i (null; [.])", json!(null)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Type, "{err}");
    let engine = Engine::default();
    let p = engine
        .compile_jq(&format!("{}1{}", "[".repeat(3000), "]".repeat(3000)))
        .unwrap();
    assert_eq!(
        engine.run_jq(&p, json!(null)).unwrap_err().kind(),
        ErrorKind::Type
    );
    let long_pipe = format!(".{}", " | .".repeat(10_000));
    assert_eq!(run(&long_pipe, json!(3)), Ok(json!(3)));
}

#[test]
fn memory_bombs_fail_fast() {
    let programs = [
        "\"x\" * 1000000000000000",
        "1000000000000000 * \"x\"",
        "\"x\" * 100000000000000000000000",
        "\"x\" | until(length > 1e12; . + .)",
        "[1] | until(length > 1e12; . + .)",
        "\"x\" | until(length > 1e12; . += .)",
        "reduce range(60) as $i (0; [., .]) | tojson",
        "reduce range(60) as $i (0; [., .]) | tostring",
        "reduce range(60) as $i (0; [., .]) | \"\\(.)\"",
        "reduce range(60) as $i (\"x\"; [., .]) | @base64",
        "reduce range(60) as $i (\"x\"; [., .]) | flatten | length",
        "[range(100000) | \"xxxxxxxxxx\"] | join(\"yyyyyyyyyy\") | length",
        // Built-ins that expand a shared input are charged by the size of what they build.
        "(\"x\" * 1000000) as $s | [range(100000) | $s | explode] | length",
        "(\"x\" * 1000000) as $s | reduce range(100000) as $i ({}; .[$i | tostring] = ($s | ascii_downcase)) | length",
        "[range(1000000)] as $a | [range(100000) | $a | reverse] | length",
    ];
    // A smaller step budget keeps the budget-bound cases quick in debug builds.
    let engine = Engine::new(Limits {
        jq_fuel: 2_000_000,
        ..Limits::default()
    });
    for program in programs {
        let start = Instant::now();
        let compiled = engine.compile_jq(program).unwrap();
        let err = engine.run_jq(&compiled, json!(null)).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::JqRuntime | ErrorKind::FuelExhausted | ErrorKind::JqTimeout
            ),
            "{program}: {err}"
        );
        assert!(start.elapsed() < Duration::from_secs(5), "{program}");
    }
    wait_for_workers();
}

#[test]
fn outputs_are_capped() {
    let err = run("range(20000)", json!(null)).unwrap_err();
    assert_eq!(err, EvalError::JqTooManyOutputs { limit: 10_000 });
    let err = run("repeat(1)", json!(null)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::JqTooManyOutputs);
    let err = run("[range(200000)]", json!(null)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutputTooLarge);
    let err = run("reduce range(40) as $i (0; [., .])", json!(null)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutputTooLarge);
}

#[test]
fn runs_in_parallel() {
    let engine = Engine::default();
    let p = engine.compile_jq("[.[] * 2]").unwrap();
    std::thread::scope(|s| {
        for i in 0..8 {
            let (engine, p) = (&engine, &p);
            s.spawn(move || {
                assert_eq!(engine.run_jq(p, json!([i, 1])).unwrap(), json!([i * 2, 2]));
            });
        }
    });
}

#[test]
fn oversized_programs_are_refused() {
    let program = format!(". {}", " ".repeat(aion_expr::MAX_PROGRAM_BYTES));
    assert_eq!(compile_err(&program).kind(), ErrorKind::JqSyntax);
    // Deep nesting in the source is parsed on a large stack.
    let nested = format!("{}1{}", "(".repeat(20000), ")".repeat(20000));
    assert_eq!(ok(&nested, json!(null)), json!(1));
}
