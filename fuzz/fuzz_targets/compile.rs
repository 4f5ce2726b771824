//! Fuzz target: any bytes, read as YAML and as JSON, through the whole compiler. It must never
//! panic, hang or allocate without bound; every outcome is a plan or diagnostics.
#![no_main]

use std::sync::OnceLock;

use aion_compiler::Compiler;
use aion_dsl::source::Format;
use libfuzzer_sys::fuzz_target;

static COMPILER: OnceLock<Compiler> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let compiler = COMPILER.get_or_init(|| Compiler::new(aion_nodes::catalog()));
    for format in [Format::Yaml, Format::Json] {
        let output = compiler.compile(data, format);
        assert_eq!(
            output.plan.is_some(),
            !output.diagnostics.iter().any(|d| d.is_error())
        );
    }
});
