//! Starting and finishing steps: control nodes decided in place, invocations, retries, the
//! end of a step and what it activates, escalation of failures, the end of the run, and the
//! evaluation of templates against a step's scope.

use super::*;

impl RunState {
    /// Starts a step: resolves its config and interprets it (control nodes) or asks the
    /// worker to run it.
    pub(super) fn start(&mut self, key: StepKey) {
        let plan = Arc::clone(&self.plan);
        let Some(step) = plan.step(&key) else { return };
        let now = self.inner.now_ms;
        let Some(instance) = self.inner.instances.get_mut(&key.frames[..]) else {
            return;
        };
        match instance.slots.get_mut(key.step as usize) {
            Some(slot @ Slot::Unstarted) => *slot = Slot::Started,
            _ => return,
        }
        let scope = instance.scope.clone();
        let mut record = self.new_record(&key, step, StepStatus::Running);
        record.attempts = 1;
        record.started_at_ms = Some(now);
        let config = match self.resolve(&step.config, &scope, "config") {
            Ok(config) => config,
            Err(error) => {
                self.touched.push(key.clone());
                self.inner.steps.insert(key.clone(), record);
                self.queue
                    .push_back(Work::Finish(key, Outcome::Failed(error)));
                return;
            }
        };
        let succeed = |output: Value, port: &str| Outcome::Succeeded {
            output: Arc::new(output),
            port: port.to_owned(),
        };
        let immediate = match step.node_type.as_str() {
            "core.if" => {
                let condition = config.get("condition").is_some_and(truthy);
                Some(succeed(
                    Value::Bool(condition),
                    if condition { "true" } else { "false" },
                ))
            }
            "core.switch" => {
                let port = config
                    .get("cases")
                    .and_then(Value::as_array)
                    .and_then(|cases| cases.iter().find(|c| c.get("when").is_some_and(truthy)))
                    .and_then(|c| c.get("port"))
                    .and_then(Value::as_str)
                    .unwrap_or("default")
                    .to_owned();
                Some(succeed(Value::String(port.clone()), &port))
            }
            "core.merge" => {
                let mode = config
                    .get("mode")
                    .and_then(Value::as_str)
                    .unwrap_or("object");
                Some(succeed(self.merge(&key, step, mode, &scope), OUT_PORT))
            }
            "core.foreach" => Some(match self.start_loop(&key, &config) {
                Ok(None) => {
                    record.status = StepStatus::Looping;
                    record.input = Some(config);
                    self.touched.push(key.clone());
                    self.inner.steps.insert(key, record);
                    return;
                }
                Ok(Some(empty)) => succeed(empty, OUT_PORT),
                Err(error) => Outcome::Failed(error),
            }),
            "core.wait" => match wait_due(&config, now) {
                Ok(due) if due > now => {
                    record.status = StepStatus::Sleeping;
                    record.input = Some(config);
                    self.touched.push(key.clone());
                    self.inner.steps.insert(key.clone(), record);
                    self.arm_timer(due, TimerPurpose::Wait(key));
                    return;
                }
                Ok(_) => Some(succeed(Value::Null, OUT_PORT)),
                Err(error) => Some(Outcome::Failed(error)),
            },
            "core.signal" => match self.start_signal(&key, &config, now) {
                Ok(Some(payload)) => Some(succeed(payload, OUT_PORT)),
                Ok(None) => {
                    record.status = StepStatus::AwaitingSignal;
                    record.input = Some(config);
                    self.touched.push(key.clone());
                    self.inner.steps.insert(key, record);
                    return;
                }
                Err(error) => Some(Outcome::Failed(error)),
            },
            "core.subflow" => {
                let flow = config.get("flow").and_then(Value::as_str);
                match flow {
                    None => Some(Outcome::Failed(StepError::permanent(
                        "invalid_config",
                        "core.subflow needs a `flow` string",
                    ))),
                    Some(flow) => {
                        let wait = config.get("wait").and_then(Value::as_bool).unwrap_or(true);
                        let action = Action::StartChildRun {
                            key: key.clone(),
                            child_run_id: record.idempotency_key.clone(),
                            flow: flow.to_owned(),
                            version: config.get("version").and_then(Value::as_u64),
                            input: config
                                .get("input")
                                .cloned()
                                .unwrap_or_else(|| Value::Object(Map::new())),
                            wait,
                        };
                        self.actions.push(action.clone());
                        if wait {
                            record.status = StepStatus::AwaitingChild;
                            record.input = Some(config);
                            self.inner.children.insert(key.clone(), action);
                            self.touched.push(key.clone());
                            self.inner.steps.insert(key, record);
                            return;
                        }
                        let child = record.idempotency_key.clone();
                        Some(succeed(serde_json::json!({ "run_id": child }), OUT_PORT))
                    }
                }
            }
            _ => None,
        };
        if let Some(outcome) = immediate {
            record.input = Some(config);
            self.touched.push(key.clone());
            self.inner.steps.insert(key.clone(), record);
            self.queue.push_back(Work::Finish(key, outcome));
            return;
        }
        // Every other node is run by the worker.
        let mut config = config;
        if step.node_type == "core.transform"
            && let Value::Object(map) = &mut config
            && map.get("input").is_none_or(Value::is_null)
        {
            // jq without `input` reads the whole scope, which only the engine has: it travels
            // in the resolved config so that the worker needs nothing else.
            map.insert("input".into(), scope.to_json());
        }
        if let Some(cache) = &step.cache {
            let key_value = match cache.key.and_then(|id| plan.templates.get(id as usize)) {
                Some(template) => match self.eval(template, &scope, "cache.key") {
                    Ok(Value::String(text)) => text,
                    Ok(other) => other.to_string(),
                    Err(error) => {
                        self.touched.push(key.clone());
                        self.inner.steps.insert(key.clone(), record);
                        self.queue
                            .push_back(Work::Finish(key, Outcome::Failed(error)));
                        return;
                    }
                },
                None => default_cache_key(&step.node_type, step.node_version, &config),
            };
            record.cache = Some(CacheRequest {
                key: key_value,
                ttl_ms: cache.ttl_ms,
            });
        }
        record.input = Some(config);
        self.actions.push(invoke_action(&key, &record, step));
        self.touched.push(key.clone());
        self.inner.steps.insert(key, record);
    }

    /// The output of a `core.merge`: predecessors whose edge into it is active, in edge order.
    pub(super) fn merge(&self, key: &StepKey, step: &Step, mode: &str, scope: &Scope) -> Value {
        let plan = &self.plan;
        let Some(instance) = self.inner.instances.get(&key.frames[..]) else {
            return Value::Null;
        };
        let Some(graph) = plan.graph(&key.frames) else {
            return Value::Null;
        };
        let mut seen: Vec<u32> = Vec::new();
        let mut values: Vec<(String, Value)> = Vec::new();
        for link in &step.inputs {
            let active = instance
                .slots
                .get(link.step as usize)
                .is_some_and(|s| s.activates(&link.port));
            if !active || seen.contains(&link.step) {
                continue;
            }
            seen.push(link.step);
            let Some(source) = graph.steps.get(link.step as usize) else {
                continue;
            };
            let value = scope.step(&source.id).map_or(Value::Null, |state| {
                state
                    .output
                    .as_deref()
                    .or(state.error.as_deref())
                    .cloned()
                    .unwrap_or(Value::Null)
            });
            values.push((source.id.clone(), value));
        }
        match mode {
            "array" => Value::Array(values.into_iter().map(|(_, v)| v).collect()),
            "first" => values.into_iter().next().map_or(Value::Null, |(_, v)| v),
            _ => Value::Object(values.into_iter().collect()),
        }
    }

    /// Arms a `core.signal`: returns a buffered payload at once, or waits.
    pub(super) fn start_signal(
        &mut self,
        key: &StepKey,
        config: &Value,
        now: i64,
    ) -> Result<Option<Value>, StepError> {
        let Some(name) = config.get("name").and_then(Value::as_str) else {
            return Err(StepError::permanent(
                "invalid_config",
                "core.signal needs a `name` string",
            ));
        };
        let timeout = match config.get("timeout") {
            None | Some(Value::Null) => None,
            Some(value) => Some(duration_ms(value, "timeout")?),
        };
        if let Some(payload) = self
            .inner
            .buffered
            .get_mut(name)
            .and_then(VecDeque::pop_front)
        {
            if self
                .inner
                .buffered
                .get(name)
                .is_some_and(VecDeque::is_empty)
            {
                self.inner.buffered.remove(name);
            }
            return Ok(Some(payload));
        }
        self.inner
            .waiting
            .entry(name.to_owned())
            .or_default()
            .push_back(key.clone());
        self.actions.push(Action::AwaitSignal {
            key: key.clone(),
            name: name.to_owned(),
            schema: config.get("schema").filter(|s| !s.is_null()).cloned(),
        });
        if let Some(ms) = timeout {
            let due = now.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX));
            self.arm_timer(due, TimerPurpose::SignalTimeout(key.clone()));
        }
        Ok(None)
    }

    /// Records how a step ended and decides its successors.
    pub(super) fn finish(&mut self, key: StepKey, outcome: Outcome) {
        let plan = Arc::clone(&self.plan);
        let Some(step) = plan.step(&key) else { return };
        let Some(graph) = plan.graph(&key.frames) else {
            return;
        };
        let now = self.inner.now_ms;
        let Some(instance) = self.inner.instances.get_mut(&key.frames[..]) else {
            return;
        };
        let Some(slot) = instance.slots.get_mut(key.step as usize) else {
            return;
        };
        if slot.is_finished() {
            return;
        }
        let skipped = matches!(outcome, Outcome::Skipped);
        if skipped && *slot != Slot::Unstarted {
            return;
        }
        let attempts = self.inner.steps.get(&key).map_or(1, |r| r.attempts.max(1));
        let (new_slot, state, status) = match &outcome {
            Outcome::Succeeded { output, port } => (
                Slot::Succeeded(port.clone()),
                StepState::succeeded(Arc::clone(output)),
                StepStatus::Succeeded,
            ),
            Outcome::Failed(error) => (
                Slot::Failed,
                StepState::failed(error_object(error, attempts)),
                StepStatus::Failed,
            ),
            Outcome::Skipped => (Slot::Skipped, StepState::skipped(), StepStatus::Skipped),
        };
        *slot = new_slot;
        instance.finished += 1;
        instance.scope.insert_step(step.id.clone(), state);
        let complete = instance.finished >= instance.slots.len();
        if !self.inner.steps.contains_key(&key) {
            let record = self.new_record(&key, step, status);
            self.touched.push(key.clone());
            self.inner.steps.insert(key.clone(), record);
        }
        self.touched.push(key.clone());
        let Some(record) = self.inner.steps.get_mut(&key) else {
            return;
        };
        record.status = status;
        record.finished_at_ms = Some(now);
        match outcome {
            Outcome::Succeeded { output, port } => {
                record.output = Some(output);
                record.port = Some(port);
                record.error = None;
            }
            Outcome::Failed(error) => {
                let display = record.display.clone();
                record.error = Some(error.clone());
                if self.inner.loops.contains_key(&key) {
                    self.close_loop(&key);
                }
                if !step.outputs.iter().any(|l| l.port == ERROR_PORT) {
                    self.escalate(&key.frames, error, display);
                    return;
                }
            }
            Outcome::Skipped => {}
        }
        if self.inner.loops.contains_key(&key) {
            self.inner.loops.swap_remove(&key);
        }
        // Decide each successor whose predecessors have now all ended.
        let Some(instance) = self.inner.instances.get(&key.frames[..]) else {
            return;
        };
        let mut decided: Vec<u32> = Vec::new();
        for link in &step.outputs {
            if decided.contains(&link.step) {
                continue;
            }
            let Some(target) = graph.steps.get(link.step as usize) else {
                continue;
            };
            if instance.slots.get(link.step as usize) != Some(&Slot::Unstarted) {
                continue;
            }
            let mut ready = true;
            let mut active = false;
            for input in &target.inputs {
                match instance.slots.get(input.step as usize) {
                    Some(slot) if slot.is_finished() => active |= slot.activates(&input.port),
                    _ => {
                        ready = false;
                        break;
                    }
                }
            }
            if !ready {
                continue;
            }
            decided.push(link.step);
            let target_key = StepKey::new(key.frames.clone(), link.step);
            self.queue.push_back(if active {
                Work::Start(target_key)
            } else {
                Work::Finish(target_key, Outcome::Skipped)
            });
        }
        if complete {
            self.queue.push_back(Work::InstanceDone(key.frames));
        }
    }

    /// A failure without an error edge: fails the run at the top level, or the enclosing loop.
    pub(super) fn escalate(&mut self, frames: &[Frame], error: StepError, display: String) {
        match frames.split_last() {
            None => self.fail_run(error, Some(display)),
            Some((last, outer)) => {
                let loop_key = StepKey::new(outer.to_vec(), last.foreach);
                // Abandon the loop's other items now, so that steps already queued in them
                // do not start.
                self.close_loop(&loop_key);
                let error = StepError {
                    message: format!("{display}: {}", error.message),
                    retryable: false,
                    ..error
                };
                self.queue
                    .push_back(Work::Finish(loop_key, Outcome::Failed(error)));
            }
        }
    }

    pub(super) fn fail_run(&mut self, error: StepError, step: Option<String>) {
        self.end_run(RunStatus::Failed);
        self.inner.error = Some((error.clone(), step.clone()));
        if let Some(flow) = self.plan.plan.on_error.clone() {
            let run = self.inner.run.as_ref();
            let input = serde_json::json!({
                "run": {
                    "id": run.map(|r| r.run_id.as_str()),
                    "flow_id": run.map(|r| r.flow_id.as_str()),
                    "flow_version": run.map(|r| r.flow_version),
                    "started_at": run.map(|r| format_rfc3339(r.started_at_ms)),
                    "failed_at": format_rfc3339(self.inner.now_ms),
                },
                "step": step,
                "error": error,
            });
            self.actions.push(Action::FailRun { error, step });
            self.actions.push(Action::StartFlow { flow, input });
        } else {
            self.actions.push(Action::FailRun { error, step });
        }
    }

    /// Marks the run finished and abandons everything still in flight.
    pub(super) fn end_run(&mut self, status: RunStatus) {
        self.inner.status = status;
        let now = self.inner.now_ms;
        for (key, record) in self.inner.steps.iter_mut() {
            if !record.status.is_finished() {
                self.touched.push(key.clone());
                record.status = StepStatus::Cancelled;
                record.finished_at_ms = Some(now);
            }
        }
        self.inner.timers.clear();
        self.inner.waiting.clear();
        self.inner.children.clear();
        self.inner.loops.clear();
        // The scopes hold every output of the run; the records keep what history needs.
        self.inner.instances.clear();
        self.queue.clear();
    }

    /// Evaluates a plan template (a JSON value with expressions at some pointers).
    pub(super) fn resolve(
        &self,
        template: &PlanTemplate,
        scope: &Scope,
        place: &str,
    ) -> Result<Value, StepError> {
        if template.bindings.is_empty() {
            return Ok(template.value.clone());
        }
        let mut value = template.value.clone();
        for binding in &template.bindings {
            let Some(compiled) = self.plan.templates.get(binding.expression as usize) else {
                continue;
            };
            // The place is only formatted when evaluation fails.
            let result = self.engine.eval(compiled, scope).map_err(|error| {
                expression_error(compiled, &format!("{place}{}", binding.pointer), &error)
            })?;
            if binding.pointer.is_empty() {
                value = result;
            } else if let Some(slot) = crate::util::pointer_mut(&mut value, &binding.pointer) {
                *slot = result;
            }
        }
        Ok(value)
    }

    pub(super) fn eval(
        &self,
        template: &aion_expr::Template,
        scope: &Scope,
        place: &str,
    ) -> Result<Value, StepError> {
        self.engine
            .eval(template, scope)
            .map_err(|error| expression_error(template, place, &error))
    }
}
