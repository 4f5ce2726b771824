//! The REST API end to end: a real server on a random port over a fresh SQLite data dir,
//! called over HTTP. Covers authentication, roles, workspace isolation, flows and their
//! versions, execution, runs, signals, the OpenAPI document and bad input; `credentials`
//! covers the vault and signed webhooks with the same harness.

mod credentials;

use std::time::Duration;

use aion_server::config::Config;
use aion_server::{Server, admin};
use aion_store::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Harness {
    server: Option<Server>,
    client: reqwest::Client,
    base: String,
    dir: tempfile::TempDir,
}

const HELLO: &str = "aion: 1\nid: hello\ninputs:\n  type: object\n  properties:\n    name: { type: string, default: world }\nnodes:\n  - id: greet\n    type: core.set\n    config:\n      value: \"Hello, {{ inputs.name }}!\"\noutput: \"{{ steps.greet.output }}\"\n";

const WAITER: &str = "aion: 1\nid: waiter\nnodes:\n  - id: approval\n    type: core.signal\n    config: { name: approve, timeout: 1h }\n  - id: done\n    type: core.set\n    config: { value: \"{{ steps.approval.output.ok }}\" }\nedges:\n  - { from: approval, to: done }\noutput: \"{{ steps.done.output }}\"\n";

async fn start_in(dir: tempfile::TempDir) -> Harness {
    start_with(dir, |_| {}).await
}

async fn start_with(dir: tempfile::TempDir, tune: impl FnOnce(&mut Config)) -> Harness {
    let mut config = Config::with_data_dir(dir.path().to_path_buf());
    config.listen = "127.0.0.1:0".parse().unwrap();
    tune(&mut config);
    let server = Server::start(config).await.unwrap();
    let base = format!("http://{}", server.addr());
    Harness {
        server: Some(server),
        client: reqwest::Client::new(),
        base,
        dir,
    }
}

async fn start() -> Harness {
    start_in(tempfile::tempdir().unwrap()).await
}

impl Harness {
    fn server(&self) -> &Server {
        self.server.as_ref().unwrap()
    }

    /// A user owning `workspace` (created if missing) and a key of theirs with `role`.
    async fn key(&self, email: &str, workspace: &str, role: Role) -> String {
        let state = self.server().state();
        let accounts = state.accounts();
        if accounts.user_by_email(email).await.unwrap().is_none() {
            admin::create_user(
                &**state.store(),
                &**accounts,
                email,
                "correct horse battery",
                workspace,
                1,
            )
            .await
            .unwrap();
        }
        let user = accounts.user_by_email(email).await.unwrap().unwrap();
        if accounts
            .member(workspace, &user.id)
            .await
            .unwrap()
            .is_none()
        {
            admin::ensure_workspace(&**state.store(), workspace, 1)
                .await
                .unwrap();
            accounts
                .set_member(workspace, &user.id, Role::Owner, 1)
                .await
                .unwrap();
        }
        admin::create_api_key(&**accounts, email, workspace, role, "test", 1)
            .await
            .unwrap()
            .1
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, value)
    }

    async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        let (status, _, body) = self.call(Method::GET, path, Some(key), None).await;
        (status, body)
    }

    async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        let (status, _, body) = self.call(Method::POST, path, Some(key), Some(body)).await;
        (status, body)
    }

    async fn create_flow(&self, key: &str, document: &str) -> Value {
        let (status, body) = self
            .post("/api/v1/flows", key, json!({ "document": document }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Polls a run until `done` holds for it (10 s at most).
    async fn wait_run(&self, key: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..200 {
            let (status, run) = self.get(&format!("/api/v1/runs/{id}"), key).await;
            assert_eq!(status, StatusCode::OK, "{run}");
            if done(&run) {
                return run;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("run {id} never reached the awaited state");
    }

    async fn stop(mut self) -> tempfile::TempDir {
        if let Some(server) = self.server.take() {
            server.stop(Duration::from_secs(5)).await.unwrap();
        }
        self.dir
    }
}

fn assert_problem(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], expected.as_u16(), "{body}");
    assert_eq!(body["type"], format!("urn:aion:problem:{code}"), "{body}");
}

#[tokio::test]
async fn health_readiness_and_unknown_routes() {
    let h = start().await;
    let (status, _, body) = h.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!("ok")));
    let (status, _, body) = h.call(Method::GET, "/readyz", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!("ready")));
    let (status, headers, body) = h.call(Method::GET, "/api/v1/nope", None, None).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "no_route");
    assert_eq!(headers["content-type"], "application/problem+json");
    h.stop().await;
}

#[tokio::test]
async fn the_openapi_document_covers_every_route() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Owner).await;
    let (status, _, document) = h
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = document["paths"].as_object().unwrap();
    for expected in [
        "/api/v1/flows",
        "/api/v1/flows/{id}",
        "/api/v1/flows/{id}/versions",
        "/api/v1/flows/{id}/versions/{version}",
        "/api/v1/flows/{id}/execute",
        "/api/v1/runs",
        "/api/v1/runs/{id}",
        "/api/v1/runs/{id}/signals/{name}",
        "/api/v1/runs/{id}/events",
        "/api/v1/events",
        "/api/v1/runs/{id}/retry",
        "/api/v1/runs/{id}/cancel",
        "/api/v1/setup",
        "/api/v1/auth/login",
        "/api/v1/me",
        "/api/v1/api-keys",
        "/api/v1/members/{email}",
        "/api/v1/workspaces",
        "/api/v1/vars/{name}",
        "/hooks/{workspace}/{path}",
    ] {
        assert!(paths.contains_key(expected), "{expected} is not documented");
    }
    // Every documented operation is served (it answers something other than "no route").
    for (path, item) in paths {
        if path == "/api/v1/events" {
            // A stream that stays open: the workspace stream test reads it.
            continue;
        }
        let concrete = path
            .replace("{id}", "x")
            .replace("{version}", "1")
            .replace("{workspace}", "default")
            .replace("{email}", "x@example.com")
            .replace("{path}", "p")
            .replace("{name}", "n");
        for method in item.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (_, _, body) = h
                .call(method.clone(), &concrete, Some(&key), Some(json!({})))
                .await;
            assert_ne!(
                body["code"], "no_route",
                "{method} {path} is documented but not served"
            );
        }
    }
    h.stop().await;
}

#[tokio::test]
async fn keys_authenticate_and_bad_or_revoked_keys_do_not() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Owner).await;
    let (status, body) = h.get("/api/v1/flows", &key).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "flows": [] })));

    let (status, headers, body) = h.call(Method::GET, "/api/v1/flows", None, None).await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert!(headers.contains_key("www-authenticate"));
    let wrong_secret = format!("{}0", &key[..key.len() - 1]).replace("_0", "_1");
    let almost = if wrong_secret == key {
        format!("{}f", &key[..key.len() - 1])
    } else {
        wrong_secret
    };
    for bad in [
        "aion_nothing",
        "Basic abc",
        &almost,
        "aion_000000000000_0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        let (status, _, body) = h.call(Method::GET, "/api/v1/flows", Some(bad), None).await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    // A raw header that is not `Bearer ...`.
    let response = h
        .client
        .get(format!("{}/api/v1/flows", h.base))
        .header("authorization", key.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // Revoked: refused at once.
    let id = key.split('_').nth(1).unwrap();
    h.server()
        .state()
        .accounts()
        .revoke_api_key("default", id, 2)
        .await
        .unwrap();
    let (status, body) = h.get("/api/v1/flows", &key).await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert!(!body.to_string().contains(id), "no key material in errors");
    h.stop().await;
}

#[tokio::test]
async fn roles_limit_what_a_key_may_do() {
    let h = start().await;
    let owner = h.key("ada@example.com", "default", Role::Owner).await;
    let viewer = h.key("ada@example.com", "default", Role::Viewer).await;
    let runner = h.key("ada@example.com", "default", Role::Runner).await;
    let doc = json!({ "document": HELLO });
    let (status, body) = h.post("/api/v1/flows", &viewer, doc.clone()).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = h.post("/api/v1/flows", &runner, doc.clone()).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    h.create_flow(&owner, HELLO).await;
    let (status, body) = h
        .post("/api/v1/flows/hello/execute", &viewer, json!({}))
        .await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = h
        .post("/api/v1/flows/hello/execute?wait=true", &runner, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["output"], "Hello, world!");
    let (status, _) = h.get("/api/v1/runs", &viewer).await;
    assert_eq!(status, StatusCode::OK);
    // A key may not have more power than its user.
    let state = h.server().state();
    let error = admin::create_api_key(
        &**state.accounts(),
        "nobody@example.com",
        "default",
        Role::Viewer,
        "k",
        1,
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("no user"), "{error}");
    h.stop().await;
}

#[tokio::test]
async fn flows_are_versioned_and_updates_need_the_latest_version() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    let (status, headers, created) = h
        .call(
            Method::POST,
            "/api/v1/flows",
            Some(&key),
            Some(json!({ "document": HELLO })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(headers["etag"], "\"1\"");
    assert_eq!(created["id"], "hello");
    assert_eq!(created["format"], "yaml");
    let (status, body) = h
        .post("/api/v1/flows", &key, json!({ "document": HELLO }))
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "already_exists");

    let changed = HELLO.replace("Hello,", "Hi,");
    let put = |if_match: Option<&'static str>, document: String| {
        let mut request = h
            .client
            .put(format!("{}/api/v1/flows/hello", h.base))
            .bearer_auth(&key)
            .json(&json!({ "document": document }));
        if let Some(value) = if_match {
            request = request.header("if-match", value);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let etag = response.headers().get("etag").cloned();
            (status, etag, response.json::<Value>().await.unwrap())
        }
    };
    let (status, _, body) = put(None, changed.clone()).await;
    assert_problem(
        status,
        &body,
        StatusCode::PRECONDITION_REQUIRED,
        "if_match_required",
    );
    let (status, _, body) = put(Some("banana"), changed.clone()).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_argument");
    let (status, etag, body) = put(Some("\"1\""), changed.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(etag.unwrap(), "\"2\"");
    assert_eq!(body["version"], 2);
    // Someone saved meanwhile: the stale save is refused and nothing is stored.
    let (status, _, body) = put(Some("\"1\""), HELLO.replace("Hello,", "Hey,")).await;
    assert_problem(
        status,
        &body,
        StatusCode::PRECONDITION_FAILED,
        "version_conflict",
    );
    let (status, _, body) = put(Some("W/\"2\""), HELLO.replace("id: hello", "id: other")).await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "id_mismatch",
    );

    let (status, latest) = h.get("/api/v1/flows/hello", &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            latest["version"].clone(),
            latest["document"].as_str().unwrap().contains("Hi,")
        ),
        (json!(2), true)
    );
    let (_, versions) = h.get("/api/v1/flows/hello/versions", &key).await;
    let numbers: Vec<u64> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, vec![2, 1]);
    let (status, v1) = h.get("/api/v1/flows/hello/versions/1", &key).await;
    assert_eq!(status, StatusCode::OK);
    assert!(v1["document"].as_str().unwrap().contains("Hello,"));
    for missing in [
        "/api/v1/flows/hello/versions/9",
        "/api/v1/flows/hello/versions/x",
        "/api/v1/flows/nope",
        "/api/v1/flows/nope/versions",
    ] {
        let (status, body) = h.get(missing, &key).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let (_, list) = h.get("/api/v1/flows", &key).await;
    assert_eq!(list["flows"][0]["id"], "hello");
    assert_eq!(list["flows"][0]["latest_version"], 2);
    assert_eq!(list["flows"][0]["name"], "hello", "no name: the id");
    assert_eq!(list["flows"][0]["last_run"], Value::Null);
    // The list carries the latest version's labels and the last run's status.
    let labelled = HELLO.replace(
        "id: hello\n",
        "id: hello\nname: Greeter\ndescription: Says hello\ntags: [demo, greet]\n",
    );
    let response = h
        .client
        .put(format!("{}/api/v1/flows/hello", h.base))
        .bearer_auth(&key)
        .header("if-match", "\"2\"")
        .json(&json!({ "document": labelled }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, run) = h
        .post("/api/v1/flows/hello/execute?wait=true", &key, json!({}))
        .await;
    let (_, list) = h.get("/api/v1/flows", &key).await;
    let hello = &list["flows"][0];
    assert_eq!(hello["name"], "Greeter", "{hello}");
    assert_eq!(hello["description"], "Says hello");
    assert_eq!(hello["tags"], json!(["demo", "greet"]));
    assert_eq!(hello["last_run"]["id"], run["id"], "{hello}");
    assert_eq!(hello["last_run"]["status"], "succeeded");
    h.stop().await;
}

#[tokio::test]
async fn compiler_errors_come_back_all_at_once_with_positions() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    let broken = "aion: 1\nid: broken\nnodes:\n  - id: a\n    type: http.reqest\n  - id: b\n    type: core.set\n    config: { value: \"{{ steps.nope.output }}\" }\n";
    let (status, body) = h
        .post("/api/v1/flows", &key, json!({ "document": broken }))
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_flow",
    );
    let errors = body["errors"].as_array().unwrap();
    assert!(errors.len() >= 2, "{body}");
    for error in errors {
        for field in ["code", "pointer", "line", "column", "message"] {
            assert!(!error[field].is_null(), "{field} missing in {error}");
        }
    }
    assert!(
        errors
            .iter()
            .any(|e| e["pointer"] == "/nodes/0/type" && e["line"] == 5)
    );
    // A document that is not YAML at all.
    let (status, body) = h
        .post("/api/v1/flows", &key, json!({ "document": "aion: [1\n" }))
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_flow",
    );
    let (_, list) = h.get("/api/v1/flows", &key).await;
    assert_eq!(list, json!({ "flows": [] }), "nothing is stored");
    h.stop().await;
}

#[tokio::test]
async fn bad_bodies_get_precise_problems() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    let send = |body: Vec<u8>, content_type: &'static str| {
        let request = h
            .client
            .post(format!("{}/api/v1/flows", h.base))
            .bearer_auth(&key)
            .header("content-type", content_type)
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = send(
        b"{\n  \"document\": \"x\",\n  oops\n}".to_vec(),
        "application/json",
    )
    .await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "malformed_json");
    assert_eq!(
        (body["line"].clone(), body["column"].clone()),
        (json!(3), json!(3))
    );
    let (status, body) = send(br#"{"document": 42}"#.to_vec(), "application/json").await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    assert_eq!(body["pointer"], "/document");
    let (status, body) = send(
        br#"{"document": "x", "extra": true}"#.to_vec(),
        "application/json",
    )
    .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    assert!(body["detail"].as_str().unwrap().contains("extra"), "{body}");
    let (status, body) = send(
        br#"{"document": "x", "format": "toml"}"#.to_vec(),
        "application/json",
    )
    .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    assert_eq!(body["pointer"], "/format");
    let (status, body) = send(br#"{"document": "x"}"#.to_vec(), "text/plain").await;
    assert_problem(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let huge = format!("{{\"document\": \"{}\"}}", "x".repeat(2 << 20));
    let (status, body) = send(huge.into_bytes(), "application/json").await;
    assert_problem(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
    );
    h.stop().await;
}

#[tokio::test]
async fn execute_waits_for_the_output_or_answers_at_once() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Runner).await;
    let editor = h.key("ada@example.com", "default", Role::Editor).await;
    h.create_flow(&editor, HELLO).await;
    let (status, run) = h
        .post(
            "/api/v1/flows/hello/execute?wait=true",
            &key,
            json!({ "name": "Ada" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(
        (run["status"].clone(), run["output"].clone()),
        (json!("succeeded"), json!("Hello, Ada!"))
    );
    assert!(run["latency_ms"].as_i64().unwrap() >= 0);
    assert_eq!(run["trigger"]["type"], "api");

    let (status, started) = h.post("/api/v1/flows/hello/execute", &key, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let id = started["id"].as_str().unwrap();
    let done = h.wait_run(&key, id, |r| r["status"] == "succeeded").await;
    assert_eq!(done["output"], "Hello, world!");
    assert_eq!(done["steps"][0]["key"], "greet");
    assert_eq!(done["steps"][0]["status"], "succeeded");
    assert_eq!(done["steps"][0]["attempts"], 1);

    let (status, body) = h
        .post("/api/v1/flows/hello/execute", &key, json!({ "name": 5 }))
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );
    assert_eq!(body["pointer"], "/name");
    let (status, body) = h
        .post("/api/v1/flows/hello/execute", &key, json!([1, 2]))
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_input",
    );
    let (status, body) = h.post("/api/v1/flows/nope/execute", &key, json!({})).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = h
        .post("/api/v1/flows/hello/execute?wait=maybe", &key, json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    h.stop().await;
}

#[tokio::test]
async fn runs_are_listed_with_filters_and_cursors() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    h.create_flow(&key, HELLO).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let (_, run) = h
            .post(
                "/api/v1/flows/hello/execute?wait=true",
                &key,
                json!({ "name": format!("n{i}") }),
            )
            .await;
        ids.push(run["id"].as_str().unwrap().to_owned());
    }
    let (status, page) = h.get("/api/v1/runs?limit=2", &key).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let first: Vec<&str> = page["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        first,
        vec![ids[2].as_str(), ids[1].as_str()],
        "newest first"
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, page) = h
        .get(&format!("/api/v1/runs?limit=2&cursor={cursor}"), &key)
        .await;
    assert_eq!(page["runs"].as_array().unwrap().len(), 1);
    assert_eq!(page["runs"][0]["id"], ids[0].as_str());
    assert!(page["next_cursor"].is_null());
    let (_, page) = h
        .get("/api/v1/runs?flow=hello&status=succeeded,failed", &key)
        .await;
    assert_eq!(page["runs"].as_array().unwrap().len(), 3);
    let (_, page) = h.get("/api/v1/runs?status=failed", &key).await;
    assert_eq!(page["runs"], json!([]));
    for (query, what) in [
        ("cursor=garbage", "cursor"),
        ("status=done", "status"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("colour=red", "colour"),
    ] {
        let (status, body) = h.get(&format!("/api/v1/runs?{query}"), &key).await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_argument");
        assert!(
            body["detail"].as_str().unwrap().contains(what),
            "{query}: {body}"
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn a_signal_wakes_a_waiting_run() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    h.create_flow(&key, WAITER).await;
    let (status, started) = h
        .post("/api/v1/flows/waiter/execute", &key, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = started["id"].as_str().unwrap().to_owned();
    h.wait_run(&key, &id, |r| r["status"] == "waiting").await;
    let (status, signal) = h
        .post(
            &format!("/api/v1/runs/{id}/signals/approve"),
            &key,
            json!({ "ok": "yes" }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{signal}");
    assert_eq!(signal["name"], "approve");
    let done = h.wait_run(&key, &id, |r| r["status"] == "succeeded").await;
    assert_eq!(done["output"], "yes");
    let (status, body) = h
        .post(
            &format!("/api/v1/runs/{id}/signals/approve"),
            &key,
            json!({}),
        )
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "run_ended");
    let (status, body) = h
        .post("/api/v1/runs/nope/signals/approve", &key, json!({}))
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    h.stop().await;
}

#[tokio::test]
async fn another_workspaces_objects_are_not_found() {
    let h = start().await;
    let ada = h.key("ada@example.com", "default", Role::Owner).await;
    let eve = h.key("eve@example.com", "eve-space", Role::Owner).await;
    h.create_flow(&ada, WAITER).await;
    let (_, run) = h
        .post("/api/v1/flows/waiter/execute", &ada, json!({}))
        .await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    h.wait_run(&ada, &run_id, |r| r["status"] == "waiting")
        .await;

    for path in [
        "/api/v1/flows/waiter".to_owned(),
        "/api/v1/flows/waiter/versions".to_owned(),
        "/api/v1/flows/waiter/versions/1".to_owned(),
        format!("/api/v1/runs/{run_id}"),
    ] {
        let (status, body) = h.get(&path, &eve).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let (status, body) = h
        .post("/api/v1/flows/waiter/execute", &eve, json!({}))
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = h
        .post(
            &format!("/api/v1/runs/{run_id}/signals/approve"),
            &eve,
            json!({ "ok": "eve" }),
        )
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    let response = h
        .client
        .put(format!("{}/api/v1/flows/waiter", h.base))
        .bearer_auth(&eve)
        .header("if-match", "\"1\"")
        .json(&json!({ "document": WAITER }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let (_, runs) = h.get("/api/v1/runs", &eve).await;
    assert_eq!(runs["runs"], json!([]));
    let (_, flows) = h.get("/api/v1/flows", &eve).await;
    assert_eq!(flows["flows"], json!([]));
    // Eve's signal did not reach Ada's run, which still waits.
    let (_, still) = h.get(&format!("/api/v1/runs/{run_id}"), &ada).await;
    assert_eq!(still["status"], "waiting");
    h.stop().await;
}

#[tokio::test]
async fn runs_left_waiting_resume_after_a_restart() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    h.create_flow(&key, WAITER).await;
    let (_, run) = h
        .post("/api/v1/flows/waiter/execute", &key, json!({}))
        .await;
    let id = run["id"].as_str().unwrap().to_owned();
    h.wait_run(&key, &id, |r| r["status"] == "waiting").await;
    let dir = h.stop().await;

    let h = start_in(dir).await;
    let (status, _) = h
        .post(
            &format!("/api/v1/runs/{id}/signals/approve"),
            &key,
            json!({ "ok": "after restart" }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let done = h.wait_run(&key, &id, |r| r["status"] == "succeeded").await;
    assert_eq!(done["output"], "after restart");
    h.stop().await;
}

const ECHO: &str = "aion: 1\nid: echo\ntriggers:\n  - { type: webhook, path: in/echo }\nnodes:\n  - id: shape\n    type: core.set\n    config:\n      value:\n        body: \"{{ trigger.body }}\"\n        query: \"{{ trigger.query }}\"\n        agent: \"{{ trigger.headers['x-agent'] }}\"\n        auth: \"{{ trigger.headers.authorization }}\"\noutput: \"{{ steps.shape.output }}\"\n";

const LATER: &str = "aion: 1\nid: later\ntriggers:\n  - { type: webhook, path: later, respond: immediately }\nnodes:\n  - id: approval\n    type: core.signal\n    config: { name: go, timeout: 1h }\n";

const BOOM: &str = "aion: 1\nid: boom\ntriggers:\n  - { type: webhook, path: boom }\nnodes:\n  - id: explode\n    type: core.fail\n    config: { message: \"no luck\" }\n";

impl Harness {
    async fn hook(
        &self,
        path: &str,
        content_type: &str,
        body: &'static str,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let response = self
            .client
            .post(format!("{}/hooks/{path}", self.base))
            .header("content-type", content_type)
            .header("x-agent", "tests")
            .header("authorization", "Bearer s3cret-of-the-caller")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

#[tokio::test]
async fn webhooks_start_their_flow_with_the_request_as_trigger() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    h.create_flow(&key, ECHO).await;
    let (status, headers, output) = h
        .hook(
            "default/in/echo?x=1&x=2&y=z",
            "application/json",
            r#"{"amount": 3}"#,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{output}");
    assert_eq!(
        output,
        json!({
            "body": { "amount": 3 },
            "query": { "x": ["1", "2"], "y": "z" },
            "agent": "tests",
            "auth": "[redacted]"
        })
    );
    let run_id = headers["x-aion-run-id"].to_str().unwrap().to_owned();
    let (_, run) = h.get(&format!("/api/v1/runs/{run_id}"), &key).await;
    assert_eq!(run["trigger"]["type"], "webhook");
    assert!(
        !run.to_string().contains("s3cret"),
        "secrets stay out of history"
    );

    let (status, _, output) = h
        .hook(
            "default/in/echo",
            "application/x-www-form-urlencoded",
            "a=1&b=two",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(output["body"], json!({ "a": "1", "b": "two" }));
    let (_, _, output) = h.hook("default/in/echo", "text/plain", "hello").await;
    assert_eq!(output["body"], "hello");

    // Bad calls: precise, and nothing starts.
    let (status, _, body) = h.hook("default/in/echo", "application/json", "{oops").await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "malformed_json");
    let (status, _, body) = h.hook("default/in/echo", "image/png", "x").await;
    assert_problem(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    for missing in ["default/nope", "nowhere/in/echo", "default/in"] {
        let (status, _, body) = h.hook(missing, "application/json", "{}").await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let huge: &'static str = Box::leak(format!("\"{}\"", "x".repeat(2 << 20)).into_boxed_str());
    let (status, _, body) = h.hook("default/in/echo", "application/json", huge).await;
    assert_problem(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
    );
    let (_, runs) = h.get("/api/v1/runs", &key).await;
    assert_eq!(
        runs["runs"].as_array().unwrap().len(),
        3,
        "only the good calls ran"
    );

    // A failed run answers 500 with what failed.
    h.create_flow(&key, BOOM).await;
    let (status, headers, body) = h.hook("default/boom", "application/json", "{}").await;
    assert_problem(
        status,
        &body,
        StatusCode::INTERNAL_SERVER_ERROR,
        "run_failed",
    );
    assert!(
        body["detail"].as_str().unwrap().contains("no luck"),
        "{body}"
    );
    assert!(headers.contains_key("x-aion-run-id"));
    h.stop().await;
}

#[tokio::test]
async fn webhook_paths_follow_the_latest_version_and_belong_to_one_flow() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    h.create_flow(&key, ECHO).await;
    let (status, body) = h
        .post(
            "/api/v1/flows",
            &key,
            json!({ "document": ECHO.replace("id: echo", "id: copycat") }),
        )
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "already_exists");
    assert!(
        body["detail"].as_str().unwrap().contains("in/echo"),
        "{body}"
    );
    let moved = ECHO.replace("path: in/echo", "path: in/moved");
    let response = h
        .client
        .put(format!("{}/api/v1/flows/echo", h.base))
        .bearer_auth(&key)
        .header("if-match", "\"1\"")
        .json(&json!({ "document": moved }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, _, _) = h.hook("default/in/echo", "application/json", "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = h.hook("default/in/moved", "application/json", "{}").await;
    assert_eq!(status, StatusCode::OK);
    // A trigger that wants signed calls refuses them all while its secret is missing.
    let signed = ECHO.replace("id: echo", "id: signed").replace(
        "{ type: webhook, path: in/echo }",
        "{ type: webhook, path: signed, secret: hook-secret }",
    );
    h.create_flow(&key, &signed).await;
    let (status, _, body) = h.hook("default/signed", "application/json", "{}").await;
    assert_problem(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "webhook_secret_missing",
    );
    h.stop().await;
}

#[tokio::test]
async fn webhooks_beyond_capacity_are_refused_with_retry_after() {
    let h = start_with(tempfile::tempdir().unwrap(), |c| c.max_inflight_runs = 1).await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    h.create_flow(&key, LATER).await;
    let (status, headers, first) = h.hook("default/later", "application/json", "{}").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let id = headers["x-aion-run-id"].to_str().unwrap().to_owned();
    let (status, headers, body) = h.hook("default/later", "application/json", "{}").await;
    assert_problem(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "over_capacity",
    );
    assert_eq!(headers["retry-after"], "1");
    let (_, runs) = h.get("/api/v1/runs", &key).await;
    assert_eq!(
        runs["runs"].as_array().unwrap().len(),
        1,
        "the refused call stored nothing"
    );
    // When the run in flight ends, the slot is free again.
    let (status, _) = h
        .post(&format!("/api/v1/runs/{id}/signals/go"), &key, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    h.wait_run(&key, &id, |r| r["status"] == "succeeded").await;
    let mut accepted = false;
    for _ in 0..100 {
        let (status, _, _) = h.hook("default/later", "application/json", "{}").await;
        if status == StatusCode::ACCEPTED {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(accepted, "the slot was never given back");
    h.stop().await;
}

/// The Studio's helpers: the node catalog with config schemas, and the compiler without
/// saving (diagnostics with positions, 200 even for a broken document).
#[tokio::test]
async fn the_catalog_and_the_compiler_answer_without_saving() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Viewer).await;
    let (status, _, _) = h.call(Method::GET, "/api/v1/nodes", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, catalog) = h.get("/api/v1/nodes", &key).await;
    assert_eq!(status, StatusCode::OK);
    let set = catalog["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["type"] == "core.set")
        .expect("core.set is in the catalog");
    assert_eq!(set["category"], "data");
    assert_eq!(set["default_ports"], json!(["out"]));
    assert_eq!(set["config_schema"]["type"], "object", "{set}");
    let (status, verdict) = h
        .post("/api/v1/compile", &key, json!({ "document": HELLO }))
        .await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["valid"], true);
    assert!(
        verdict["plan_hash"]
            .as_str()
            .unwrap()
            .starts_with("sha256:"),
        "{verdict}"
    );
    let broken = HELLO.replace("type: core.set", "type: core.sett");
    let (status, verdict) = h
        .post("/api/v1/compile", &key, json!({ "document": broken }))
        .await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["valid"], false);
    assert_eq!(verdict["plan_hash"], Value::Null);
    let first = &verdict["diagnostics"][0];
    assert_eq!(first["pointer"], "/nodes/0/type", "{verdict}");
    assert_eq!(first["line"], 9, "{verdict}");
    assert!(
        first["hint"].as_str().unwrap().contains("core.set"),
        "{verdict}"
    );
    let (status, _) = h.get("/api/v1/flows", &key).await;
    assert_eq!(status, StatusCode::OK);
    let (_, flows) = h.get("/api/v1/flows", &key).await;
    assert_eq!(flows["flows"], json!([]), "compiling saves nothing");
    let (status, body) = h
        .post("/api/v1/compile", &key, json!({ "doc": HELLO }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    h.stop().await;
}

/// The Studio is served at `/` and on its client-side routes; API and asset paths that do
/// not exist stay 404s.
#[tokio::test]
async fn the_studio_is_served_at_the_root_and_its_routes() {
    let h = start().await;
    for path in ["/", "/flows/hello", "/runs"] {
        let response = h
            .client
            .get(format!("{}{path}", h.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(kind.starts_with("text/html"), "{path}: {kind}");
        let text = response.text().await.unwrap();
        assert!(
            text.contains("<html") || text.contains("<!doctype"),
            "{path}: {text}"
        );
    }
    let (status, _, body) = h.call(Method::GET, "/assets/nope-123.js", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _, body) = h.call(Method::GET, "/api/v1/nope", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "no_route", "{body}");
    let (status, _, _) = h.call(Method::POST, "/flows/hello", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "only GET serves the Studio");
    h.stop().await;
}

const SLOW: &str = "aion: 1\nid: slow\ntriggers:\n  - { type: webhook, path: slow, respond: immediately }\nnodes:\n  - id: pause\n    type: core.wait\n    config: { duration: 200ms }\n  - id: done\n    type: core.set\n    config: { value: \"{{ trigger.body.n }}\" }\nedges:\n  - { from: pause, to: done }\noutput: \"{{ steps.done.output }}\"\n";

/// A flood of concurrent webhook calls, far beyond capacity: every call is either accepted
/// (202 with a run id) or refused (503 with `Retry-After`), never anything else; each accepted
/// run completes with its own body, and the refused calls stored nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_flood_beyond_capacity_loses_no_accepted_run() {
    let h = start_with(tempfile::tempdir().unwrap(), |c| c.max_inflight_runs = 8).await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    h.create_flow(&key, SLOW).await;
    let calls = (0..200).map(|n| {
        let client = h.client.clone();
        let url = format!("{}/hooks/default/slow", h.base);
        tokio::spawn(async move {
            let response = client
                .post(url)
                .header("content-type", "application/json")
                .body(json!({ "n": n }).to_string())
                .send()
                .await
                .unwrap();
            let status = response.status();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let run_id = response
                .headers()
                .get("x-aion-run-id")
                .map(|v| v.to_str().unwrap().to_owned());
            (n, status, retry_after, run_id)
        })
    });
    let mut accepted = Vec::new();
    let mut refused = 0;
    for call in calls.collect::<Vec<_>>() {
        let (n, status, retry_after, run_id) = call.await.unwrap();
        match status {
            StatusCode::ACCEPTED => {
                accepted.push((n, run_id.expect("an accepted call names its run")))
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(retry_after.as_deref(), Some("1"));
                refused += 1;
            }
            other => panic!("call {n} answered {other}"),
        }
    }
    assert!(
        refused > 0,
        "200 calls against 8 slots must be refused in part"
    );
    assert!(
        accepted.len() >= 8,
        "at least a full set of slots is accepted"
    );
    for (n, id) in &accepted {
        let run = h.wait_run(&key, id, |r| r["status"] == "succeeded").await;
        assert_eq!(run["output"], *n, "run {id} kept its own input");
    }
    let mut stored = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/runs?limit=100&cursor={c}"),
            None => "/api/v1/runs?limit=100".to_owned(),
        };
        let (_, page) = h.get(&path, &key).await;
        stored += page["runs"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        stored,
        accepted.len(),
        "exactly the accepted calls made runs"
    );
    h.stop().await;
}

const LOGGED: &str = "aion: 1\nid: logged\nnodes:\n  - id: note\n    type: core.log\n    config: { message: \"hello from the run\", level: info }\n  - id: last\n    type: core.set\n    config: { value: 42 }\nedges:\n  - { from: note, to: last }\noutput: \"{{ steps.last.output }}\"\n";

/// One Server-Sent Event: (event, data, id).
type Sse = (String, Value, Option<String>);

fn parse_sse(text: &str) -> Vec<Sse> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = String::new();
            let mut id = None;
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                } else if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.to_owned());
                }
            }
            Some((name?, serde_json::from_str(&data).unwrap(), id))
        })
        .collect()
}

impl Harness {
    /// Reads a run's event stream to its end (10 s at most).
    async fn events(
        &self,
        key: &str,
        run_id: &str,
        last_event_id: Option<&str>,
    ) -> (StatusCode, Vec<Sse>) {
        let mut request = self
            .client
            .get(format!("{}/api/v1/runs/{run_id}/events", self.base))
            .bearer_auth(key);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = tokio::time::timeout(Duration::from_secs(10), response.text())
            .await
            .expect("the stream ends when the run has ended")
            .unwrap();
        (status, parse_sse(&text))
    }
}

#[tokio::test]
async fn run_events_stream_from_the_journal_and_resume() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    h.create_flow(&key, LOGGED).await;
    let (_, run) = h
        .post("/api/v1/flows/logged/execute?wait=true", &key, json!({}))
        .await;
    let id = run["id"].as_str().unwrap().to_owned();
    let (status, events) = h.events(&key, &id, None).await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "run_started",
            "log",
            "step_finished",
            "step_finished",
            "run_finished"
        ],
        "{events:?}"
    );
    assert_eq!(events[1].1["message"], "hello from the run");
    assert_eq!(events[1].1["step"], "note");
    assert_eq!(events[3].1["step"], "last");
    assert_eq!(events[3].1["output"], 42);
    assert_eq!(events[4].1["status"], "succeeded");
    assert_eq!(events[4].1["output"], 42);
    // Resume after the first step: only what follows.
    let first_step = events[2]
        .2
        .clone()
        .expect("a record's last event has an id");
    let (_, rest) = h.events(&key, &id, Some(&first_step)).await;
    let names: Vec<&str> = rest.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names, ["step_finished", "run_finished"], "{rest:?}");
    // Bad resumption points and other workspaces.
    let response = h
        .client
        .get(format!("{}/api/v1/runs/{id}/events", h.base))
        .bearer_auth(&key)
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let eve = h.key("eve@example.com", "eve-space", Role::Owner).await;
    let (status, _) = h.get(&format!("/api/v1/runs/{id}/events"), &eve).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    h.stop().await;
}

#[tokio::test]
async fn run_events_arrive_live_while_the_run_goes_on() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    h.create_flow(&key, WAITER).await;
    let (_, run) = h
        .post("/api/v1/flows/waiter/execute", &key, json!({}))
        .await;
    let id = run["id"].as_str().unwrap().to_owned();
    h.wait_run(&key, &id, |r| r["status"] == "waiting").await;
    let stream = {
        let client = h.client.clone();
        let url = format!("{}/api/v1/runs/{id}/events", h.base);
        let key = key.clone();
        tokio::spawn(async move {
            let response = client.get(url).bearer_auth(key).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            parse_sse(&response.text().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !stream.is_finished(),
        "the stream stays open while the run waits"
    );
    let (status, _) = h
        .post(
            &format!("/api/v1/runs/{id}/signals/approve"),
            &key,
            json!({ "ok": "live" }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let events = tokio::time::timeout(Duration::from_secs(10), stream)
        .await
        .expect("the stream closes when the run ends")
        .unwrap();
    let names: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(names.first(), Some(&"run_started"), "{names:?}");
    assert!(names.contains(&"signal_received"), "{names:?}");
    assert_eq!(names.last(), Some(&"run_finished"), "{names:?}");
    assert_eq!(events.last().unwrap().1["output"], "live");
    h.stop().await;
}

/// A browser session: the cookie and the CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

impl Harness {
    async fn browser_call(
        &self,
        method: Method,
        path: &str,
        browser: &Browser,
        csrf: bool,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &browser.cookie);
        if csrf {
            request = request.header("x-csrf-token", &browser.csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Signs in through `path` (`setup` or `auth/login`).
    async fn sign_in(
        &self,
        path: &str,
        email: &str,
        password: &str,
    ) -> (StatusCode, Option<Browser>, Value) {
        let (status, headers, body) = self
            .call(
                Method::POST,
                &format!("/api/v1/{path}"),
                None,
                Some(json!({ "email": email, "password": password })),
            )
            .await;
        let browser = headers.get("set-cookie").map(|cookie| {
            let cookie = cookie.to_str().unwrap();
            for attribute in ["HttpOnly", "Secure", "SameSite=Strict"] {
                assert!(cookie.contains(attribute), "{cookie}");
            }
            Browser {
                cookie: cookie.split(';').next().unwrap().to_owned(),
                csrf: body["csrf_token"].as_str().unwrap().to_owned(),
            }
        });
        (status, browser, body)
    }
}

#[tokio::test]
async fn setup_then_sessions_with_csrf_protection() {
    let h = start().await;
    let (status, _, open) = h.call(Method::GET, "/api/v1/setup", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(open, json!({ "needed": true }));
    let (status, browser, body) = h
        .sign_in("setup", "Owner@Example.com", "correct horse")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let browser = browser.unwrap();
    assert_eq!(body["me"]["email"], "owner@example.com");
    assert_eq!(body["me"]["role"], "owner");
    let (status, _, body) = h
        .call(
            Method::POST,
            "/api/v1/setup",
            None,
            Some(json!({ "email": "eve@example.com", "password": "correct horse" })),
        )
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "already_set_up");
    let (_, _, open) = h.call(Method::GET, "/api/v1/setup", None, None).await;
    assert_eq!(open, json!({ "needed": false }));

    let (status, me) = h
        .browser_call(Method::GET, "/api/v1/me", &browser, false, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["workspace"], "default");
    // After a page reload the Studio gets its CSRF token back from `me`; API keys get none.
    assert_eq!(me["csrf_token"], browser.csrf.as_str(), "{me}");
    let key = h.key("owner@example.com", "default", Role::Owner).await;
    let (_, me_by_key) = h.get("/api/v1/me", &key).await;
    assert!(me_by_key.get("csrf_token").is_none(), "{me_by_key}");
    // Changes need the CSRF token; reads do not.
    let doc = json!({ "document": HELLO });
    let (status, body) = h
        .browser_call(
            Method::POST,
            "/api/v1/flows",
            &browser,
            false,
            Some(doc.clone()),
        )
        .await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = h
        .browser_call(Method::POST, "/api/v1/flows", &browser, true, Some(doc))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let wrong = Browser {
        cookie: browser.cookie.clone(),
        csrf: "0".repeat(64),
    };
    let (status, _) = h
        .browser_call(
            Method::POST,
            "/api/v1/flows/hello/execute",
            &wrong,
            true,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Signing out ends the session everywhere it was used.
    let (status, _) = h
        .browser_call(Method::POST, "/api/v1/auth/logout", &browser, true, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = h
        .browser_call(Method::GET, "/api/v1/me", &browser, false, None)
        .await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    let forged = Browser {
        cookie: "aion_session=forged".to_owned(),
        csrf: String::new(),
    };
    let (status, _) = h
        .browser_call(Method::GET, "/api/v1/me", &forged, false, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    h.stop().await;
}

#[tokio::test]
async fn failed_sign_ins_lock_the_account_and_addresses_are_rate_limited() {
    let h = start().await;
    h.sign_in("setup", "ada@example.com", "correct horse").await;
    let (status, browser, body) = h
        .sign_in("auth/login", "ada@example.com", "correct horse")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(browser.is_some());
    let (status, _, unknown) = h
        .sign_in("auth/login", "nobody@example.com", "correct horse")
        .await;
    let (_, _, wrong) = h
        .sign_in("auth/login", "ada@example.com", "wrong horse")
        .await;
    assert_problem(
        status,
        &unknown,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    assert_eq!(
        unknown["detail"], wrong["detail"],
        "unknown emails are not told apart"
    );
    for _ in 0..4 {
        let (status, _, _) = h
            .sign_in("auth/login", "ada@example.com", "wrong horse")
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Five failures in a row: locked, even with the right password.
    let (status, browser, body) = h
        .sign_in("auth/login", "ada@example.com", "correct horse")
        .await;
    assert_problem(status, &body, StatusCode::LOCKED, "account_locked");
    assert!(browser.is_none());
    // Attempts 9 and 10 are counted; the 11th in this minute is refused before any check.
    h.sign_in("auth/login", "ada@example.com", "correct horse")
        .await;
    h.sign_in("auth/login", "ada@example.com", "correct horse")
        .await;
    let (status, headers, body) = h
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "email": "ada@example.com", "password": "correct horse" })),
        )
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    );
    assert!(headers.contains_key("retry-after"));
    h.stop().await;
}

#[tokio::test]
async fn keys_members_workspaces_and_variables_through_the_api() {
    let h = start().await;
    let owner = h.key("ada@example.com", "default", Role::Owner).await;
    h.key("bob@example.com", "bobs", Role::Owner).await;
    // Keys: created once with their token, at most the caller's role, revocable.
    let (status, created) = h
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({ "name": "ci", "role": "runner" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let runner = created["token"].as_str().unwrap().to_owned();
    let runner_id = created["key"]["id"].as_str().unwrap().to_owned();
    let (status, body) = h
        .post(
            "/api/v1/api-keys",
            &runner,
            json!({ "name": "up", "role": "owner" }),
        )
        .await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = h
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({ "name": "x", "role": "admin" }),
        )
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    );
    assert_eq!(body["pointer"], "/role");
    let (status, list) = h.get("/api/v1/api-keys", &owner).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !list.to_string().contains(&runner),
        "tokens are never listed"
    );
    let (status, _) = h.get("/api/v1/api-keys", &runner).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, revoked) = h
        .call(
            Method::DELETE,
            &format!("/api/v1/api-keys/{runner_id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert!(revoked["revoked_ms"].is_i64());
    let (status, _) = h.get("/api/v1/flows", &runner).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Members: add an existing user, never leave a workspace without an owner.
    let (status, member) = h
        .call(
            Method::PUT,
            "/api/v1/members/bob@example.com",
            Some(&owner),
            Some(json!({ "role": "viewer" })),
        )
        .await
        .into_parts();
    assert_eq!(status, StatusCode::OK, "{member}");
    let (status, body) = h
        .call(
            Method::PUT,
            "/api/v1/members/ada@example.com",
            Some(&owner),
            Some(json!({ "role": "editor" })),
        )
        .await
        .into_parts();
    assert_problem(status, &body, StatusCode::CONFLICT, "last_owner");
    let (status, body) = h
        .call(
            Method::PUT,
            "/api/v1/members/nobody@example.com",
            Some(&owner),
            Some(json!({ "role": "viewer" })),
        )
        .await
        .into_parts();
    assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (_, members) = h.get("/api/v1/members", &owner).await;
    let emails: Vec<&str> = members["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["ada@example.com", "bob@example.com"]);
    let (status, _, _) = h
        .call(
            Method::DELETE,
            "/api/v1/members/bob@example.com",
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Workspaces: a new one is owned by its creator; listing shows the caller's.
    let (status, body) = h
        .post("/api/v1/workspaces", &owner, json!({ "id": "team-2" }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = h
        .post("/api/v1/workspaces", &owner, json!({ "id": "Team 2!" }))
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_argument",
    );
    let (_, spaces) = h.get("/api/v1/workspaces", &owner).await;
    let ids: Vec<&str> = spaces["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["default", "team-2"]);

    // Variables: editors set them, names are identifiers, other workspaces do not see them.
    let (status, var) = h
        .call(
            Method::PUT,
            "/api/v1/vars/api_base",
            Some(&owner),
            Some(json!({ "value": { "url": "https://x" } })),
        )
        .await
        .into_parts();
    assert_eq!(status, StatusCode::OK, "{var}");
    let (status, body) = h
        .call(
            Method::PUT,
            "/api/v1/vars/2bad",
            Some(&owner),
            Some(json!({ "value": 1 })),
        )
        .await
        .into_parts();
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_argument");
    let (_, vars) = h.get("/api/v1/vars", &owner).await;
    assert_eq!(vars["vars"][0]["value"]["url"], "https://x");
    let bob = h.key("bob@example.com", "bobs", Role::Owner).await;
    let (_, theirs) = h.get("/api/v1/vars", &bob).await;
    assert_eq!(theirs["vars"], json!([]));
    let (status, _, _) = h
        .call(Method::DELETE, "/api/v1/vars/api_base", Some(&bob), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = h
        .call(Method::DELETE, "/api/v1/vars/api_base", Some(&owner), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    h.stop().await;
}

trait IntoParts {
    fn into_parts(self) -> (StatusCode, Value);
}

impl IntoParts for (StatusCode, reqwest::header::HeaderMap, Value) {
    fn into_parts(self) -> (StatusCode, Value) {
        (self.0, self.2)
    }
}

#[tokio::test]
async fn metrics_count_runs_steps_and_commits() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    h.create_flow(&key, HELLO).await;
    for _ in 0..3 {
        let (status, _) = h
            .post("/api/v1/flows/hello/execute?wait=true", &key, json!({}))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let response = h
        .client
        .get(format!("{}/metrics", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for expected in [
        "aion_runs_started_total 3",
        "aion_runs_finished_total{status=\"succeeded\"} 3",
        "aion_steps_finished_total{status=\"succeeded\"} 3",
        "aion_step_duration_seconds_bucket{status=\"succeeded\",le=\"0.001\"}",
        "aion_store_commit_seconds_count",
        "aion_runs_in_flight 0",
        "aion_queue_depth 0",
    ] {
        assert!(text.contains(expected), "`{expected}` missing in:\n{text}");
    }
    h.stop().await;
}

#[tokio::test]
async fn runs_are_retried_from_a_step_as_new_linked_runs() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    h.create_flow(&key, LOGGED).await;
    h.create_flow(&key, WAITER).await;
    let (_, first) = h
        .post("/api/v1/flows/logged/execute?wait=true", &key, json!({}))
        .await;
    let id = first["id"].as_str().unwrap().to_owned();
    // Some time passes before the retry: the retried step's timing must not include it.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (status, retry) = h
        .post(
            &format!("/api/v1/runs/{id}/retry"),
            &key,
            json!({ "from": "last" }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{retry}");
    assert_eq!(retry["retry_of"], id.as_str());
    let new_id = retry["id"].as_str().unwrap().to_owned();
    let done = h
        .wait_run(&key, &new_id, |r| r["status"] == "succeeded")
        .await;
    assert_eq!(done["output"], 42);
    let note = done["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "note")
        .unwrap();
    assert_eq!(
        note["status"], "succeeded",
        "the upstream step's result is reused"
    );
    let last = done["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "last")
        .unwrap();
    assert!(
        last["duration_ms"].as_i64().unwrap() < 300,
        "the re-run step took its own time, not the gap since the first run: {last}"
    );
    assert!(
        done["started_ms"].as_i64().unwrap() >= first["finished_ms"].as_i64().unwrap() + 300,
        "the retry started when it was asked for: {done}"
    );

    let (status, body) = h
        .post(
            &format!("/api/v1/runs/{id}/retry"),
            &key,
            json!({ "from": "nope" }),
        )
        .await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_step",
    );
    assert_eq!(body["pointer"], "/from");
    let (_, waiting) = h
        .post("/api/v1/flows/waiter/execute", &key, json!({}))
        .await;
    let waiting_id = waiting["id"].as_str().unwrap().to_owned();
    h.wait_run(&key, &waiting_id, |r| r["status"] == "waiting")
        .await;
    let (status, body) = h
        .post(
            &format!("/api/v1/runs/{waiting_id}/retry"),
            &key,
            json!({ "from": "done" }),
        )
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "run_not_ended");
    let eve = h.key("eve@example.com", "eve-space", Role::Owner).await;
    let (status, body) = h
        .post(
            &format!("/api/v1/runs/{id}/retry"),
            &eve,
            json!({ "from": "last" }),
        )
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    h.stop().await;
}

const SLEEPER: &str = "aion: 1\nid: sleeper\nnodes:\n  - id: nap\n    type: core.wait\n    config: { duration: 1h }\n  - id: after\n    type: core.set\n    config: { value: woke }\nedges:\n  - { from: nap, to: after }\n";

#[tokio::test]
async fn runs_are_cancelled_at_once_when_this_server_drives_them() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    h.create_flow(&key, WAITER).await;
    h.create_flow(&key, SLEEPER).await;
    for flow in ["waiter", "sleeper"] {
        let (_, run) = h
            .post(&format!("/api/v1/flows/{flow}/execute"), &key, json!({}))
            .await;
        let id = run["id"].as_str().unwrap().to_owned();
        h.wait_run(&key, &id, |r| r["status"] == "waiting").await;
        let (status, asked) = h
            .post(
                &format!("/api/v1/runs/{id}/cancel"),
                &key,
                json!({ "reason": "changed my mind" }),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{asked}");
        let began = std::time::Instant::now();
        let done = h.wait_run(&key, &id, |r| r["status"] == "cancelled").await;
        assert!(
            began.elapsed() < Duration::from_secs(2),
            "{flow}: cancelled at once"
        );
        let steps = done["steps"].as_array().unwrap();
        assert!(
            steps
                .iter()
                .all(|s| s["key"] != "after" && s["key"] != "done"),
            "{flow}: nothing after the cancel started: {steps:?}"
        );
        let (_, events) = h.events(&key, &id, None).await;
        let names: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
        assert!(names.contains(&"cancel_requested"), "{names:?}");
        let cancel = events.iter().find(|e| e.0 == "cancel_requested").unwrap();
        assert_eq!(cancel.1["reason"], "changed my mind");
        assert_eq!(events.last().unwrap().1["status"], "cancelled");
        let (status, body) = h
            .post(&format!("/api/v1/runs/{id}/cancel"), &key, json!({}))
            .await;
        assert_problem(status, &body, StatusCode::CONFLICT, "run_ended");
    }
    let (status, body) = h.post("/api/v1/runs/nope/cancel", &key, json!({})).await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    h.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_starts_one_run() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    h.create_flow(&key, HELLO).await;
    let execute = |idempotency: &'static str, input: Value| {
        let request = h
            .client
            .post(format!("{}/api/v1/flows/hello/execute?wait=true", h.base))
            .bearer_auth(&key)
            .header("idempotency-key", idempotency)
            .json(&input);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let replayed = response.headers().get("idempotent-replayed").is_some();
            (status, replayed, response.json::<Value>().await.unwrap())
        }
    };
    let (status, replayed, first) = execute("order-42", json!({ "name": "Ada" })).await;
    assert_eq!((status, replayed), (StatusCode::OK, false), "{first}");
    let (status, replayed, second) = execute("order-42", json!({ "name": "Ada" })).await;
    assert_eq!((status, replayed), (StatusCode::OK, true), "{second}");
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["output"], "Hello, Ada!");
    let (status, _, body) = execute("order-42", json!({ "name": "Bob" })).await;
    assert_problem(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency_key_reused",
    );
    let (status, _, body) = execute("bad key with spaces", json!({})).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_argument");
    let (_, runs) = h.get("/api/v1/runs", &key).await;
    assert_eq!(
        runs["runs"].as_array().unwrap().len(),
        1,
        "one run for one key"
    );
    h.stop().await;
}

#[tokio::test]
async fn flows_are_deleted_once_their_runs_have_ended() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    h.create_flow(
        &key,
        WAITER
            .replace(
                "nodes:",
                "triggers:\n  - { type: webhook, path: approve }\nnodes:",
            )
            .as_str(),
    )
    .await;
    let (_, run) = h
        .post("/api/v1/flows/waiter/execute", &key, json!({}))
        .await;
    let id = run["id"].as_str().unwrap().to_owned();
    h.wait_run(&key, &id, |r| r["status"] == "waiting").await;
    let (status, _, body) = h
        .call(Method::DELETE, "/api/v1/flows/waiter", Some(&key), None)
        .await;
    assert_problem(status, &body, StatusCode::CONFLICT, "flow_has_active_runs");
    h.post(&format!("/api/v1/runs/{id}/cancel"), &key, json!({}))
        .await;
    h.wait_run(&key, &id, |r| r["status"] == "cancelled").await;
    let (status, _, _) = h
        .call(Method::DELETE, "/api/v1/flows/waiter", Some(&key), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = h.get("/api/v1/flows/waiter", &key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = h.hook("default/approve", "application/json", "{}").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "its webhook is gone");
    let (status, run) = h.get(&format!("/api/v1/runs/{id}"), &key).await;
    assert_eq!(
        (status, run["status"].clone()),
        (StatusCode::OK, json!("cancelled")),
        "history stays"
    );
    let (status, _, body) = h
        .call(Method::DELETE, "/api/v1/flows/waiter", Some(&key), None)
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    h.stop().await;
}

#[tokio::test]
async fn runs_read_the_workspace_variables_of_their_start() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    let greeter = "aion: 1\nid: greeter\nnodes:\n  - id: greet\n    type: core.set\n    config: { value: \"{{ vars.greeting }}, {{ vars.team.name }}!\" }\noutput: \"{{ steps.greet.output }}\"\n";
    h.create_flow(&key, greeter).await;
    for (name, value) in [
        ("greeting", json!("Bonjour")),
        ("team", json!({ "name": "Aion" })),
    ] {
        let (status, _, body) = h
            .call(
                Method::PUT,
                &format!("/api/v1/vars/{name}"),
                Some(&key),
                Some(json!({ "value": value })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, run) = h
        .post("/api/v1/flows/greeter/execute?wait=true", &key, json!({}))
        .await;
    assert_eq!(run["output"], "Bonjour, Aion!");
    // Another workspace's variables are not this one's.
    let eve = h.key("eve@example.com", "eve-space", Role::Owner).await;
    let (status, _) = h
        .post("/api/v1/flows", &eve, json!({ "document": greeter }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, theirs) = h
        .post("/api/v1/flows/greeter/execute?wait=true", &eve, json!({}))
        .await;
    assert_eq!(theirs["status"], "failed", "{theirs}");
    h.stop().await;
}

#[tokio::test]
async fn runs_carry_the_trace_id_of_the_request_or_a_new_one() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    h.create_flow(&key, HELLO).await;
    let response = h
        .client
        .post(format!("{}/api/v1/flows/hello/execute?wait=true", h.base))
        .bearer_auth(&key)
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let run: Value = response.json().await.unwrap();
    assert_eq!(run["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    let (_, run) = h
        .post("/api/v1/flows/hello/execute?wait=true", &key, json!({}))
        .await;
    let made = run["trace_id"].as_str().unwrap();
    assert!(
        made.len() == 32 && made.bytes().all(|b| b.is_ascii_hexdigit()),
        "{made}"
    );
    h.stop().await;
}

/// With an OTLP endpoint, a run exports a span for itself and one per step, in the trace of
/// the request that started it; an HTTP step sends that trace on with its own span id. A
/// scripted server stands in for the collector and checks the OTLP/HTTP JSON requests.
#[tokio::test]
async fn runs_export_spans_and_send_their_trace_to_http_calls() {
    use aion_http::test_server::{TestServer, response};
    let target =
        TestServer::start(|_| response(200, &[("content-type", "application/json")], b"{}"))
            .await
            .unwrap();
    let collector = TestServer::start(|_| response(200, &[], b"{}"))
        .await
        .unwrap();
    let endpoint = collector.url("");
    let h = start_with(tempfile::tempdir().unwrap(), |config| {
        config.allow_loopback = true;
        config.otlp_endpoint = Some(endpoint);
    })
    .await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    let flow = format!(
        "aion: 1\nid: traced\nnodes:\n  - id: call\n    type: http.request\n    config: {{ method: GET, url: \"{}\" }}\n  - id: done\n    type: core.set\n    config: {{ value: \"{{{{ steps.call.output.status }}}}\" }}\nedges:\n  - {{ from: call, to: done }}\noutput: \"{{{{ steps.done.output }}}}\"\n",
        target.url("/hello")
    );
    h.create_flow(&key, &flow).await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let run: Value = h
        .client
        .post(format!("{}/api/v1/flows/traced/execute?wait=true", h.base))
        .bearer_auth(&key)
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["output"], 200, "{run}");
    assert_eq!(
        run["usage"],
        json!({ "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0 }),
        "nothing metered ran"
    );
    let run_id = run["id"].as_str().unwrap().to_owned();
    // The HTTP step sent the run's trace with its own span id.
    let sent = target.requests();
    let traceparent = sent[0].header("traceparent").unwrap().to_owned();
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!((parts[0], parts[1], parts[3]), ("00", trace, "01"));
    let step_span = parts[2].to_owned();
    // The collector receives the run's span and one per step, all in that trace.
    let mut spans = Vec::new();
    for _ in 0..100 {
        spans = collector
            .requests()
            .iter()
            .flat_map(|r| {
                assert_eq!(r.method, "POST");
                assert_eq!(r.target, "/v1/traces");
                assert_eq!(r.header("content-type"), Some("application/json"));
                let body: Value = serde_json::from_slice(&r.body).unwrap();
                body["resourceSpans"][0]["scopeSpans"][0]["spans"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect::<Vec<Value>>();
        if spans.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let by_name = |name: &str| {
        spans
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no span `{name}` in {spans:#?}"))
            .clone()
    };
    let root = by_name("run traced");
    let call = by_name("step call");
    let done = by_name("step done");
    for span in [&root, &call, &done] {
        assert_eq!(span["traceId"], trace);
        assert_eq!(span["status"]["code"], 1, "{span}");
    }
    assert_eq!(
        call["spanId"],
        step_span.as_str(),
        "the span the HTTP call named"
    );
    assert_eq!(call["parentSpanId"], root["spanId"]);
    assert_eq!(done["parentSpanId"], root["spanId"]);
    assert!(root.get("parentSpanId").is_none());
    let run_attr = root["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key"] == "aion.run_id")
        .unwrap()
        .clone();
    assert_eq!(run_attr["value"]["stringValue"], run_id.as_str());
    let start: u128 = root["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
    let end: u128 = root["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
    assert!(start <= end && start > 1_600_000_000_000_000_000, "{root}");
    h.stop().await;
}

#[tokio::test]
async fn the_workspace_stream_reports_new_runs_and_status_changes() {
    let h = start().await;
    let key = h.key("ada@example.com", "default", Role::Editor).await;
    h.create_flow(&key, WAITER).await;
    let mut stream = h
        .client
        .get(format!("{}/api/v1/events", h.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let (_, run) = h
        .post("/api/v1/flows/waiter/execute", &key, json!({}))
        .await;
    let id = run["id"].as_str().unwrap().to_owned();
    h.wait_run(&key, &id, |r| r["status"] == "waiting").await;
    h.post(
        &format!("/api/v1/runs/{id}/signals/approve"),
        &key,
        json!({ "ok": 1 }),
    )
    .await;
    let mut text = String::new();
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let chunk = stream
                .chunk()
                .await
                .unwrap()
                .expect("the stream stays open");
            text.push_str(&String::from_utf8_lossy(&chunk));
            let events = parse_sse(&text);
            if events.iter().any(|e| {
                e.0 == "run_status" && e.1["run_id"] == id.as_str() && e.1["status"] == "succeeded"
            }) {
                return events;
            }
        }
    })
    .await
    .expect("the run's end reaches the workspace stream");
    assert!(
        seen.iter()
            .any(|e| e.0 == "run_created" && e.1["run_id"] == id.as_str()),
        "{seen:?}"
    );
    h.stop().await;
}

#[tokio::test]
async fn an_expired_session_is_refused_with_a_clear_message() {
    let h = start().await;
    h.sign_in("setup", "ada@example.com", "correct horse").await;
    let accounts = h.server().state().accounts();
    let user = accounts
        .user_by_email("ada@example.com")
        .await
        .unwrap()
        .unwrap();
    let secret = "0123456789abcdef".repeat(4);
    accounts
        .create_session(aion_store::Session {
            id_hash: aion_server::auth::digest(&secret),
            user_id: user.id,
            csrf_hash: aion_server::auth::digest("csrf"),
            created_ms: 1,
            expires_ms: 2,
        })
        .await
        .unwrap();
    let expired = Browser {
        cookie: format!("aion_session={secret}"),
        csrf: "csrf".to_owned(),
    };
    let (status, body) = h
        .browser_call(Method::GET, "/api/v1/me", &expired, false, None)
        .await;
    assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    let (status, _) = h
        .browser_call(
            Method::POST,
            "/api/v1/flows",
            &expired,
            true,
            Some(json!({ "document": HELLO })),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    h.stop().await;
}
