//! Fuzz target: any text as a template field, compiled and evaluated against a small scope.
//! Compilation and evaluation must end with a value or an error, never a panic or a hang.
#![no_main]

use std::sync::OnceLock;

use aion_expr::{Engine, Limits, Scope, StepState};
use libfuzzer_sys::fuzz_target;

static ENGINE: OnceLock<Engine> = OnceLock::new();
static SCOPE: OnceLock<Scope> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(field) = std::str::from_utf8(data) else {
        return;
    };
    let engine = ENGINE.get_or_init(|| Engine::new(Limits::default()));
    let scope = SCOPE.get_or_init(|| {
        Scope::new()
            .with_inputs(serde_json::json!({"threshold": 10, "name": "ada", "list": [1, 2, 3]}))
            .with_step(
                "a",
                StepState::succeeded(serde_json::json!({"body": {"price": 9.5, "tags": ["x"]}})),
            )
    });
    if let Ok(template) = engine.compile(field) {
        let _ = template.references();
        let _ = engine.eval(&template, scope);
    }
});
