//! The CLI contract, end to end through the real binary: exit codes, human and JSON output
//! (snapshotted), `plan`, `schema` and `nodes`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn aion(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aion"))
        .args(args)
        .current_dir(repository())
        .output()
        .expect("the binary runs")
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}

/// A scratch directory for documents written by a test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aion-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const BROKEN: &str = "aion: 1
id: Broken_Flow
nodes:
  - id: fetch
    type: http.reqest
    config: { url: https://example.com }
  - id: show
    type: core.log
    config:
      message: \"price {{ steps.fetch.output.body.price \"
      levle: info
edges:
  - { from: fetch, to: shwo }
";

#[test]
fn check_valid_examples_exits_zero() {
    let output = aion(&["check", "examples"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert_eq!(stdout(&output), "");
    assert!(stderr(&output).contains("all valid"), "{}", stderr(&output));
}

#[test]
fn check_invalid_file_reports_like_rustc_and_exits_one() {
    let dir = scratch("broken");
    let file = dir.join("broken.yaml");
    std::fs::write(&file, BROKEN).unwrap();
    let output = aion(&["check", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output).replace(file.to_str().unwrap(), "broken.yaml");
    insta::assert_snapshot!("check_human", text);
    assert!(stderr(&output).contains("error(s)"));
}

#[test]
fn check_json_format_is_the_documented_shape() {
    let dir = scratch("json");
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, BROKEN).unwrap();
    let good = repository().join("examples/hello.yaml");
    let output = aion(&[
        "check",
        "--format",
        "json",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let reports: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["valid"], true);
    assert_eq!(reports[0]["diagnostics"], serde_json::json!([]));
    assert_eq!(reports[1]["valid"], false);
    for diagnostic in reports[1]["diagnostics"].as_array().unwrap() {
        for field in [
            "code", "severity", "pointer", "line", "column", "message", "hint",
        ] {
            assert!(
                diagnostic.get(field).is_some(),
                "{field} missing in {diagnostic}"
            );
        }
    }
    let mut reports = reports.clone();
    reports[1]["file"] = "bad.yaml".into();
    reports[0]["file"] = "hello.yaml".into();
    insta::assert_json_snapshot!("check_json", reports);
}

#[test]
fn usage_and_io_errors_exit_two() {
    let missing = aion(&["check", "does/not/exist.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("cannot read"),
        "{}",
        stderr(&missing)
    );
    let no_files = aion(&["check"]);
    assert_eq!(no_files.status.code(), Some(2));
    let bad_format = aion(&["check", "--format", "xml", "examples"]);
    assert_eq!(bad_format.status.code(), Some(2));
    let unknown = aion(&["frobnicate"]);
    assert_eq!(unknown.status.code(), Some(2));
    let unknown_node = aion(&["nodes", "core.forech"]);
    assert_eq!(unknown_node.status.code(), Some(2));
    assert!(stderr(&unknown_node).contains("did you mean `core.foreach`"));
}

#[test]
fn bad_bytes_are_diagnostics_not_crashes() {
    let dir = scratch("bytes");
    let cases: [(&str, &[u8]); 4] = [
        ("empty.yaml", b""),
        ("latin1.yaml", b"aion: 1\nid: caf\xe9\n"),
        ("truncated.json", b"{\"aion\": 1, \"nodes\": [ {\"id\": "),
        ("tabs.yaml", b"aion: 1\n\tid: x\n"),
    ];
    for (name, bytes) in cases {
        let file = dir.join(name);
        std::fs::write(&file, bytes).unwrap();
        let output = aion(&["check", "--format", "json", file.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(1), "{name}: {}", stderr(&output));
        let reports: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
        assert_eq!(reports[0]["valid"], false, "{name}");
        assert!(
            !reports[0]["diagnostics"].as_array().unwrap().is_empty(),
            "{name}"
        );
    }
}

#[test]
fn plan_prints_json_with_a_hash_and_same_hash_for_json_and_yaml() {
    let yaml = aion(&["plan", "examples/hello.yaml"]);
    assert_eq!(yaml.status.code(), Some(0), "{}", stderr(&yaml));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&yaml)).unwrap();
    let hash = plan["hash"].as_str().unwrap().to_owned();
    assert!(hash.starts_with("sha256:"));
    assert_eq!(plan["graph"]["steps"][0]["id"], "greet");

    let dir = scratch("plan");
    let document = aion_dsl::source::parse(
        &std::fs::read(repository().join("examples/hello.yaml")).unwrap(),
        aion_dsl::source::Format::Yaml,
        &Default::default(),
    )
    .unwrap();
    let json_file = dir.join("hello.json");
    std::fs::write(
        &json_file,
        serde_json::to_string_pretty(&document.value).unwrap(),
    )
    .unwrap();
    let json = aion(&["plan", json_file.to_str().unwrap()]);
    let plan: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(plan["hash"], hash);

    let invalid = dir.join("invalid.yaml");
    std::fs::write(&invalid, BROKEN).unwrap();
    let failed = aion(&["plan", invalid.to_str().unwrap()]);
    assert_eq!(failed.status.code(), Some(1));
    assert_eq!(stdout(&failed), "");
    assert!(stderr(&failed).contains("AION-E0020"));
}

#[test]
fn schema_and_nodes() {
    let schema = aion(&["schema"]);
    assert_eq!(schema.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_str(&stdout(&schema)).unwrap();
    assert_eq!(schema["title"], "Aion flow document");
    assert!(
        schema["required"]
            .as_array()
            .unwrap()
            .contains(&"nodes".into())
    );

    let list = aion(&["nodes"]);
    assert_eq!(list.status.code(), Some(0));
    insta::assert_snapshot!("nodes_list", stdout(&list));

    let one = aion(&["nodes", "core.foreach", "--format", "json"]);
    let one: serde_json::Value = serde_json::from_str(&stdout(&one)).unwrap();
    assert_eq!(one["type"], "core.foreach");
    assert_eq!(one["has_body"], true);
    assert_eq!(
        one["config_schema"]["required"],
        serde_json::json!(["items"])
    );

    let human = aion(&["nodes", "core.switch"]);
    assert!(stdout(&human).contains("one per `cases[].port`, plus default, error"));

    let all = aion(&["nodes", "--format", "json"]);
    let all: serde_json::Value = serde_json::from_str(&stdout(&all)).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 15);
}

#[test]
fn help_is_clear() {
    let help = aion(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    insta::assert_snapshot!("help", stdout(&help));
    let check_help = aion(&["check", "--help"]);
    assert!(stdout(&check_help).contains("Exits 0 when every file is valid"));
}
