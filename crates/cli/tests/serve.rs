//! `aion serve` and `aion admin` as processes: the bootstrap contract (a user and an API key
//! created while the server runs, the key accepted as a bearer token), graceful shutdown on
//! SIGTERM, and configuration errors that name their source.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn admin(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aion"))
        .arg("admin")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("the binary runs")
}

/// Starts `aion serve` on a free port; returns the process and its address once it answers.
fn serve(data: &Path, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aion"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(extra)
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
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

/// A minimal HTTP/1.1 GET; returns the status and the body.
fn get(addr: &str, path: &str, key: Option<&str>) -> (u16, String) {
    request(addr, "GET", path, key, None)
}

/// A minimal HTTP/1.1 request with an optional JSON body; returns the status and the body.
fn request(
    addr: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = key.map_or_else(String::new, |k| format!("Authorization: Bearer {k}\r\n"));
    let body = body.map_or_else(String::new, |b| {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        )
    });
    let body = if body.is_empty() {
        "\r\n".to_owned()
    } else {
        body
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n{body}"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_owned());
    (status, body)
}

fn stop(mut child: Child) -> Output {
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the server did not stop on SIGTERM"
        );
        std::thread::yield_now();
    }
    child.wait_with_output().unwrap()
}

#[test]
fn admin_commands_work_while_the_server_runs_and_the_key_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (server, addr) = serve(&data, &[]);
    assert_eq!(get(&addr, "/healthz", None), (200, "ok".to_owned()));

    let created = admin(
        &data,
        &[
            "create-user",
            "--email",
            "Ada@Example.com",
            "--password",
            "correct horse",
        ],
    );
    assert!(created.status.success(), "{created:?}");
    assert!(
        created.stdout.is_empty(),
        "create-user prints nothing on stdout"
    );
    let key = admin(&data, &["create-api-key", "--email", "ada@example.com"]);
    assert!(key.status.success(), "{key:?}");
    let token = String::from_utf8(key.stdout).unwrap();
    let token = token.strip_suffix('\n').expect("one line");
    assert!(
        token.starts_with("aion_") && !token.contains(char::is_whitespace),
        "{token}"
    );

    let (status, body) = get(&addr, "/api/v1/flows", Some(token));
    assert_eq!((status, body.as_str()), (200, r#"{"flows":[]}"#));
    let (status, _) = get(&addr, "/api/v1/flows", None);
    assert_eq!(status, 401);

    // Refusals are exit 1 with the reason; a bad role is a usage error.
    let again = admin(
        &data,
        &[
            "create-user",
            "--email",
            "ada@example.com",
            "--password",
            "correct horse",
        ],
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let weak = admin(
        &data,
        &[
            "create-user",
            "--email",
            "bob@example.com",
            "--password",
            "short",
        ],
    );
    assert_eq!(weak.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 8"));
    let role = admin(
        &data,
        &[
            "create-api-key",
            "--email",
            "ada@example.com",
            "--role",
            "admin",
        ],
    );
    assert_eq!(role.status.code(), Some(2));
    let nobody = admin(&data, &["create-api-key", "--email", "bob@example.com"]);
    assert_eq!(nobody.status.code(), Some(1));
    assert!(nobody.stdout.is_empty());

    // The load generator drives a webhook flow.
    let flow = "aion: 1\nid: bench\ntriggers:\n  - { type: webhook, path: bench }\nnodes:\n  - { id: s, type: core.set, config: { value: \"{{ trigger.body.n + 1 }}\" } }\noutput: \"{{ steps.s.output }}\"\n";
    let document = serde_json::json!({ "document": flow }).to_string();
    let (status, body) = request(&addr, "POST", "/api/v1/flows", Some(token), Some(&document));
    assert_eq!(status, 201, "{body}");
    let bench = Command::new(env!("CARGO_BIN_EXE_aion"))
        .args(["bench", "http", "--url"])
        .arg(format!("http://{addr}/hooks/default/bench"))
        .args([
            "--body",
            "{\"n\": 1}",
            "--clients",
            "2",
            "--seconds",
            "0.5",
            "--warmup",
            "0",
        ])
        .args(["--pid", &server.id().to_string(), "--json"])
        .output()
        .unwrap();
    assert!(bench.status.success(), "{bench:?}");
    let report: serde_json::Value = serde_json::from_slice(&bench.stdout).unwrap();
    assert!(report["requests"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["failures"], 0, "{report}");
    assert!(report["peak_rss_mib"].as_f64().unwrap() > 1.0, "{report}");
    let (_, runs) = get(&addr, "/api/v1/runs?limit=1", Some(token));
    assert!(runs.contains("\"output\":2"), "{runs}");

    let stopped = stop(server);
    assert!(stopped.status.success(), "{stopped:?}");
}

#[test]
fn configuration_errors_name_their_source_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("aion.toml");
    std::fs::write(&config, "data_dir = \"x\"\nlisten = 8080\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_aion"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("aion.toml:2:10"), "{stderr}");

    let output = Command::new(env!("CARGO_BIN_EXE_aion"))
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("AION_LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("environment variable AION_LISTEN"),
        "{stderr}"
    );

    // A port that is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_aion"))
        .args(["serve", "--listen", &addr, "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(&format!("cannot listen on {addr}")),
        "{output:?}"
    );
}

/// The test database's URL (PostgreSQL on this machine, trust auth).
#[expect(
    clippy::disallowed_methods,
    reason = "tests read their database URL from the environment"
)]
fn test_database() -> String {
    std::env::var("AION_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned())
}

/// Drops a test schema with `psql` (what the server created in it goes too).
fn drop_schema(schema: &str) {
    let _ = Command::new("psql")
        .arg(test_database())
        .args([
            "-q",
            "-c",
            &format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"),
        ])
        .output();
}

/// `aion serve --database postgres://…` keeps everything in PostgreSQL: a second server on
/// another data directory sees what the first stored. Bad and unreachable databases stop the
/// server with a message that names the setting and never repeats the URL's password.
#[test]
fn the_server_keeps_its_store_in_postgres_when_told() {
    let schema = format!("aion_test_serve_{}", std::process::id());
    drop_schema(&schema);
    let start = |data: &Path| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_aion"))
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database",
                &test_database(),
            ])
            .arg("--data-dir")
            .arg(data)
            .env_remove("AION_CONFIG")
            .env("AION_DATABASE_SCHEMA", &schema)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the server starts");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines.next().expect("the server's log ended").unwrap();
            if let Some(rest) = line.split("serving on http://").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        (child, addr)
    };
    let first = tempfile::tempdir().unwrap();
    let (server, addr) = start(first.path());
    assert_eq!(get(&addr, "/readyz", None), (200, "ready".to_owned()));
    assert_eq!(
        get(&addr, "/api/v1/setup", None),
        (200, r#"{"needed":true}"#.to_owned())
    );
    let (status, body) = request(
        &addr,
        "POST",
        "/api/v1/setup",
        None,
        Some(r#"{"email":"ada@example.com","password":"correct horse"}"#),
    );
    assert_eq!(status, 201, "{body}");
    assert!(stop(server).status.success());
    // Another data directory, the same database: the user is there.
    let second = tempfile::tempdir().unwrap();
    let (server, addr) = start(second.path());
    assert_eq!(
        get(&addr, "/api/v1/setup", None),
        (200, r#"{"needed":false}"#.to_owned())
    );
    assert!(stop(server).status.success());
    drop_schema(&schema);

    let refused = |url: &str| {
        Command::new(env!("CARGO_BIN_EXE_aion"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database", url])
            .arg("--data-dir")
            .arg(first.path())
            .env_remove("AION_CONFIG")
            .env_remove("AION_DATABASE_SCHEMA")
            .output()
            .unwrap()
    };
    let output = refused("mysql://ada:hunter2@127.0.0.1/test");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--database") && stderr.contains("not a PostgreSQL URL"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    let output = refused("postgres://ada:hunter2@127.0.0.1:1/test");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("PostgreSQL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
