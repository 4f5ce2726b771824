//! Cron triggers end to end: a real server fires a every-second schedule, each slot once, and
//! a restart on the same data dir neither repeats a slot nor replays the ones it missed (only
//! the most recent missed slot fires).

use std::time::Duration;

use aion_server::config::Config;
use aion_server::{Server, admin};
use aion_store::Role;
use serde_json::{Value, json};

const TICKER: &str = "aion: 1\nid: ticker\ntriggers:\n  - type: cron\n    schedule: \"* * * * * *\"\n    timezone: Europe/Paris\nnodes:\n  - id: tick\n    type: core.set\n    config:\n      value: \"{{ trigger.slot_ms }}\"\noutput: \"{{ steps.tick.output }}\"\n";

async fn start(dir: &std::path::Path) -> Server {
    let mut config = Config::with_data_dir(dir.to_path_buf());
    config.listen = "127.0.0.1:0".parse().unwrap();
    Server::start(config).await.unwrap()
}

async fn api_key(server: &Server) -> String {
    let state = server.state();
    let email = "ada@example.com";
    admin::create_user(
        &**state.store(),
        &**state.accounts(),
        email,
        "correct horse battery",
        "default",
        1,
    )
    .await
    .unwrap();
    admin::create_api_key(&**state.accounts(), email, "default", Role::Owner, "t", 1)
        .await
        .unwrap()
        .1
}

/// The cron runs of `ticker`, oldest first, checked: every one says it came from the trigger.
async fn cron_runs(server: &Server, key: &str) -> Vec<Value> {
    let body: Value = reqwest::Client::new()
        .get(format!(
            "http://{}/api/v1/runs?flow=ticker&limit=100",
            server.addr()
        ))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut runs = body["runs"].as_array().unwrap().clone();
    runs.reverse();
    for run in &runs {
        let trigger = &run["trigger"];
        assert_eq!(trigger["type"], "cron", "{run}");
        assert_eq!(trigger["schedule"], "* * * * * *", "{run}");
        assert_eq!(trigger["timezone"], "Europe/Paris", "{run}");
        assert!(trigger["slot_ms"].as_i64().unwrap() % 1000 == 0, "{run}");
        let slot = trigger["slot"].as_str().unwrap();
        assert!(
            slot.ends_with("+01:00") || slot.ends_with("+02:00"),
            "{run}"
        );
        assert_eq!(run["input"], json!({}), "{run}");
    }
    runs
}

fn slots(runs: &[Value]) -> Vec<i64> {
    runs.iter()
        .map(|run| run["trigger"]["slot_ms"].as_i64().unwrap())
        .collect()
}

fn assert_strictly_increasing(slots: &[i64]) {
    for pair in slots.windows(2) {
        assert!(
            pair[0] < pair[1],
            "a slot fired twice or out of order: {slots:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_slot_fires_once_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let key = api_key(&server).await;
    let saved = reqwest::Client::new()
        .post(format!("http://{}/api/v1/flows", server.addr()))
        .bearer_auth(&key)
        .json(&json!({ "document": TICKER }))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), reqwest::StatusCode::CREATED);
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    let before = cron_runs(&server, &key).await;
    assert!(!before.is_empty(), "no cron run in 2.6 s");
    let before_slots = slots(&before);
    assert_strictly_increasing(&before_slots);
    server.stop(Duration::from_secs(5)).await.unwrap();

    // Down for a few slots.
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let server = start(dir.path()).await;
    let restarted_ms = server.state().now_ms();
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    let all = cron_runs(&server, &key).await;
    let all_slots = slots(&all);
    assert_strictly_increasing(&all_slots);
    assert_eq!(&all_slots[..before_slots.len()], &before_slots[..]);
    let after = &all_slots[before_slots.len()..];
    assert!(
        !after.is_empty(),
        "no cron run after the restart: {all_slots:?}"
    );
    // The slots missed while down are not replayed: at most the most recent one fires.
    let last_before = before_slots[before_slots.len() - 1];
    let missed: Vec<i64> = after
        .iter()
        .copied()
        .filter(|slot| *slot > last_before && *slot < restarted_ms - 1_000)
        .collect();
    assert!(
        missed.len() <= 1,
        "missed slots replayed: {missed:?} in {all_slots:?}"
    );

    // The runs ran with the trigger in scope.
    let first = &all[0];
    let id = first["id"].as_str().unwrap();
    let mut output = Value::Null;
    for _ in 0..100 {
        let run: Value = reqwest::Client::new()
            .get(format!("http://{}/api/v1/runs/{id}", server.addr()))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if run["status"] == "succeeded" {
            output = run["output"].clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(output, first["trigger"]["slot_ms"]);
    server.stop(Duration::from_secs(5)).await.unwrap();
}
