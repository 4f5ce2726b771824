//! The document corpus: every valid document compiles to a plan and validates against the
//! published schema; every invalid document's diagnostics are snapshotted. The examples of the
//! repository are checked the same way.

use std::path::{Path, PathBuf};

use aion_compiler::Compiler;
use aion_dsl::source::Format;

fn compiler() -> Compiler {
    Compiler::new(aion_nodes::catalog())
}

fn documents(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            )
        })
        .collect();
    files.sort();
    files
}

fn corpus(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(kind)
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn schema_validator() -> jsonschema::Validator {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&aion_dsl::model::json_schema())
        .expect("the published schema compiles")
}

fn check_valid(files: &[PathBuf]) {
    let compiler = compiler();
    let schema = schema_validator();
    for file in files {
        let bytes = std::fs::read(file).unwrap();
        let output = compiler.compile(&bytes, Format::from_path(file));
        assert!(
            output.is_valid(),
            "{} should be valid: {:#?}",
            file.display(),
            output.diagnostics
        );
        let document =
            aion_dsl::source::parse(&bytes, Format::from_path(file), &Default::default()).unwrap();
        let errors: Vec<String> = schema
            .iter_errors(&document.value)
            .map(|e| format!("{}: {e}", e.instance_path().as_str()))
            .collect();
        assert!(
            errors.is_empty(),
            "{} fails the schema: {errors:#?}",
            file.display()
        );
    }
}

#[test]
fn valid_corpus_compiles_and_matches_the_schema() {
    let files = documents(&corpus("valid"));
    assert!(
        files.len() >= 10,
        "the valid corpus needs at least 10 documents"
    );
    check_valid(&files);
}

#[test]
fn examples_compile_and_match_the_schema() {
    let files = documents(&examples());
    assert!(files.len() >= 4);
    check_valid(&files);
}

/// Bad inputs too big or too odd to keep as files.
fn generated_cases() -> Vec<(String, Vec<u8>)> {
    let mut huge = b"aion: 1\nid: huge\nnodes: [{ id: a, type: core.noop }]\n# ".to_vec();
    huge.resize(10 * 1024 * 1024 + 1, b'x');
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 0..9 {
        let name = (b'b' + level) as char;
        let previous = (b'a' + level) as char;
        bomb.push_str(&format!(
            "{name}: &{name} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}]\n"
        ));
    }
    vec![
        ("E0002-generated-over-10-mib.yaml".into(), huge),
        (
            "E0005-generated-deep-nesting.json".into(),
            deep.into_bytes(),
        ),
        ("E0006-generated-alias-bomb.yaml".into(), bomb.into_bytes()),
    ]
}

#[test]
fn invalid_corpus_diagnostics() {
    let compiler = compiler();
    let files = documents(&corpus("invalid"));
    assert!(
        files.len() >= 40,
        "the invalid corpus needs at least 40 documents"
    );
    let mut cases: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|file| {
            (
                file.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(file).unwrap(),
            )
        })
        .collect();
    cases.extend(generated_cases());
    let mut seen_codes = std::collections::BTreeSet::new();
    for (name, bytes) in &cases {
        let output = compiler.compile(bytes, Format::from_path(Path::new(name)));
        let prefix = name.split('-').next().unwrap_or_default();
        let code = aion_types::codes::find(&format!("AION-{prefix}"))
            .unwrap_or_else(|| panic!("{name} must be named after the code it shows"));
        let has_error = output.diagnostics.iter().any(|d| d.is_error());
        if code.severity == aion_types::Severity::Error {
            assert!(
                has_error,
                "{name} should have an error: {:#?}",
                output.diagnostics
            );
        }
        assert_eq!(output.plan.is_some(), !has_error, "{name}");
        assert!(
            output.diagnostics.iter().any(|d| d.code == code.id),
            "{name} should report {}: {:#?}",
            code.id,
            output.diagnostics
        );
        for diagnostic in &output.diagnostics {
            seen_codes.insert(diagnostic.code);
            assert!(!diagnostic.message.is_empty());
            if !matches!(diagnostic.code, "AION-E0001" | "AION-E0002") {
                assert!(
                    diagnostic.line.is_some(),
                    "{name}: {diagnostic:?} has no line"
                );
            }
        }
        let snapshot_name = name
            .rsplit_once('.')
            .map_or(name.as_str(), |(stem, _)| stem);
        insta::with_settings!({
            snapshot_path => "corpus/snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_json_snapshot!(snapshot_name, output.diagnostics);
        });
    }
    let missing: Vec<&str> = aion_types::codes::ALL
        .iter()
        .map(|c| c.id)
        .filter(|id| !seen_codes.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "no corpus document shows these codes: {missing:?}"
    );
}
