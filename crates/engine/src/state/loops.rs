//! `core.foreach`: expanding items into body instances within the concurrency bound, collecting
//! their outputs in item order, and closing the loop.

use super::*;

impl RunState {
    /// Sets up a `core.foreach`: `Ok(None)` when items started, `Ok(Some([]))` for an empty
    /// list.
    pub(super) fn start_loop(
        &mut self,
        key: &StepKey,
        config: &Value,
    ) -> Result<Option<Value>, StepError> {
        let Some(items) = config.get("items").and_then(Value::as_array) else {
            return Err(StepError::permanent(
                "invalid_config",
                "core.foreach `items` must be a list",
            ));
        };
        if items.is_empty() {
            return Ok(Some(Value::Array(Vec::new())));
        }
        if items.len() > u32::MAX as usize {
            return Err(StepError::permanent(
                "invalid_config",
                "core.foreach `items` is too long",
            ));
        }
        let concurrency = config
            .get("concurrency")
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .clamp(1, 64) as u32;
        let state = LoopState {
            items: items.iter().cloned().map(Arc::new).collect(),
            concurrency,
            next: 0,
            running: 0,
            done: 0,
            results: vec![Value::Null; items.len()],
        };
        self.inner.loops.insert(key.clone(), state);
        self.fill_loop(key);
        Ok(None)
    }

    /// Starts items of a loop until its concurrency is reached or no item is left.
    pub(super) fn fill_loop(&mut self, key: &StepKey) {
        let Some(parent_scope) = self
            .inner
            .instances
            .get(&key.frames[..])
            .map(|i| i.scope.clone())
        else {
            return;
        };
        loop {
            let Some(state) = self.inner.loops.get_mut(key) else {
                return;
            };
            if state.running >= state.concurrency || state.next as usize >= state.items.len() {
                return;
            }
            let index = state.next;
            let Some(item) = state.items.get(index as usize).cloned() else {
                return;
            };
            state.next += 1;
            state.running += 1;
            let mut frames = key.frames.clone();
            frames.push(Frame {
                foreach: key.step,
                item: index,
            });
            let scope = parent_scope.clone().with_item(item, u64::from(index));
            self.open_instance(frames, scope);
        }
    }

    /// Abandons a loop's items: their instances go, their unfinished steps are cancelled.
    pub(super) fn close_loop(&mut self, key: &StepKey) {
        self.inner.loops.swap_remove(key);
        let depth = key.frames.len();
        let inside = |frames: &[Frame]| {
            frames.len() > depth
                && frames[..depth] == key.frames[..]
                && frames[depth].foreach == key.step
        };
        self.inner.instances.retain(|frames, _| !inside(frames));
        self.inner.loops.retain(|k, _| !inside(&k.frames));
        self.inner.children.retain(|k, _| !inside(&k.frames));
        // Timers of abandoned steps would only be ignored when they fire; dropping them keeps
        // `pending` from re-arming them after a crash.
        self.inner
            .timers
            .retain(|_, t| !inside(&t.purpose.key().frames));
        for keys in self.inner.waiting.values_mut() {
            keys.retain(|k| !inside(&k.frames));
        }
        self.inner.waiting.retain(|_, keys| !keys.is_empty());
        let now = self.inner.now_ms;
        for (k, record) in self.inner.steps.iter_mut() {
            if inside(&k.frames) && !record.status.is_finished() {
                self.touched.push(k.clone());
                record.status = StepStatus::Cancelled;
                record.finished_at_ms = Some(now);
            }
        }
    }

    /// Every step of an instance has ended.
    pub(super) fn instance_done(&mut self, frames: Vec<Frame>) {
        let plan = Arc::clone(&self.plan);
        let Some((last, outer)) = frames.split_last() else {
            // The top level: the run succeeded.
            let Some(instance) = self.inner.instances.get(&frames[..]) else {
                return;
            };
            let scope = instance.scope.clone();
            let output = match &plan.plan.output {
                Some(template) => match self.resolve(template, &scope, "output") {
                    Ok(output) => output,
                    Err(error) => {
                        self.fail_run(error, None);
                        return;
                    }
                },
                None => Value::Null,
            };
            self.end_run(RunStatus::Succeeded);
            self.inner.output = Some(output.clone());
            self.actions.push(Action::CompleteRun { output });
            return;
        };
        let loop_key = StepKey::new(outer.to_vec(), last.foreach);
        let Some(instance) = self.inner.instances.swap_remove(&frames) else {
            return;
        };
        let body_output = plan
            .step(&loop_key)
            .and_then(|s| s.body.as_ref())
            .and_then(|b| b.output.as_ref());
        let value = match body_output {
            Some(template) => match self.resolve(template, &instance.scope, "body.output") {
                Ok(value) => value,
                Err(error) => {
                    let display = plan.display(&loop_key);
                    let item_display = format!("{display}[{}]", last.item);
                    self.escalate(&frames, error, item_display);
                    return;
                }
            },
            None => Value::Null,
        };
        let Some(state) = self.inner.loops.get_mut(&loop_key) else {
            return;
        };
        if let Some(slot) = state.results.get_mut(last.item as usize) {
            *slot = value;
        }
        state.done += 1;
        state.running = state.running.saturating_sub(1);
        if state.done as usize >= state.items.len() {
            let results = std::mem::take(&mut state.results);
            self.queue.push_back(Work::Finish(
                loop_key,
                Outcome::Succeeded {
                    output: Arc::new(Value::Array(results)),
                    port: OUT_PORT.to_owned(),
                },
            ));
        } else {
            self.fill_loop(&loop_key);
        }
    }
}
