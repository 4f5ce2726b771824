//! The CLI as a client of a real `aion serve` process: `login`/`logout`, `flows push|list|run`,
//! the remote `runs list|show` and `runs tail`, and the exit codes for refused keys and
//! unreachable servers.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running server with a user and an API key, and a temp dir for files and the config home.
struct Server {
    child: Child,
    url: String,
    key: String,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut child = Command::new(env!("CARGO_BIN_EXE_aion"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .env_remove("AION_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            assert!(
                Instant::now() < deadline,
                "the server never said where it listens"
            );
            let line = lines.next().expect("the server's log ended").unwrap();
            if let Some(rest) = line.split("serving on http://").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let admin = |args: &[&str]| {
            let output = Command::new(env!("CARGO_BIN_EXE_aion"))
                .arg("admin")
                .args(args)
                .arg("--data-dir")
                .arg(&data)
                .output()
                .unwrap();
            assert!(output.status.success(), "{output:?}");
            String::from_utf8(output.stdout).unwrap()
        };
        admin(&[
            "create-user",
            "--email",
            "ada@example.com",
            "--password",
            "correct horse",
        ]);
        let key = admin(&["create-api-key", "--email", "ada@example.com"])
            .trim()
            .to_owned();
        Server {
            child,
            url: format!("http://{addr}"),
            key,
            dir,
        }
    }

    /// The CLI with this server and key in the environment and a private config home.
    fn aion(&self, args: &[&str]) -> Output {
        self.command(args)
            .env("AION_SERVER", &self.url)
            .env("AION_API_KEY", &self.key)
            .output()
            .unwrap()
    }

    /// The CLI with no server or key in the environment, and HOME and XDG_CONFIG_HOME in the
    /// temp dir.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_aion"));
        command
            .args(args)
            .env_remove("AION_SERVER")
            .env_remove("AION_API_KEY")
            .env_remove("AION_DATA_DIR")
            .env("HOME", self.dir.path().join("home"))
            .env("XDG_CONFIG_HOME", self.config_home());
        command
    }

    fn config_home(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the exit code, with the output on failure.
fn expect(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "{output:?}");
}

const HELLO: &str = "aion: 1\nid: hello\ninputs:\n  type: object\n  properties:\n    name: { type: string }\n  required: [name]\nnodes:\n  - { id: note, type: core.log, config: { message: \"greeting {{ inputs.name }}\" } }\n  - { id: greet, type: core.set, config: { value: \"Hello, {{ inputs.name }}!\" } }\nedges:\n  - { from: note, to: greet }\noutput: \"{{ steps.greet.output }}\"\n";

#[test]
fn flows_are_pushed_listed_and_run_and_runs_are_shown_and_tailed() {
    let server = Server::start();
    let hello = server.write("hello.yaml", HELLO);

    // Created, then unchanged, then a new version.
    let pushed = server.aion(&["flows", "push", &hello]);
    expect(&pushed, 0);
    assert!(
        stderr(&pushed).contains("created flow hello v1"),
        "{pushed:?}"
    );
    let again = server.aion(&["flows", "push", &hello]);
    expect(&again, 0);
    assert!(stderr(&again).contains("unchanged"), "{again:?}");
    let changed = HELLO.replace("Hello,", "Hi,");
    std::fs::write(&hello, changed).unwrap();
    let saved = server.aion(&["flows", "push", &hello]);
    expect(&saved, 0);
    assert!(stderr(&saved).contains("saved flow hello v2"), "{saved:?}");

    // A document with errors: every diagnostic with its code and position, exit 1.
    let broken = server.write(
        "broken.yaml",
        "aion: 1\nid: broken\nnodes:\n  - { id: a, type: http.reqest, config: {} }\n",
    );
    let refused = server.aion(&["flows", "push", &broken]);
    expect(&refused, 1);
    let text = stderr(&refused);
    assert!(text.contains("error[AION-E"), "{text}");
    assert!(text.contains("broken.yaml:4:"), "{text}");
    assert!(text.contains("http.reqest"), "{text}");

    let failing = server.write(
        "failing.yaml",
        "aion: 1\nid: failing\nnodes:\n  - { id: boom, type: core.fail, config: { message: it broke } }\n",
    );
    expect(&server.aion(&["flows", "push", &failing]), 0);

    let list = server.aion(&["flows", "list"]);
    expect(&list, 0);
    let table = stdout(&list);
    assert!(table.starts_with("FLOW"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("hello") && l.contains(" 2 ")),
        "{table}"
    );
    let json = server.aion(&["flows", "list", "--format", "json"]);
    expect(&json, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    let ids: Vec<&str> = json["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["failing", "hello"]);

    // Runs: the output on stdout; a failed run exits 1; a bad input exits 2.
    let ran = server.aion(&["flows", "run", "hello", "--input", r#"{"name": "Ada"}"#]);
    expect(&ran, 0);
    assert_eq!(stdout(&ran), "\"Hi, Ada!\"\n");
    let failed = server.aion(&["flows", "run", "failing"]);
    expect(&failed, 1);
    assert!(stderr(&failed).contains("it broke"), "{failed:?}");
    assert!(stdout(&failed).is_empty());
    let bad = server.aion(&["flows", "run", "hello", "--input", r#"{"name": 3}"#]);
    expect(&bad, 2);
    assert!(stderr(&bad).contains("invalid input: at /name"), "{bad:?}");
    let not_json = server.aion(&["flows", "run", "hello", "--input", "{"]);
    expect(&not_json, 2);
    let missing = server.aion(&["flows", "run", "nope"]);
    expect(&missing, 1);
    assert!(stderr(&missing).contains("not found"), "{missing:?}");
    let started = server.aion(&[
        "flows",
        "run",
        "hello",
        "--input",
        r#"{"name": "Bo"}"#,
        "--no-wait",
    ]);
    expect(&started, 0);
    let id = stdout(&started);
    assert!(
        id.ends_with('\n') && !id.trim().is_empty() && !id.trim().contains(char::is_whitespace),
        "{id}"
    );

    // Remote runs list and show, in the local commands' formats.
    let list = server.aion(&["runs", "list", "--flow", "hello", "--status", "succeeded"]);
    expect(&list, 0);
    let table = stdout(&list);
    assert!(table.starts_with("RUN "), "{table}");
    let run_id = table
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let json = server.aion(&["runs", "list", "--format", "json", "--status", "failed"]);
    expect(&json, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(json["runs"].as_array().unwrap().len(), 1);
    assert_eq!(json["runs"][0]["flow_id"], "failing");

    let show = server.aion(&["runs", "show", &run_id]);
    expect(&show, 0);
    let text = stdout(&show);
    assert!(text.contains(&format!("run:      {run_id}")), "{text}");
    assert!(text.contains("flow:     hello v2"), "{text}");
    assert!(text.contains("STEP"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("greet") && l.contains("succeeded")),
        "{text}"
    );
    let json = server.aion(&["runs", "show", &run_id, "--format", "json"]);
    expect(&json, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(json["status"], "succeeded");
    assert_eq!(json["steps"].as_array().unwrap().len(), 2);
    let unknown = server.aion(&["runs", "show", "no-such-run"]);
    expect(&unknown, 1);

    // Tail a finished run: its events on stderr, its output on stdout.
    let tail = server.aion(&["runs", "tail", &run_id]);
    expect(&tail, 0);
    let events = stderr(&tail);
    assert!(
        events.contains(&format!("run {run_id} of flow hello v2")),
        "{events}"
    );
    assert!(events.contains("note: info: greeting"), "{events}");
    assert!(events.contains("greet: succeeded (attempt 1"), "{events}");
    assert!(stdout(&tail).contains("Hi, "), "{tail:?}");

    // The local commands are untouched: without a server they read the (empty) data dir.
    let local = server
        .command(&["runs", "list", "--format", "json", "--data-dir"])
        .arg(server.dir.path().join("local"))
        .output()
        .unwrap();
    expect(&local, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stdout(&local)).unwrap(),
        serde_json::json!({ "runs": [] })
    );
}

#[test]
fn login_saves_a_private_file_and_logout_deletes_it() {
    use std::os::unix::fs::PermissionsExt as _;
    let server = Server::start();
    let file = server.config_home().join("aion").join("cli.toml");

    // The key on stdin; nothing secret is printed.
    let mut child = server
        .command(&["login", "--server", &server.url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{}\n", server.key).as_bytes())
        .unwrap();
    let login = child.wait_with_output().unwrap();
    expect(&login, 0);
    let said = stderr(&login);
    assert!(
        said.contains(&format!(
            "signed in to {} as ada@example.com in workspace default (role owner)",
            server.url
        )),
        "{said}"
    );
    assert!(!said.contains(&server.key) && stdout(&login).is_empty());
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(
        saved.contains(&server.key) && saved.contains(&server.url),
        "{saved}"
    );

    // The saved login is used when neither flag nor environment names a server.
    let list = server.command(&["flows", "list"]).output().unwrap();
    expect(&list, 0);
    assert!(stdout(&list).starts_with("FLOW"));
    // ... but the saved key never goes to another server.
    let other = server
        .command(&["flows", "list", "--server", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    expect(&other, 2);
    assert!(stderr(&other).contains("no API key"), "{other:?}");

    let logout = server.command(&["logout"]).output().unwrap();
    expect(&logout, 0);
    assert!(!file.exists());
    let after = server.command(&["flows", "list"]).output().unwrap();
    expect(&after, 2);
    assert!(stderr(&after).contains("no server"), "{after:?}");

    // A refused key is not saved.
    let refused = server
        .command(&["login", "--server", &server.url, "--api-key", "aion_x_y"])
        .output()
        .unwrap();
    expect(&refused, 2);
    assert!(!file.exists());
}

#[test]
fn a_refused_key_and_an_unreachable_server_exit_2() {
    let server = Server::start();
    let refused = server
        .command(&[
            "flows",
            "list",
            "--server",
            &server.url,
            "--api-key",
            "aion_nope_nope",
        ])
        .output()
        .unwrap();
    expect(&refused, 2);
    assert!(
        stderr(&refused).contains("the API key was refused")
            && stderr(&refused).contains("aion login"),
        "{refused:?}"
    );

    // A port nothing listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    for args in [
        vec!["flows", "list"],
        vec!["runs", "list"],
        vec!["runs", "tail", "some-run"],
        vec!["flows", "run", "hello"],
    ] {
        let output = server
            .command(&args)
            .env("AION_SERVER", &url)
            .env("AION_API_KEY", &server.key)
            .output()
            .unwrap();
        expect(&output, 2);
        assert!(stderr(&output).contains("cannot be reached"), "{output:?}");
    }
}
