//! Conformance cases for metadata, workspaces, flows and runs (creation, updates, listing),
//! and for the data a backend must refuse to open.

use serde_json::json;

use super::{Backend, Failure, Foreign, Outcome, WS, ensure, ensure_eq, expect_kind, new_run};
use crate::{
    DEFAULT_WORKSPACE, Error, ErrorKind, FlowFormat, NewFlowVersion, RunCursor, RunFilter,
    RunStatus, RunUpdate,
};

fn flow(workspace: &str, flow_id: &str, hash: &str, created_ms: i64) -> NewFlowVersion {
    NewFlowVersion {
        workspace: workspace.to_owned(),
        flow_id: flow_id.to_owned(),
        document: format!("aion: 1\nid: {flow_id}\n"),
        format: FlowFormat::Yaml,
        plan: json!({ "version": 1, "steps": [hash] }),
        plan_hash: hash.to_owned(),
        created_ms,
        expected_latest: None,
        webhook_paths: Vec::new(),
        labels: Default::default(),
    }
}

/// The schema version is known, the default workspace exists, and workspaces are created once.
pub async fn schema_and_workspaces(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    ensure!(
        store.schema_version().await? >= 1,
        "schema version starts at 1"
    );
    let all = store.list_workspaces().await?;
    ensure!(
        all.iter().any(|ws| ws.id == DEFAULT_WORKSPACE),
        "the default workspace exists after migrations: {all:?}"
    );
    let created = store.create_workspace("team-a", 42).await?;
    ensure_eq!(created.id, "team-a", "created workspace id");
    ensure_eq!(created.created_ms, 42, "created workspace instant");
    expect_kind(
        store.create_workspace("team-a", 43).await,
        ErrorKind::AlreadyExists,
        "creating a workspace twice",
    )?;
    expect_kind(
        store.create_workspace("", 43).await,
        ErrorKind::InvalidArgument,
        "an empty workspace id",
    )?;
    let ids: Vec<String> = store
        .list_workspaces()
        .await?
        .into_iter()
        .map(|ws| ws.id)
        .collect();
    ensure_eq!(
        ids,
        vec!["default".to_owned(), "team-a".to_owned()],
        "workspaces by id"
    );
    Ok(())
}

/// Flow versions count from 1 per flow; latest, specific and missing versions; listing.
pub async fn flow_versions(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    store.create_workspace("other", 0).await?;
    let v1 = store.put_flow(flow(WS, "orders", "h1", 10)).await?;
    let v2 = store.put_flow(flow(WS, "orders", "h2", 20)).await?;
    let b1 = store.put_flow(flow(WS, "billing", "hb", 30)).await?;
    let o1 = store.put_flow(flow("other", "orders", "ho", 40)).await?;
    ensure_eq!(
        (v1.version, v2.version, b1.version, o1.version),
        (1, 2, 1, 1),
        "versions"
    );
    ensure_eq!(
        v2.plan,
        json!({ "version": 1, "steps": ["h2"] }),
        "plan round trip"
    );
    ensure_eq!(v2.format, FlowFormat::Yaml, "format round trip");

    let latest = store.get_flow(WS, "orders", None).await?;
    ensure_eq!(latest, Some(v2.clone()), "latest version");
    ensure_eq!(
        store.get_flow(WS, "orders", Some(1)).await?,
        Some(v1),
        "version 1"
    );
    ensure_eq!(
        store.get_flow(WS, "orders", Some(3)).await?,
        None,
        "missing version"
    );
    ensure_eq!(
        store.get_flow(WS, "nope", None).await?,
        None,
        "missing flow"
    );
    ensure_eq!(
        store
            .get_flow("other", "orders", None)
            .await?
            .map(|f| f.plan_hash),
        Some("ho".to_owned()),
        "the other workspace's flow"
    );

    let list = store.list_flows(WS).await?;
    let summary: Vec<(String, u32, String, i64)> = list
        .into_iter()
        .map(|f| (f.flow_id, f.latest_version, f.plan_hash, f.updated_ms))
        .collect();
    ensure_eq!(
        summary,
        vec![
            ("billing".to_owned(), 1, "hb".to_owned(), 30),
            ("orders".to_owned(), 2, "h2".to_owned(), 20)
        ],
        "flows by id with their latest version"
    );
    expect_kind(
        store.put_flow(flow("missing-ws", "orders", "h", 1)).await,
        ErrorKind::NotFound,
        "a flow in a missing workspace",
    )?;
    Ok(())
}

/// Listings carry the latest version's labels and the flow's most recent run.
pub async fn flow_listings_carry_labels_and_the_last_run(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    let labelled = |hash: &str, name: &str, tags: &[&str], created_ms| NewFlowVersion {
        labels: crate::FlowLabels {
            name: name.to_owned(),
            description: format!("about {name}"),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        },
        ..flow(WS, "orders", hash, created_ms)
    };
    store
        .put_flow(labelled("h1", "Orders", &["shop"], 10))
        .await?;
    store
        .put_flow(labelled("h2", "Orders v2", &["shop", "ünïcode"], 20))
        .await?;
    store.put_flow(flow(WS, "quiet", "hq", 5)).await?;
    let list = store.list_flows(WS).await?;
    ensure_eq!(list.len(), 2, "two flows");
    let orders = &list[0];
    ensure_eq!(
        orders.labels.name.as_str(),
        "Orders v2",
        "the latest version's name"
    );
    ensure_eq!(
        orders.labels.description.as_str(),
        "about Orders v2",
        "description"
    );
    ensure_eq!(
        orders.labels.tags.clone(),
        vec!["shop".to_owned(), "ünïcode".to_owned()],
        "tags in order"
    );
    ensure_eq!(orders.last_run.clone(), None, "no run yet");
    ensure_eq!(
        list[1].labels,
        crate::FlowLabels::default(),
        "no labels given"
    );
    let first = store.create_run(new_run(WS, "orders", 100)).await?;
    let second = store.create_run(new_run(WS, "orders", 200)).await?;
    store.create_run(new_run(WS, "other-flow", 300)).await?;
    store.create_run(new_run("other", "orders", 400)).await.ok();
    let list = store.list_flows(WS).await?;
    let last = list[0].last_run.clone();
    ensure_eq!(
        last.map(|r| (r.run_id, r.status, r.created_ms)),
        Some((second.id.clone(), second.status, 200)),
        "the most recent run of this flow in this workspace"
    );
    ensure!(first.id != second.id, "two runs");
    ensure_eq!(list[1].last_run.clone(), None, "the quiet flow has none");
    Ok(())
}

/// A webhook path belongs to one flow of a workspace: a new version replaces its flow's paths,
/// another flow cannot take a path in use (and nothing of that save is stored), other
/// workspaces have their own paths.
pub async fn webhook_paths_are_unique_per_workspace(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    store.create_workspace("other", 0).await?;
    let with_paths = |ws: &str, id: &str, hash: &str, paths: &[&str]| NewFlowVersion {
        webhook_paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        labels: Default::default(),
        ..flow(ws, id, hash, 10)
    };
    store
        .put_flow(with_paths(WS, "orders", "h1", &["orders", "orders/refund"]))
        .await?;
    ensure_eq!(
        store.webhook_flow(WS, "orders/refund").await?,
        Some("orders".to_owned()),
        "a path finds its flow"
    );
    expect_kind(
        store
            .put_flow(with_paths(WS, "billing", "hb", &["invoices", "orders"]))
            .await,
        ErrorKind::AlreadyExists,
        "another flow's path",
    )?;
    ensure_eq!(
        (
            store.get_flow(WS, "billing", None).await?,
            store.webhook_flow(WS, "invoices").await?
        ),
        (None, None),
        "a refused save stores nothing"
    );
    store
        .put_flow(with_paths("other", "billing", "ho", &["orders"]))
        .await?;
    ensure_eq!(
        store.webhook_flow("other", "orders").await?,
        Some("billing".to_owned()),
        "each workspace has its own paths"
    );
    // A new version drops the paths it no longer serves, and keeps the flow's own.
    store
        .put_flow(with_paths(WS, "orders", "h2", &["orders"]))
        .await?;
    ensure_eq!(
        (
            store.webhook_flow(WS, "orders").await?,
            store.webhook_flow(WS, "orders/refund").await?
        ),
        (Some("orders".to_owned()), None),
        "the latest version's paths"
    );
    store
        .put_flow(with_paths(WS, "billing", "hb", &["orders/refund"]))
        .await?;
    ensure_eq!(
        store.webhook_flow(WS, "orders/refund").await?,
        Some("billing".to_owned()),
        "a freed path can be taken"
    );
    ensure_eq!(
        store.webhook_flow(WS, "nope").await?,
        None,
        "an unknown path"
    );
    Ok(())
}

/// `expected_latest` makes saving a version a compare-and-set: it succeeds only on the latest
/// version (0: only for a new flow), and a refused save stores nothing.
pub async fn flow_versions_compare_and_set(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    let expecting = |hash: &str, expected: u32| NewFlowVersion {
        expected_latest: Some(expected),
        ..flow(WS, "orders", hash, 10)
    };
    let v1 = store.put_flow(expecting("h1", 0)).await?;
    ensure_eq!(v1.version, 1, "created when no version exists");
    expect_kind(
        store.put_flow(expecting("again", 0)).await,
        ErrorKind::VersionConflict,
        "creating a flow that exists",
    )?;
    let v2 = store.put_flow(expecting("h2", 1)).await?;
    ensure_eq!(v2.version, 2, "saved on the latest version");
    match store.put_flow(expecting("stale", 1)).await {
        Err(Error::VersionConflict {
            flow_id,
            expected,
            current,
        }) => ensure_eq!(
            (flow_id.as_str(), expected, current),
            ("orders", 1, 2),
            "the conflict names the versions"
        ),
        other => {
            return Err(Failure(format!(
                "a save on a stale version must be a VersionConflict, got {other:?}"
            )));
        }
    }
    ensure_eq!(
        store
            .get_flow(WS, "orders", None)
            .await?
            .map(|f| f.plan_hash),
        Some("h2".to_owned()),
        "a refused save stores nothing"
    );
    Ok(())
}

/// Runs round-trip every field; ids are generated when absent and unique.
pub async fn run_create_and_get(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    let mut given = new_run(WS, "orders", 1_000);
    given.id = Some("run-given".to_owned());
    given.trace_id = Some("trace-1".to_owned());
    given.parent_run_id = Some("run-parent".to_owned());
    given.retry_of = Some("run-old".to_owned());
    given.input = json!({ "a": [1, 2, { "b": null }], "s": "é" });
    let run = store.create_run(given.clone()).await?;
    ensure_eq!(run.id, "run-given", "given id kept");
    ensure_eq!(run.status, RunStatus::Queued, "status");
    ensure_eq!(run.epoch, 0, "no claim yet");
    ensure_eq!(run.last_seq, 0, "empty journal");
    ensure_eq!(run.input, given.input, "input");
    ensure_eq!(run.trigger, given.trigger, "trigger");
    ensure_eq!(
        (
            run.trace_id.as_deref(),
            run.parent_run_id.as_deref(),
            run.retry_of.as_deref()
        ),
        (Some("trace-1"), Some("run-parent"), Some("run-old")),
        "links"
    );
    ensure_eq!(store.get_run(WS, "run-given").await?, Some(run), "get");
    expect_kind(
        store.create_run(given).await,
        ErrorKind::AlreadyExists,
        "a duplicate run id",
    )?;

    let a = store.create_run(new_run(WS, "orders", 2_000)).await?;
    let b = store.create_run(new_run(WS, "orders", 2_000)).await?;
    ensure!(
        !a.id.is_empty() && a.id != b.id,
        "generated ids are unique: {} {}",
        a.id,
        b.id
    );
    ensure_eq!(store.get_run(WS, "nope").await?, None, "missing run");
    expect_kind(
        store.create_run(new_run("missing-ws", "orders", 1)).await,
        ErrorKind::NotFound,
        "a run in a missing workspace",
    )?;
    Ok(())
}

/// Unfenced updates change only the given fields.
pub async fn run_update(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    let run = store.create_run(new_run(WS, "orders", 5)).await?;
    let updated = store
        .update_run(
            WS,
            &run.id,
            RunUpdate {
                status: Some(RunStatus::Failed),
                error: Some(json!({ "message": "boom" })),
                finished_ms: Some(9),
                ..RunUpdate::default()
            },
        )
        .await?;
    ensure_eq!(updated.status, RunStatus::Failed, "status");
    ensure_eq!(updated.error, Some(json!({ "message": "boom" })), "error");
    ensure_eq!(updated.output, None, "output untouched");
    ensure_eq!(updated.finished_ms, Some(9), "finished");
    ensure_eq!(updated.started_ms, None, "started untouched");
    ensure_eq!(
        store.get_run(WS, &run.id).await?,
        Some(updated),
        "get after update"
    );
    expect_kind(
        store.update_run(WS, "nope", RunUpdate::default()).await,
        ErrorKind::NotFound,
        "updating a missing run",
    )?;
    Ok(())
}

/// Pages follow (created desc, id desc), are stable while new runs arrive, and filters apply.
pub async fn run_list_pagination_and_filters(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    let mut expected = Vec::new();
    for i in 0..25_i64 {
        // Several runs share an instant so the id breaks ties.
        let flow_id = if i % 3 == 0 { "billing" } else { "orders" };
        let mut run = new_run(WS, flow_id, 1_000 + i / 4);
        run.id = Some(format!("run-{:02}", (i * 7) % 25));
        if i % 5 == 0 {
            run.status = RunStatus::Succeeded;
        }
        let run = store.create_run(run).await?;
        expected.push((run.created_ms, run.id));
    }
    expected.sort_by(|a, b| b.cmp(a));

    let all = store
        .list_runs(WS, &RunFilter::default(), None, 100)
        .await?;
    let got: Vec<(i64, String)> = all
        .runs
        .iter()
        .map(|r| (r.created_ms, r.id.clone()))
        .collect();
    ensure_eq!(got, expected, "one page holds every run in order");

    let mut paged = Vec::new();
    let mut cursor: Option<RunCursor> = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_runs(WS, &RunFilter::default(), cursor.as_ref(), 7)
            .await?;
        ensure!(page.runs.len() <= 7, "page size respected");
        paged.extend(page.runs.iter().map(|r| (r.created_ms, r.id.clone())));
        pages += 1;
        if pages == 2 {
            // A newer run arriving between pages must not shift later pages.
            store.create_run(new_run(WS, "orders", 9_999)).await?;
        }
        match page.next {
            Some(next) => {
                let token = next.encode();
                cursor = Some(RunCursor::decode(&token)?);
            }
            None => break,
        }
        ensure!(pages < 20, "pagination terminates");
    }
    ensure_eq!(paged, expected, "pages concatenate to the full order");

    let filter = RunFilter {
        flow_id: Some("billing".to_owned()),
        ..RunFilter::default()
    };
    let billing = store.list_runs(WS, &filter, None, 100).await?;
    ensure_eq!(billing.runs.len(), 9, "flow filter");
    ensure!(
        billing.runs.iter().all(|r| r.flow_id == "billing"),
        "flow filter"
    );

    let filter = RunFilter {
        statuses: vec![RunStatus::Succeeded],
        ..RunFilter::default()
    };
    let done = store.list_runs(WS, &filter, None, 100).await?;
    ensure_eq!(done.runs.len(), 5, "status filter");

    let filter = RunFilter {
        created_from_ms: Some(1_001),
        created_before_ms: Some(1_003),
        ..RunFilter::default()
    };
    let range = store.list_runs(WS, &filter, None, 100).await?;
    ensure_eq!(range.runs.len(), 8, "time range [1001, 1003)");
    ensure!(
        range
            .runs
            .iter()
            .all(|r| (1_001..1_003).contains(&r.created_ms)),
        "time range bounds"
    );

    store.create_workspace("other", 0).await?;
    let other = store
        .list_runs("other", &RunFilter::default(), None, 100)
        .await?;
    ensure!(
        other.runs.is_empty() && other.next.is_none(),
        "other workspace sees no runs"
    );
    expect_kind(
        RunCursor::decode("garbage"),
        ErrorKind::InvalidArgument,
        "a malformed cursor",
    )?;
    Ok(())
}

/// Data written by a newer schema is refused with both versions in the message.
pub async fn newer_schema_is_refused(backend: &dyn Backend) -> Outcome {
    let found = 9_999;
    match backend.open_newer_schema(found).await {
        Err(err @ Error::SchemaTooNew { .. }) => {
            let message = err.to_string();
            ensure!(
                message.contains("9999"),
                "the message names the found version: {message}"
            );
            if let Error::SchemaTooNew { supported, .. } = err {
                ensure!(
                    message.contains(&supported.to_string()),
                    "the message names the supported version: {message}"
                );
            }
            Ok(())
        }
        Err(err) => Err(err.into()),
        Ok(store) => Err(super::Failure(format!(
            "opening newer-schema data succeeded: {store:?}"
        ))),
    }
}

/// Garbage and other applications' databases are refused, not opened or overwritten.
pub async fn foreign_files_are_refused(backend: &dyn Backend) -> Outcome {
    for foreign in [Foreign::Garbage, Foreign::OtherDatabase] {
        expect_kind(
            backend.open_foreign(foreign).await,
            ErrorKind::NotAStore,
            &format!("opening {foreign:?}"),
        )?;
    }
    Ok(())
}

/// `create_run_once`: a key creates one run while it holds (even under concurrent calls),
/// gives back that run for the same request, refuses another request, and frees itself when
/// it expires; workspaces have their own keys.
pub async fn idempotent_run_creation(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    store.create_workspace("other", 0).await?;
    let once = |key: &str, hash: &str, expires_ms: i64| crate::Once {
        key: key.to_owned(),
        request_hash: hash.to_owned(),
        expires_ms,
    };
    let calls: Vec<crate::BoxFuture<'_, crate::Result<(crate::Run, bool)>>> = (0..8)
        .map(|i| store.create_run_once(new_run(WS, "flow", 10 + i), once("k1", "h", 1_000)))
        .collect();
    let results = super::join_all(calls).await;
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    for result in results {
        let (run, fresh) = result?;
        created += usize::from(fresh);
        ids.insert(run.id);
    }
    ensure_eq!(
        (created, ids.len()),
        (1, 1),
        "concurrent calls create one run"
    );
    let (again, fresh) = store
        .create_run_once(new_run(WS, "flow", 500), once("k1", "h", 2_000))
        .await?;
    ensure_eq!(
        (ids.contains(&again.id), fresh),
        (true, false),
        "the same request gets the same run"
    );
    expect_kind(
        store
            .create_run_once(new_run(WS, "flow", 600), once("k1", "other", 2_000))
            .await,
        ErrorKind::AlreadyExists,
        "a key reused for another request",
    )?;
    let (elsewhere, fresh) = store
        .create_run_once(new_run("other", "flow", 700), once("k1", "h", 2_000))
        .await?;
    ensure!(
        fresh && !ids.contains(&elsewhere.id),
        "workspaces have their own keys"
    );
    // Created at 1,000 or later, the first record has expired.
    let (later, fresh) = store
        .create_run_once(new_run(WS, "flow", 1_000), once("k1", "h", 90_000))
        .await?;
    ensure!(
        fresh && !ids.contains(&later.id),
        "an expired key creates a new run"
    );
    Ok(())
}

/// Deleting a flow removes every version and frees its webhook paths; another workspace's flow
/// of the same id stays; deleting twice is not found.
pub async fn flows_are_deleted(backend: &dyn Backend) -> Outcome {
    let store = backend.fresh().await?;
    store.create_workspace("other", 0).await?;
    let hooked = |ws: &str, hash: &str| NewFlowVersion {
        webhook_paths: vec!["in".to_owned()],
        labels: Default::default(),
        ..flow(ws, "orders", hash, 10)
    };
    store.put_flow(hooked(WS, "h1")).await?;
    store.put_flow(hooked(WS, "h2")).await?;
    store.put_flow(hooked("other", "ho")).await?;
    store.delete_flow(WS, "orders").await?;
    ensure_eq!(
        (
            store.get_flow(WS, "orders", None).await?,
            store.get_flow(WS, "orders", Some(1)).await?,
            store.webhook_flow(WS, "in").await?,
        ),
        (None, None, None),
        "every version and the webhook path are gone"
    );
    ensure!(
        store.get_flow("other", "orders", None).await?.is_some()
            && store.webhook_flow("other", "in").await?.is_some(),
        "the other workspace's flow stays"
    );
    expect_kind(
        store.delete_flow(WS, "orders").await,
        ErrorKind::NotFound,
        "deleting twice",
    )?;
    // The id and the path can be used again, from version 1.
    let again = store.put_flow(hooked(WS, "h3")).await?;
    ensure_eq!(
        again.version,
        1,
        "a new flow with the old id starts at version 1"
    );
    Ok(())
}
