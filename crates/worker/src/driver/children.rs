//! Actions that create other runs: `core.subflow` child runs (created, then driven by whoever
//! claims them; the parent polls for their end) and the `on_error` flow of a failed run.

use std::sync::Arc;

use aion_engine::{Action, Event, StepError};
use aion_store::{FlowVersion, NewRun, RunStatus};
use serde_json::Value;

use super::{Driver, Extras};
use crate::Error;

impl Driver {
    /// A run of `flow` started by this run (a sub-flow child or the `on_error` flow), created
    /// leased to this runtime, which drives it.
    fn leased_run(&self, id: Option<String>, flow: FlowVersion, input: Value) -> NewRun {
        NewRun {
            id,
            workspace: self.workspace.clone(),
            flow_id: flow.flow_id,
            flow_version: flow.version,
            plan_hash: flow.plan_hash,
            input,
            trigger: Value::Null,
            // A child run joins its parent's trace.
            trace_id: self.row.trace_id.clone(),
            parent_run_id: Some(self.run_id.clone()),
            retry_of: None,
            status: RunStatus::Queued,
            created_ms: self.rt.now_ms(),
            lease: Some(self.rt.new_lease()),
        }
    }

    pub(super) async fn start_child(
        &mut self,
        id: String,
        flow: String,
        version: Option<u64>,
        input: Value,
    ) -> Result<(), Error> {
        let version = version.and_then(|v| u32::try_from(v).ok());
        let Some(found) = self
            .rt
            .store
            .get_flow(&self.workspace, &flow, version)
            .await?
        else {
            let error =
                StepError::permanent("flow_not_found", format!("flow `{flow}` is not stored"));
            let key = self.state.pending().into_iter().find_map(|a| match a {
                Action::StartChildRun {
                    key, child_run_id, ..
                } if child_run_id == id => Some(key),
                _ => None,
            });
            if let Some(key) = key {
                let event = Event::ChildRunFinished {
                    key,
                    result: Err(error),
                    at_ms: self.rt.now_ms(),
                };
                Box::pin(self.event(event, Extras::default())).await?;
            }
            return Ok(());
        };
        let new_run = self.leased_run(Some(id.clone()), found, input);
        let created = self.rt.store.create_run(new_run).await;
        match created {
            // Created leased to this worker: drive it from its row.
            Ok(run) => self.rt.drive_in_background(run),
            // Created before a crash: whoever can claim it drives it.
            Err(e) if e.kind() == aion_store::ErrorKind::AlreadyExists => {
                let rt = Arc::clone(&self.rt);
                let ws = self.workspace.clone();
                self.rt.track(tokio::spawn(async move {
                    if let Ok(Some(lease)) = rt.claim_run(&ws, &id).await {
                        let _ = rt.drive(lease, None).await;
                    }
                }));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    pub(super) async fn start_flow(&mut self, flow: String, input: Value) -> Result<(), Error> {
        let Some(found) = self.rt.store.get_flow(&self.workspace, &flow, None).await? else {
            self.warn(format!(
                "the on_error flow `{flow}` does not exist; not started"
            ));
            return Ok(());
        };
        let run = self
            .rt
            .store
            .create_run(self.leased_run(None, found, input))
            .await?;
        self.warn(format!(
            "started the on_error flow `{flow}` as run {}",
            run.id
        ));
        self.rt.drive_in_background(run);
        Ok(())
    }
}
