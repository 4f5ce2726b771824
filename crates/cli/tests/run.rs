//! `aion run`, `aion runs …` and `aion worker` end to end, through real processes on real
//! SQLite data dirs in temporary directories.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn aion(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aion"))
        .args(args)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

fn spawn_worker(dir: &Path, lease_ms: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_aion"))
        .args(["worker", "--lease-ms", lease_ms, "--data-dir"])
        .arg(dir.join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the worker starts")
}

fn out(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn err(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The process exited with `code` and its stderr says `text` (shown whole when not).
fn expect_failure(output: &Output, code: i32, text: &str) {
    let stderr = err(output);
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(text), "expected `{text}` in:\n{stderr}");
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    std::fs::write(dir.join(name), text).unwrap();
    name.to_owned()
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_str(&out(output))
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out(output), err(output)))
}

/// The step row of `runs show` for a step: its whitespace-separated columns.
fn step_row(show: &str, step: &str) -> Vec<String> {
    show.lines()
        .find(|l| l.split_whitespace().next() == Some(step))
        .unwrap_or_else(|| panic!("no row for {step} in\n{show}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn run_id_of(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| {
            l.strip_prefix("run ")
                .and_then(|r| r.split_whitespace().next())
        })
        .unwrap_or_else(|| panic!("no run id in {stderr}"))
        .to_owned()
}

/// Polls `runs show` until the run has this status.
#[expect(
    clippy::disallowed_methods,
    reason = "the test thread polls other processes; there is no runtime to stall"
)]
fn wait_status(dir: &Path, run_id: &str, status: &str, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        let show = out(&aion(dir, &["runs", "show", run_id]));
        if show.lines().any(|l| l == format!("status:   {status}")) {
            return show;
        }
        assert!(
            start.elapsed() < limit,
            "run never became {status}:\n{show}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

const CONTROL: &str = r#"aion: 1
id: control
inputs:
  type: object
  properties:
    name: { type: string, default: World }
    items: { type: array, items: { type: integer }, default: [1, 2, 3] }
    kind: { type: string, default: b }
nodes:
  - { id: greet, type: core.set, config: { value: "Hello {{ inputs.name }}" } }
  - { id: check, type: core.if, config: { condition: "{{ inputs.name == 'World' }}" } }
  - { id: yes, type: core.log, config: { message: "yes {{ steps.greet.output }}" } }
  - { id: no, type: core.set, config: { value: "no" } }
  - id: pick
    type: core.switch
    config:
      cases:
        - { port: a, when: "{{ inputs.kind == 'a' }}" }
        - { port: b, when: "{{ inputs.kind == 'b' }}" }
  - { id: on_a, type: core.set, config: { value: "A" } }
  - { id: on_b, type: core.set, config: { value: "B" } }
  - id: each
    type: core.foreach
    config: { items: "{{ inputs.items }}" }
    body:
      nodes:
        - { id: double, type: core.set, config: { value: "{{ item * 2 }}" } }
      output: "{{ steps.double.output }}"
  - { id: join, type: core.merge, config: { mode: first } }
  - { id: boom, type: core.fail, config: { message: "handled" } }
  - { id: rescue, type: core.set, config: { value: "{{ steps.boom.error.message }}" } }
output:
  greet: "{{ steps.greet.output }}"
  doubled: "{{ steps.each.output }}"
  picked: "{{ steps.on_b.output }}"
  rescued: "{{ steps.rescue.output }}"
edges:
  - { from: greet, to: check }
  - { from: check, to: yes, port: "true" }
  - { from: check, to: no, port: "false" }
  - { from: yes, to: join }
  - { from: no, to: join }
  - { from: pick, to: on_a, port: a }
  - { from: pick, to: on_b, port: b }
  - { from: boom, to: rescue, port: error }
"#;

#[test]
fn run_executes_control_flow_and_records_steps() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "control.yaml", CONTROL);
    let output = aion(dir.path(), &["run", &file]);
    assert_eq!(output.status.code(), Some(0), "{}", err(&output));
    assert_eq!(
        json(&output),
        serde_json::json!({
            "greet": "Hello World", "doubled": [2, 4, 6], "picked": "B", "rescued": "handled"
        })
    );
    let stderr = err(&output);
    assert!(stderr.contains("greet: started (attempt 1)"), "{stderr}");
    assert!(stderr.contains("boom: failed (attempt 1"), "{stderr}");
    let run_id = run_id_of(&stderr);
    let show = out(&aion(dir.path(), &["runs", "show", &run_id]));
    assert!(show.contains("status:   succeeded"), "{show}");
    assert_eq!(step_row(&show, "greet")[1..3], ["succeeded", "1"]);
    assert_eq!(step_row(&show, "no")[1], "skipped");
    assert_eq!(step_row(&show, "on_a")[1], "skipped");
    assert_eq!(step_row(&show, "boom")[1], "failed");
    assert_eq!(step_row(&show, "rescue")[1], "succeeded");
    assert_eq!(step_row(&show, "each[2].double")[1], "succeeded");
    // core.log wrote one log line.
    assert_eq!(step_row(&show, "yes").last().map(String::as_str), Some("1"));
    // Live progress prints a skipped step without an attempt.
    assert!(stderr.contains("no: skipped\n"), "{stderr}");
    assert!(!stderr.contains("skipped (attempt"), "{stderr}");
    // Steps are listed in the order they started, never-started ones last.
    let order: Vec<&str> = show
        .lines()
        .skip_while(|l| !l.starts_with("STEP"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let at = |step: &str| order.iter().position(|s| *s == step).unwrap();
    assert!(at("greet") < at("each[2].double"), "{order:?}");
    assert!(at("boom") < at("rescue"), "{order:?}");
    let shown = json(&aion(
        dir.path(),
        &["runs", "show", &run_id, "--format", "json"],
    ));
    assert_eq!(shown["id"], run_id.as_str());
    assert_eq!(shown["status"], "succeeded");
    let rows = shown["steps"].as_array().unwrap();
    assert_eq!(rows.len(), order.len());
    let greet = rows.iter().find(|r| r["step"] == "greet").unwrap();
    assert_eq!(greet["status"], "succeeded");
    assert_eq!(greet["attempts"], 1);
    assert_eq!(greet["output"], "Hello World");
    assert_eq!(greet["cache_hit"], false);
    for field in ["duration_ms", "error"] {
        assert!(greet.get(field).is_some(), "{greet}");
    }
    let listed = json(&aion(
        dir.path(),
        &["runs", "list", "--flow", "control", "--format", "json"],
    ));
    assert_eq!(listed["runs"][0]["id"], run_id.as_str());
    assert_eq!(listed["runs"][0]["flow_id"], "control");
    let list = out(&aion(dir.path(), &["runs", "list", "--flow", "control"]));
    assert!(list.contains(&run_id), "{list}");
    let none = out(&aion(dir.path(), &["runs", "list", "--status", "failed"]));
    assert!(!none.contains(&run_id), "{none}");
}

#[test]
fn run_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "control.yaml", CONTROL);
    let bad_input = aion(
        dir.path(),
        &["run", &file, "--input", r#"{"items": [1, "x"]}"#],
    );
    assert_eq!(bad_input.status.code(), Some(2));
    assert!(err(&bad_input).contains("/items/1"), "{}", err(&bad_input));
    let not_json = aion(dir.path(), &["run", &file, "--input", "{"]);
    assert_eq!(not_json.status.code(), Some(2));
    let invalid = write(dir.path(), "bad.yaml", "aion: 1\nid: Bad\n");
    let output = aion(dir.path(), &["run", &invalid]);
    expect_failure(&output, 2, "AION-E");
    let failing = write(
        dir.path(),
        "fail.yaml",
        "aion: 1\nid: failing\nnodes:\n  - { id: a, type: core.set, config: { value: 1 } }\n  - { id: boom, type: core.fail, config: { message: it broke } }\nedges:\n  - { from: a, to: boom }\n",
    );
    let output = aion(dir.path(), &["run", &failing]);
    expect_failure(&output, 1, "step `boom` failed");
    assert!(err(&output).contains("it broke"), "{}", err(&output));
    assert_eq!(out(&output), "");
}

#[test]
fn foreign_data_dir_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(
        dir.path().join("data/aion.db"),
        b"not a database at all, just text",
    )
    .unwrap();
    let output = aion(dir.path(), &["runs", "list"]);
    expect_failure(&output, 2, "cannot use the data directory");
}

#[test]
fn retry_with_backoff_then_error_edge_and_wait() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "slow.yaml",
        r#"aion: 1
id: slow
nodes:
  - id: spin
    type: core.transform
    config: { program: "reduce range(0; 1000000000) as $i (0; . + $i)", input: 0 }
    retry: { max_attempts: 3, backoff: fixed, initial: 20ms, jitter: false }
    timeout: 50ms
  - { id: handled, type: core.set, config: { value: "{{ steps.spin.error.kind }}" } }
  - { id: nap, type: core.wait, config: { duration: 200ms } }
output:
  spin: "{{ steps.handled.output }}"
edges:
  - { from: spin, to: handled, port: error }
"#,
    );
    let start = Instant::now();
    let output = aion(dir.path(), &["run", &file]);
    assert_eq!(output.status.code(), Some(0), "{}", err(&output));
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert_eq!(json(&output), serde_json::json!({ "spin": "timeout" }));
    let stderr = err(&output);
    assert!(stderr.contains("spin: retrying (attempt 1"), "{stderr}");
    let show = out(&aion(dir.path(), &["runs", "show", &run_id_of(&stderr)]));
    assert_eq!(step_row(&show, "spin")[1..3], ["failed", "3"]);
    assert_eq!(step_row(&show, "nap")[1], "succeeded");
}

#[test]
fn retry_from_reuses_upstream_and_cache_hits() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "chain.yaml",
        r#"aion: 1
id: chain
nodes:
  - { id: first, type: core.log, config: { message: "once" } }
  - id: cached
    type: core.set
    config: { value: "{{ inputs.n }}" }
    cache: { ttl: 1h }
  - { id: last, type: core.fail, config: { message: "fix me" } }
output: "{{ steps.cached.output }}"
edges:
  - { from: first, to: cached }
  - { from: cached, to: last }
"#,
    );
    let first = aion(dir.path(), &["run", &file, "--input", r#"{"n": 7}"#]);
    assert_eq!(first.status.code(), Some(1), "{}", err(&first));
    let old = run_id_of(&err(&first));
    let retried = aion(dir.path(), &["runs", "retry", &old, "--from", "cached"]);
    assert_eq!(retried.status.code(), Some(1), "{}", err(&retried));
    let stderr = err(&retried);
    assert!(!stderr.contains("first: started"), "{stderr}");
    assert!(stderr.contains("cached: started"), "{stderr}");
    assert!(stderr.contains("reusing: first"), "{stderr}");
    let new = run_id_of(&stderr);
    assert_ne!(new, old);
    let show = out(&aion(dir.path(), &["runs", "show", &new]));
    assert!(show.contains(&format!("retry of: {old}")), "{show}");
    // The reused step kept its single attempt and its single log line.
    assert_eq!(step_row(&show, "first")[1..3], ["succeeded", "1"]);
    assert_eq!(
        step_row(&show, "first").last().map(String::as_str),
        Some("1")
    );
    // The second execution of `cached` came from the cache filled by the first run.
    assert_eq!(step_row(&show, "cached")[5], "hit", "{show}");
    let list = out(&aion(dir.path(), &["runs", "list"]));
    assert!(
        list.lines()
            .any(|l| l.starts_with(&new) && l.ends_with(&old)),
        "{list}"
    );
    let unknown = aion(dir.path(), &["runs", "retry", &old, "--from", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn worker_delivers_a_signal_sent_from_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "approve.yaml",
        r#"aion: 1
id: approve
nodes:
  - { id: ask, type: core.set, config: { value: "asked" } }
  - { id: answer, type: core.signal, config: { name: approval } }
output: "{{ steps.answer.output }}"
edges:
  - { from: ask, to: answer }
"#,
    );
    let detached = aion(dir.path(), &["run", &file, "--detach"]);
    assert_eq!(detached.status.code(), Some(0), "{}", err(&detached));
    let run_id = out(&detached).trim().to_owned();
    let mut worker = spawn_worker(dir.path(), "30000");
    wait_status(dir.path(), &run_id, "waiting", Duration::from_secs(20));
    let sent = aion(
        dir.path(),
        &[
            "runs",
            "signal",
            &run_id,
            "approval",
            "--payload",
            r#"{"ok": true}"#,
        ],
    );
    assert_eq!(sent.status.code(), Some(0), "{}", err(&sent));
    let show = wait_status(dir.path(), &run_id, "succeeded", Duration::from_secs(20));
    assert!(show.contains("output:"), "{show}");
    worker.kill().unwrap();
    worker.wait().unwrap();
}

#[test]
fn a_killed_worker_run_resumes_without_repeating_steps() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "nap.yaml",
        r#"aion: 1
id: nap
nodes:
  - { id: before, type: core.log, config: { message: "before" } }
  - { id: sleep, type: core.wait, config: { duration: 1500ms } }
  - { id: after, type: core.set, config: { value: "{{ steps.before.output.message }} and after" } }
output: "{{ steps.after.output }}"
edges:
  - { from: before, to: sleep }
  - { from: sleep, to: after }
"#,
    );
    let detached = aion(dir.path(), &["run", &file, "--detach"]);
    let run_id = out(&detached).trim().to_owned();
    let mut first = spawn_worker(dir.path(), "1000");
    wait_status(dir.path(), &run_id, "waiting", Duration::from_secs(20));
    first.kill().unwrap(); // SIGKILL: no graceful shutdown.
    first.wait().unwrap();
    let mut second = spawn_worker(dir.path(), "1000");
    let show = wait_status(dir.path(), &run_id, "succeeded", Duration::from_secs(20));
    second.kill().unwrap();
    let second_out = second.wait_with_output().unwrap();
    let second_err = String::from_utf8_lossy(&second_out.stderr);
    assert!(!second_err.contains("before: started"), "{second_err}");
    assert!(show.contains(r#"output:   "before and after""#), "{show}");
    assert_eq!(step_row(&show, "before")[1..3], ["succeeded", "1"]);
    assert_eq!(
        step_row(&show, "before").last().map(String::as_str),
        Some("1")
    );
    assert_eq!(step_row(&show, "after")[1..3], ["succeeded", "1"]);
}

#[test]
fn subflow_runs_a_child_and_on_error_starts_a_flow() {
    let dir = tempfile::tempdir().unwrap();
    let child = write(
        dir.path(),
        "child.yaml",
        "aion: 1\nid: child\nnodes:\n  - { id: c, type: core.set, config: { value: \"child got {{ inputs.x }}\" } }\noutput: \"{{ steps.c.output }}\"\n",
    );
    let alert = write(
        dir.path(),
        "alert.yaml",
        "aion: 1\nid: alert\nnodes:\n  - { id: n, type: core.noop }\n",
    );
    for (file, input) in [(&child, r#"{"x": 0}"#), (&alert, "{}")] {
        let output = aion(dir.path(), &["run", file, "--input", input]);
        assert_eq!(output.status.code(), Some(0), "{}", err(&output));
    }
    let parent = write(
        dir.path(),
        "parent.yaml",
        r#"aion: 1
id: parent
on_error: { flow: alert }
nodes:
  - { id: sub, type: core.subflow, config: { flow: child, input: { x: 5 } } }
  - { id: boom, type: core.fail, config: { message: "{{ steps.sub.output }}" } }
edges:
  - { from: sub, to: boom }
"#,
    );
    let output = aion(dir.path(), &["run", &parent]);
    expect_failure(&output, 1, "child got 5");
    let run_id = run_id_of(&err(&output));
    let children = out(&aion(dir.path(), &["runs", "list", "--flow", "child"]));
    assert!(children.contains(&format!("{run_id}/sub")), "{children}");
    // The `on_error` flow ran to its end within `aion run`: two succeeded `alert` runs now
    // (the one above and the one the failure started), none left queued.
    assert!(
        err(&output).contains("started the on_error flow `alert`"),
        "{}",
        err(&output)
    );
    let alerts = out(&aion(
        dir.path(),
        &["runs", "list", "--flow", "alert", "--status", "succeeded"],
    ));
    assert_eq!(alerts.lines().count(), 3, "{alerts}");
    let queued = out(&aion(
        dir.path(),
        &["runs", "list", "--flow", "alert", "--status", "queued"],
    ));
    assert_eq!(queued.lines().count(), 1, "{queued}");
}

#[test]
fn data_written_by_a_newer_version_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(aion(dir.path(), &["runs", "list"]).status.code(), Some(0));
    let conn = rusqlite::Connection::open(dir.path().join("data/aion.db")).unwrap();
    conn.execute_batch("PRAGMA user_version = 999;").unwrap();
    drop(conn);
    let output = aion(dir.path(), &["runs", "list", "--durability", "full"]);
    expect_failure(&output, 2, "newer version of aion");
}

#[test]
fn data_dir_comes_from_the_flag_the_env_or_the_user_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let list = |envs: &[(&str, &Path)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_aion"));
        command
            .args(["runs", "list"])
            .env_remove("AION_DATA_DIR")
            .env_remove("XDG_DATA_HOME");
        for (name, value) in envs {
            command.env(name, value);
        }
        command.output().unwrap()
    };
    let by_env = dir.path().join("by-env");
    assert_eq!(list(&[("AION_DATA_DIR", &by_env)]).status.code(), Some(0));
    assert!(by_env.join("aion.db").exists());
    let xdg = dir.path().join("xdg");
    assert_eq!(list(&[("XDG_DATA_HOME", &xdg)]).status.code(), Some(0));
    assert!(xdg.join("aion/aion.db").exists());
    let home = dir.path().join("home");
    assert_eq!(list(&[("HOME", &home)]).status.code(), Some(0));
    assert!(home.join(".local/share/aion/aion.db").exists());
}

/// A flow whose `big` step outputs a 200-character string (202 bytes of JSON).
const BIG: &str = r#"aion: 1
id: big
nodes:
  - { id: small, type: core.set, config: { value: "ok" } }
  - { id: big, type: core.set, config: { value: "{{ 'x' * 200 }}" } }
output: "{{ steps.big.output | length }}"
edges:
  - { from: small, to: big }
"#;

#[test]
fn max_output_bytes_fails_an_oversized_step_and_retry_takes_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "big.yaml", BIG);
    let output = aion(dir.path(), &["run", &file, "--max-output-bytes", "100"]);
    assert_eq!(output.status.code(), Some(1), "{}", err(&output));
    let stderr = err(&output);
    assert!(stderr.contains("step `big` failed"), "{stderr}");
    assert!(stderr.contains("output_too_large"), "{stderr}");
    assert!(stderr.contains("limit of 100 bytes"), "{stderr}");
    assert_eq!(out(&output), "");
    let run_id = run_id_of(&stderr);
    let shown = json(&aion(
        dir.path(),
        &["runs", "show", &run_id, "--format", "json"],
    ));
    let rows = shown["steps"].as_array().unwrap();
    let big = rows.iter().find(|r| r["step"] == "big").unwrap();
    assert_eq!(big["status"], "failed", "{big}");
    assert_eq!(big["error"]["kind"], "output_too_large", "{big}");
    let small = rows.iter().find(|r| r["step"] == "small").unwrap();
    assert_eq!(small["status"], "succeeded", "{small}");
    // A retry under a larger limit gets past the step.
    let retried = aion(
        dir.path(),
        &[
            "runs",
            "retry",
            &run_id,
            "--from",
            "big",
            "--max-output-bytes",
            "1000",
        ],
    );
    assert_eq!(retried.status.code(), Some(0), "{}", err(&retried));
    assert_eq!(json(&retried), serde_json::json!(200));
    // The default (1 MiB) lets it through too.
    let default = aion(dir.path(), &["run", &file]);
    assert_eq!(default.status.code(), Some(0), "{}", err(&default));
}

#[test]
fn max_output_bytes_must_be_a_positive_integer() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "big.yaml", BIG);
    for command in [
        vec!["run", file.as_str()],
        vec!["runs", "retry", "some-run", "--from", "big"],
        vec!["worker"],
    ] {
        for (value, message) in [
            ("0", "must be at least 1 byte"),
            ("abc", "expected a positive whole number of bytes"),
            ("-5", "expected a positive whole number of bytes"),
            ("1.5", "expected a positive whole number of bytes"),
            (
                "99999999999999999999999999",
                "must be at most 18446744073709551615 bytes",
            ),
        ] {
            let mut args = command.clone();
            let flag = format!("--max-output-bytes={value}");
            args.push(&flag);
            let output = aion(dir.path(), &args);
            assert_eq!(output.status.code(), Some(2), "{args:?}: {}", err(&output));
            let stderr = err(&output);
            assert!(
                stderr.contains(&format!(
                    "invalid value '{value}' for '--max-output-bytes <N>'"
                )),
                "{args:?}: {stderr}"
            );
            assert!(stderr.contains(message), "{args:?}: {stderr}");
        }
    }
    // Nothing ran, so nothing was stored.
    let listed = json(&aion(dir.path(), &["runs", "list", "--format", "json"]));
    assert_eq!(listed["runs"], serde_json::json!([]));
}

/// Answers every HTTP request on a loopback port with `200 {"ok":true}`, from a thread.
fn answer_on_loopback() -> u16 {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0_u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let body = r#"{"ok":true}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn retry_takes_allow_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let port = answer_on_loopback();
    let file = write(
        dir.path(),
        "local.yaml",
        &format!(
            "aion: 1\nid: local\nnodes:\n  - {{ id: call, type: http.request, config: {{ url: \"http://127.0.0.1:{port}/\" }} }}\noutput: \"{{{{ steps.call.output.body.ok }}}}\"\n"
        ),
    );
    let refused = aion(dir.path(), &["run", &file]);
    assert_eq!(refused.status.code(), Some(1), "{}", err(&refused));
    assert!(
        err(&refused).contains("blocked_address"),
        "{}",
        err(&refused)
    );
    let run_id = run_id_of(&err(&refused));
    let retried = aion(
        dir.path(),
        &[
            "runs",
            "retry",
            &run_id,
            "--from",
            "call",
            "--allow-loopback",
        ],
    );
    assert_eq!(retried.status.code(), Some(0), "{}", err(&retried));
    assert_eq!(json(&retried), serde_json::json!(true));
}
