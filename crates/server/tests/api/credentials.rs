//! The credential vault and signed webhooks end to end: a real server on a random port over a
//! fresh data dir. Values never come back from the API nor reach the SQLite file in clear,
//! workspaces are isolated, sealed values are bound to their row, the master key survives a
//! restart and a malformed one refuses the start; Standard Webhooks signatures are checked.

use aion_server::Server;
use aion_server::config::Config;
use aion_store::Role;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{KeyInit as _, Mac as _};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Harness, assert_problem, start, start_with};

const PLAINTEXT: &str = "pl41ntext-n3ver-st0red";

impl Harness {
    /// A keyed call whose answer must never hold the secret value.
    async fn vault_call(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(!text.contains(PLAINTEXT), "a value came back: {text}");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    async fn put(&self, key: &str, name: &str, kind: &str, value: Value) -> (StatusCode, Value) {
        self.vault_call(
            Method::PUT,
            &format!("/api/v1/credentials/{name}"),
            key,
            Some(json!({ "kind": kind, "value": value })),
        )
        .await
    }

    /// A webhook call with these extra headers.
    async fn signed_hook(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: &str,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .post(format!("{}/hooks/{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn runs(&self, key: &str) -> Vec<Value> {
        let (status, body) = self
            .vault_call(Method::GET, "/api/v1/runs", key, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["runs"].as_array().unwrap().clone()
    }
}

/// Every file of the data dir except the key, concatenated.
fn data_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && path.file_name().unwrap() != "master.key" {
            out.extend(std::fs::read(&path).unwrap());
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn credentials_are_written_listed_and_deleted_but_never_shown() {
    let h = start().await;
    let editor = h.key("ada@example.com", "default", Role::Editor).await;
    let viewer = h.key("ada@example.com", "default", Role::Viewer).await;

    let (status, body) = h
        .put(
            &editor,
            "db",
            "basic_auth",
            json!({ "username": "ada", "password": PLAINTEXT }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "db");
    assert_eq!(body["kind"], "basic_auth");
    assert!(body.get("value").is_none(), "{body}");
    let (status, body) = h
        .put(
            &editor,
            "db",
            "basic_auth",
            json!({ "username": "ada", "password": PLAINTEXT }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "replacing: {body}");
    let (status, _) = h
        .put(&editor, "hook", "webhook_secret", json!(PLAINTEXT))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, list) = h
        .vault_call(Method::GET, "/api/v1/credentials", &viewer, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let names: Vec<&str> = list["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["db", "hook"]);
    for c in list["credentials"].as_array().unwrap() {
        let mut keys: Vec<&String> = c.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["created_ms", "kind", "name", "updated_ms"]);
    }

    // Roles, bad names and kinds.
    let (status, body) = h.put(&viewer, "x", "api_key", json!("v")).await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = h
        .vault_call(Method::DELETE, "/api/v1/credentials/db", &viewer, None)
        .await;
    assert_problem(status, &body, StatusCode::FORBIDDEN, "forbidden");
    let (status, body) = h.put(&editor, "Bad.Name", "api_key", json!("v")).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_argument");
    let (status, body) = h.put(&editor, "ok", "", json!("v")).await;
    assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_argument");
    // No route reads a value.
    let (status, _) = h
        .vault_call(Method::GET, "/api/v1/credentials/db", &editor, None)
        .await;
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::METHOD_NOT_ALLOWED,
        "{status}"
    );

    // Another workspace sees nothing and deletes nothing.
    let other = h.key("bob@example.com", "other", Role::Owner).await;
    let (_, list) = h
        .vault_call(Method::GET, "/api/v1/credentials", &other, None)
        .await;
    assert_eq!(list["credentials"], json!([]));
    let (status, body) = h
        .vault_call(Method::DELETE, "/api/v1/credentials/db", &other, None)
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    let state = h.server().state();
    assert!(
        state
            .accounts()
            .credential("other", "db")
            .await
            .unwrap()
            .is_none()
    );

    let (status, _) = h
        .vault_call(Method::DELETE, "/api/v1/credentials/hook", &editor, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = h
        .vault_call(Method::DELETE, "/api/v1/credentials/hook", &editor, None)
        .await;
    assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");

    // The OpenAPI document has the routes.
    let (_, document) = h
        .vault_call(Method::GET, "/api/v1/openapi.json", &editor, None)
        .await;
    assert!(document["paths"]["/api/v1/credentials"]["get"].is_object());
    assert!(document["paths"]["/api/v1/credentials/{name}"]["put"].is_object());
    assert!(document["paths"]["/api/v1/credentials/{name}"]["delete"].is_object());

    let dir = h.stop().await;
    let bytes = data_bytes(dir.path());
    assert!(!bytes.is_empty());
    assert!(
        !contains(&bytes, PLAINTEXT),
        "the plaintext reached the data dir"
    );
    assert!(
        !contains(&bytes, "\"password\""),
        "the value's JSON reached the data dir"
    );
}

#[tokio::test]
async fn sealed_values_are_bound_to_their_row_and_survive_a_restart() {
    let h = start().await;
    let editor = h.key("ada@example.com", "default", Role::Editor).await;
    h.key("bob@example.com", "other", Role::Owner).await;
    let (status, _) = h
        .put(&editor, "token", "bearer_token", json!(PLAINTEXT))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let state = h.server().state();
    let stored = state
        .accounts()
        .credential("default", "token")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        state
            .vault()
            .unseal("default", "token", &stored.ciphertext)
            .unwrap(),
        json!(PLAINTEXT)
    );
    // Copied to another name or workspace, the ciphertext does not open.
    for (workspace, name) in [("default", "copy"), ("other", "token")] {
        state
            .accounts()
            .put_credential(
                workspace,
                name,
                "bearer_token",
                stored.ciphertext.clone(),
                5,
            )
            .await
            .unwrap();
        let copied = state
            .accounts()
            .credential(workspace, name)
            .await
            .unwrap()
            .unwrap();
        assert!(
            state
                .vault()
                .unseal(workspace, name, &copied.ciphertext)
                .is_err()
        );
    }

    // Restarted on the same data dir, the persisted key opens it.
    let dir = h.stop().await;
    let key_file = std::fs::read_to_string(dir.path().join("master.key")).unwrap();
    assert_eq!(key_file.trim_end().len(), 64);
    let h = start_with(dir, |_| {}).await;
    let state = h.server().state();
    let stored = state
        .accounts()
        .credential("default", "token")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        state
            .vault()
            .unseal("default", "token", &stored.ciphertext)
            .unwrap(),
        json!(PLAINTEXT)
    );
    let dir = h.stop().await;

    // A configured key file is used instead: another key, so the old value does not open.
    let keys = tempfile::tempdir().unwrap();
    let configured = keys.path().join("vault.key");
    std::fs::write(&configured, format!("{}\n", "ab".repeat(32))).unwrap();
    let h = start_with(dir, |c| c.master_key_file = Some(configured.clone())).await;
    let state = h.server().state();
    let stored = state
        .accounts()
        .credential("default", "token")
        .await
        .unwrap()
        .unwrap();
    assert!(
        state
            .vault()
            .unseal("default", "token", &stored.ciphertext)
            .is_err()
    );
    h.stop().await;
}

#[tokio::test]
async fn a_malformed_or_missing_key_file_refuses_the_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("master.key"), "not-a-key\n").unwrap();
    let mut config = Config::with_data_dir(dir.path().to_path_buf());
    config.listen = "127.0.0.1:0".parse().unwrap();
    let error = Server::start(config.clone()).await.unwrap_err().to_string();
    assert!(error.contains("master.key"), "{error}");
    assert!(error.contains("malformed"), "{error}");
    // The file was left as it was.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("master.key")).unwrap(),
        "not-a-key\n"
    );
    config.master_key_file = Some(dir.path().join("absent.key"));
    let error = Server::start(config).await.unwrap_err().to_string();
    assert!(error.contains("absent.key"), "{error}");
}

const SIGNED: &str = "aion: 1\nid: signed\ntriggers:\n  - { type: webhook, path: in/signed, secret: hook-secret }\nnodes:\n  - id: shape\n    type: core.set\n    config:\n      value: \"{{ trigger.body }}\"\noutput: \"{{ steps.shape.output }}\"\n";

/// Standard Webhooks headers for `body`, signed with `key` at `timestamp` (Unix seconds).
fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> Vec<(&'static str, String)> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let signature = BASE64.encode(mac.finalize().into_bytes());
    vec![
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", format!("v1,{signature}")),
    ]
}

#[tokio::test]
async fn signed_webhooks_run_only_when_the_signature_holds() {
    let h = start().await;
    let editor = h.key("ada@example.com", "default", Role::Editor).await;
    let (status, body) = h
        .vault_call(
            Method::POST,
            "/api/v1/flows",
            &editor,
            Some(json!({ "document": SIGNED })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let now = h.server().state().now_ms() / 1000;
    let body = r#"{"amount": 3}"#;

    // No credential yet: 503, nothing runs.
    let raw_key = b"0123456789abcdef0123456789abcdef";
    let (status, problem) = h
        .signed_hook(
            "default/in/signed",
            &sign(raw_key, "msg_0", now, body),
            body,
        )
        .await;
    assert_problem(
        status,
        &problem,
        StatusCode::SERVICE_UNAVAILABLE,
        "webhook_secret_missing",
    );
    // A credential of another kind is not a signing secret.
    let secret = format!("whsec_{}", BASE64.encode(raw_key));
    h.put(&editor, "hook-secret", "bearer_token", json!(secret))
        .await;
    let (status, problem) = h
        .signed_hook(
            "default/in/signed",
            &sign(raw_key, "msg_0", now, body),
            body,
        )
        .await;
    assert_problem(
        status,
        &problem,
        StatusCode::SERVICE_UNAVAILABLE,
        "webhook_secret_missing",
    );
    let (status, _) = h
        .put(&editor, "hook-secret", "webhook_secret", json!(secret))
        .await;
    assert_eq!(status, StatusCode::OK);

    // A correctly signed call runs.
    let (status, output) = h
        .signed_hook(
            "default/in/signed",
            &sign(raw_key, "msg_1", now, body),
            body,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{output}");
    assert_eq!(output, json!({ "amount": 3 }));
    assert_eq!(h.runs(&editor).await.len(), 1);

    // Refused: a replay, a wrong signature, an old or future timestamp, missing headers.
    let (status, problem) = h
        .signed_hook(
            "default/in/signed",
            &sign(raw_key, "msg_1", now, body),
            body,
        )
        .await;
    assert_problem(
        status,
        &problem,
        StatusCode::UNAUTHORIZED,
        "replayed_webhook",
    );
    let (status, problem) = h
        .signed_hook(
            "default/in/signed",
            &sign(b"another key entirely", "msg_2", now, body),
            body,
        )
        .await;
    assert_problem(
        status,
        &problem,
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
    );
    let tampered = sign(raw_key, "msg_3", now, body);
    let (status, problem) = h
        .signed_hook("default/in/signed", &tampered, r#"{"amount": 4}"#)
        .await;
    assert_problem(
        status,
        &problem,
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
    );
    for skew in [-600, 600] {
        let (status, problem) = h
            .signed_hook(
                "default/in/signed",
                &sign(raw_key, "msg_4", now + skew, body),
                body,
            )
            .await;
        assert_problem(
            status,
            &problem,
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
        );
    }
    for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let headers: Vec<_> = sign(raw_key, "msg_5", now, body)
            .into_iter()
            .filter(|(name, _)| *name != missing)
            .collect();
        let (status, problem) = h.signed_hook("default/in/signed", &headers, body).await;
        assert_problem(
            status,
            &problem,
            StatusCode::UNAUTHORIZED,
            "invalid_signature",
        );
        assert!(
            problem["detail"].as_str().unwrap().contains(missing),
            "{problem}"
        );
    }
    let (status, problem) = h.signed_hook("default/in/signed", &[], body).await;
    assert_problem(
        status,
        &problem,
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
    );
    let runs = h.runs(&editor).await;
    assert_eq!(runs.len(), 1, "no refused call started a run");

    // A plain-string secret is used as raw bytes; the secret never reaches the run.
    h.put(&editor, "hook-secret", "webhook_secret", json!(PLAINTEXT))
        .await;
    let (status, output) = h
        .signed_hook(
            "default/in/signed",
            &sign(PLAINTEXT.as_bytes(), "msg_6", now, body),
            body,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{output}");
    let runs = h.runs(&editor).await;
    assert_eq!(runs.len(), 2);
    for run in runs {
        let id = run["id"].as_str().unwrap();
        let (status, full) = h
            .vault_call(Method::GET, &format!("/api/v1/runs/{id}"), &editor, None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(full["trigger"]["type"], "webhook");
        let text = full.to_string();
        assert!(!text.contains(PLAINTEXT), "{text}");
        assert!(!text.contains(&secret), "{text}");
    }
    let dir = h.stop().await;
    assert!(!contains(&data_bytes(dir.path()), PLAINTEXT));
}
