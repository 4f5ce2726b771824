//! Property test: arithmetic and comparison expressions on random numbers agree with Rust's
//! own computation, both for literals and for numbers read from the scope. It deliberately
//! stays within ranges where both sides are exact (no overflow, no division by zero).

use aion_expr::{Engine, Scope};
use proptest::prelude::*;
use serde_json::{Value, json};

fn eval(engine: &Engine, field: &str, scope: &Scope) -> Value {
    let t = engine.compile(field).unwrap();
    engine
        .eval(&t, scope)
        .unwrap_or_else(|e| panic!("{field}: {e}"))
}

/// Python semantics, which Jinja follows: floor division and a modulo with the divisor's sign.
fn floor_div(a: i64, b: i64) -> i64 {
    let q = a / b;
    if (a % b != 0) && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

fn py_mod(a: i64, b: i64) -> i64 {
    ((a % b) + b) % b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn integer_arithmetic(a in -1_000_000i64..1_000_000, b in -1_000_000i64..1_000_000) {
        let engine = Engine::default();
        let scope = Scope::new().with_inputs(json!({"a": a, "b": b}));
        let ops: Vec<(&str, Value)> = vec![
            ("+", json!(a + b)),
            ("-", json!(a - b)),
            ("*", json!(a * b)),
            ("<", json!(a < b)),
            ("<=", json!(a <= b)),
            (">", json!(a > b)),
            (">=", json!(a >= b)),
            ("==", json!(a == b)),
            ("!=", json!(a != b)),
        ];
        for (op, expected) in ops {
            prop_assert_eq!(&eval(&engine, &format!("{{{{ ({a}) {op} ({b}) }}}}"), &Scope::new()), &expected, "{} {} {}", a, op, b);
            prop_assert_eq!(&eval(&engine, &format!("{{{{ inputs.a {op} inputs.b }}}}"), &scope), &expected, "{} {} {}", a, op, b);
        }
        if b != 0 {
            prop_assert_eq!(eval(&engine, "{{ inputs.a // inputs.b }}", &scope), json!(floor_div(a, b)));
            prop_assert_eq!(eval(&engine, "{{ inputs.a % inputs.b }}", &scope), json!(py_mod(a, b)));
            prop_assert_eq!(eval(&engine, "{{ inputs.a / inputs.b }}", &scope), json!(a as f64 / b as f64));
        }
    }

    #[test]
    fn float_arithmetic(a in -1.0e6f64..1.0e6, b in -1.0e6f64..1.0e6) {
        let engine = Engine::default();
        let scope = Scope::new().with_inputs(json!({"a": a, "b": b}));
        let ops: Vec<(&str, Value)> = vec![
            ("+", json!(a + b)),
            ("-", json!(a - b)),
            ("*", json!(a * b)),
            ("<", json!(a < b)),
            (">=", json!(a >= b)),
            ("==", json!(a == b)),
        ];
        for (op, expected) in ops {
            prop_assert_eq!(&eval(&engine, &format!("{{{{ inputs.a {op} inputs.b }}}}"), &scope), &expected, "{} {} {}", a, op, b);
        }
        if b != 0.0 {
            prop_assert_eq!(eval(&engine, "{{ inputs.a / inputs.b }}", &scope), json!(a / b));
        }
        let mixed = eval(&engine, "{{ inputs.a < inputs.b and inputs.b > 0 or inputs.a == 0 }}", &scope);
        prop_assert_eq!(mixed, json!((a < b && b > 0.0) || a == 0.0));
    }
}
