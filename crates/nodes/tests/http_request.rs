//! `http.request` against a scripted server on loopback: the exact request it sends (method,
//! path, query, headers, body, idempotency key) and how answers and failures become outputs
//! and step errors.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aion_http::test_server::{RecordedRequest, Reply, TestServer, response};
use aion_http::{HttpClient, Policy};
use aion_node_sdk::{Context, Execution, LogLevel, LogSink, NodeError, Output};
use aion_nodes::{NodeServices, catalog_with};
use serde_json::json;

#[derive(Default)]
struct Lines(Mutex<Vec<String>>);

impl LogSink for Lines {
    fn log(&self, _level: LogLevel, message: &str, _fields: Option<&serde_json::Value>) {
        self.0.lock().unwrap().push(message.to_owned());
    }
}

fn services(policy: Policy) -> NodeServices {
    NodeServices {
        http: Arc::new(HttpClient::new(policy).unwrap()),
    }
}

async fn run_with(services: NodeServices, config: serde_json::Value) -> Result<Output, NodeError> {
    let catalog = catalog_with(services);
    let manifest = catalog.get("http.request").unwrap();
    let Execution::Action(action) = &manifest.execution else {
        panic!("http.request is not an action: {:?}", manifest.execution);
    };
    let sink = Lines::default();
    let ctx = Context {
        run_id: "run-1",
        step_id: "call",
        attempt: 1,
        idempotency_key: "run-1/call/0",
        config: &config,
        credential: None,
        log: &sink,
        traceparent: None,
    };
    action.execute(ctx).await
}

async fn run(config: serde_json::Value) -> Result<Output, NodeError> {
    run_with(services(Policy::allowing_loopback()), config).await
}

fn echo_json(_: &RecordedRequest) -> Reply {
    response(
        201,
        &[
            ("content-type", "application/json; charset=utf-8"),
            ("x-multi", "a"),
            ("x-multi", "b"),
        ],
        br#"{"id":7,"ok":true}"#,
    )
}

#[tokio::test]
async fn post_json_sends_the_exact_request_and_parses_the_answer() {
    let server = TestServer::start(echo_json).await.unwrap();
    let output = run(json!({
        "method": "POST",
        "url": server.url("/v1/items?keep=1"),
        "headers": {"X-Custom": "yes", "Authorization": "Bearer t"},
        "query": {"a": 1, "b": true, "c": "x y", "d": null, "e": [1, "two"]},
        "body": {"name": "widget", "n": [1, 2]},
    }))
    .await
    .unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.target,
        "/v1/items?keep=1&a=1&b=true&c=x+y&d=&e=1&e=two"
    );
    assert_eq!(request.header("x-custom"), Some("yes"));
    assert_eq!(request.header("authorization"), Some("Bearer t"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("idempotency-key"), Some("run-1/call/0"));
    assert_eq!(
        request.header("user-agent"),
        Some(concat!("aion/", env!("CARGO_PKG_VERSION")))
    );
    let sent: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(sent, json!({"name": "widget", "n": [1, 2]}));

    assert_eq!(output.port, None);
    assert_eq!(output.value["status"], 201);
    assert_eq!(output.value["body"], json!({"id": 7, "ok": true}));
    assert_eq!(output.value["headers"]["x-multi"], "a, b");
    assert_eq!(
        output.value["headers"]["content-type"],
        "application/json; charset=utf-8"
    );
}

#[tokio::test]
async fn idempotency_key_only_on_mutating_methods_and_not_over_the_config() {
    let server = TestServer::start(|_| response(204, &[], b""))
        .await
        .unwrap();
    for method in ["PUT", "PATCH", "DELETE"] {
        run(json!({"method": method, "url": server.url("/x")}))
            .await
            .unwrap();
    }
    for method in ["GET", "HEAD", "OPTIONS"] {
        run(json!({"method": method, "url": server.url("/x")}))
            .await
            .unwrap();
    }
    run(json!({
        "method": "POST",
        "url": server.url("/x"),
        "headers": {"Idempotency-Key": "mine"},
    }))
    .await
    .unwrap();
    let requests = server.requests();
    let seen: Vec<(String, Vec<String>)> = requests
        .iter()
        .map(|r| {
            let keys = r
                .headers
                .iter()
                .filter(|(name, _)| name == "idempotency-key")
                .map(|(_, value)| value.clone())
                .collect();
            (r.method.clone(), keys)
        })
        .collect();
    let key = || vec!["run-1/call/0".to_owned()];
    assert_eq!(
        seen,
        vec![
            ("PUT".to_owned(), key()),
            ("PATCH".to_owned(), key()),
            ("DELETE".to_owned(), key()),
            ("GET".to_owned(), vec![]),
            ("HEAD".to_owned(), vec![]),
            ("OPTIONS".to_owned(), vec![]),
            ("POST".to_owned(), vec!["mine".to_owned()]),
        ]
    );
}

#[tokio::test]
async fn text_and_form_bodies() {
    let server = TestServer::start(|_| response(200, &[("content-type", "text/plain")], b"fine"))
        .await
        .unwrap();
    let output = run(json!({
        "method": "PUT",
        "url": server.url("/t"),
        "body": "plain words",
        "body_type": "text",
    }))
    .await
    .unwrap();
    assert_eq!(output.value["body"], "fine");
    run(json!({
        "method": "POST",
        "url": server.url("/f"),
        "body": {"a": 1, "b": "two words", "c": true},
        "body_type": "form",
    }))
    .await
    .unwrap();
    run(json!({
        "method": "POST",
        "url": server.url("/own"),
        "headers": {"content-type": "application/vnd.api+json"},
        "body": {"x": 1},
    }))
    .await
    .unwrap();
    let requests = server.requests();
    assert_eq!(requests[0].method, "PUT");
    assert_eq!(
        requests[0].header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(requests[0].body, b"plain words");
    assert_eq!(requests[1].target, "/f");
    assert_eq!(
        requests[1].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(requests[1].body, b"a=1&b=two+words&c=true");
    assert_eq!(
        requests[2].header("content-type"),
        Some("application/vnd.api+json")
    );
    assert_eq!(requests[2].body, br#"{"x":1}"#);
}

#[tokio::test]
async fn bodies_are_json_only_when_announced_and_valid() {
    let server = TestServer::start(|request| match request.target.as_str() {
        "/bad-json" => response(200, &[("content-type", "application/json")], b"{oops"),
        "/problem" => response(
            200,
            &[("content-type", "application/problem+json")],
            br#"{"title":"t"}"#,
        ),
        _ => response(
            200,
            &[("content-type", "text/html")],
            br#"{"not":"parsed"}"#,
        ),
    })
    .await
    .unwrap();
    let get = |path: &str| json!({"url": server.url(path)});
    assert_eq!(run(get("/bad-json")).await.unwrap().value["body"], "{oops");
    assert_eq!(
        run(get("/problem")).await.unwrap().value["body"],
        json!({"title": "t"})
    );
    assert_eq!(
        run(get("/html")).await.unwrap().value["body"],
        r#"{"not":"parsed"}"#
    );
}

#[tokio::test]
async fn non_2xx_answers_are_step_errors() {
    let server = TestServer::start(|request| {
        let status = request
            .target
            .trim_start_matches('/')
            .parse()
            .unwrap_or(500);
        response(
            status,
            &[("content-type", "text/plain")],
            b"something went wrong",
        )
    })
    .await
    .unwrap();
    for (status, retryable) in [
        (400, false),
        (404, false),
        (408, false),
        (429, true),
        (500, true),
        (503, true),
    ] {
        let error = run(json!({"url": server.url(&format!("/{status}"))}))
            .await
            .unwrap_err();
        assert_eq!(error.kind, "http_status", "{status}");
        assert_eq!(error.retryable, retryable, "{status}");
        let details = error.details.unwrap();
        assert_eq!(details["status"], status);
        assert_eq!(details["body"], "something went wrong");
    }
}

#[tokio::test]
async fn transport_errors_keep_the_client_kind() {
    let server = TestServer::start(|request| match request.target.as_str() {
        "/slow" => Reply::Hang,
        _ => response(200, &[], b"ok"),
    })
    .await
    .unwrap();

    // The default policy refuses loopback, before connecting.
    let error = run_with(services(Policy::default()), json!({"url": server.url("/")}))
        .await
        .unwrap_err();
    assert_eq!(error.kind, "blocked_address");
    assert!(!error.retryable);
    assert_eq!(error.details.unwrap()["reason"], "loopback");
    assert_eq!(server.connections(), 0);

    // The plain `catalog()` uses the default policy too.
    let catalog = aion_nodes::catalog();
    assert_eq!(
        catalog.get("http.request").unwrap().execution_kind(),
        "action"
    );

    let started = tokio::time::Instant::now();
    let error = run(json!({"url": server.url("/slow"), "timeout": "200ms"}))
        .await
        .unwrap_err();
    assert_eq!(error.kind, "timeout");
    assert!(error.retryable);
    assert!(started.elapsed() < Duration::from_secs(5));

    let error = run(json!({"url": "ftp://example.com/"})).await.unwrap_err();
    assert_eq!(error.kind, "invalid_url");
    let error = run(json!({"url": "http://169.254.169.254/latest/meta-data/"}))
        .await
        .unwrap_err();
    assert_eq!(error.kind, "blocked_address");
}

#[tokio::test]
async fn configs_that_do_not_fit_are_permanent_errors() {
    let server = TestServer::start(|_| response(200, &[], b""))
        .await
        .unwrap();
    for config in [
        json!({"url": server.url("/"), "body": 5, "body_type": "text"}),
        json!({"url": server.url("/"), "body": [1], "body_type": "form"}),
        json!({"url": server.url("/"), "headers": {"bad name": "x"}}),
        json!({"url": server.url("/"), "method": "TRACE"}),
        json!({"url": server.url("/"), "unknown": 1}),
    ] {
        let error = run(config.clone()).await.unwrap_err();
        assert_eq!(error.kind, "invalid_config", "{config}");
        assert!(!error.retryable);
    }
    assert_eq!(server.connections(), 0);
}
