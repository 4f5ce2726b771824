//! Builds the execution plan from a document that produced no error.

use std::collections::HashMap;

use aion_dsl::model;
use aion_dsl::source::Document;
use aion_plan as plan;
use aion_types::{Duration, codes};
use serde::Deserialize;
use serde_json::Value;

use crate::Diagnostic;
use crate::expressions::Site;
use crate::graph::Graphs;

struct Builder<'a, 'b> {
    graphs: &'a Graphs<'b>,
    /// Absolute pointer → expression id.
    sites: HashMap<&'a str, plan::ExpressionId>,
    /// Absolute pointers of all sites, sorted, to find those under a prefix.
    sorted: Vec<&'a str>,
}

pub(crate) fn plan(
    document: &Document,
    graphs: &Graphs<'_>,
    sites: Vec<Site>,
    out: &mut Vec<Diagnostic>,
) -> Option<plan::Plan> {
    let root = document.value.as_object()?;
    // Only the small top-level parts are deserialized into the model: node configs stay in the
    // document and are copied once, into the plan.
    let part = |name: &str| root.get(name).unwrap_or(&Value::Null);
    let parsed = (|| {
        Ok::<_, serde_json::Error>((
            Option::<String>::deserialize(part("name"))?,
            Option::<String>::deserialize(part("description"))?,
            Option::<Vec<String>>::deserialize(part("tags"))?.unwrap_or_default(),
            Option::<Vec<model::Trigger>>::deserialize(part("triggers"))?.unwrap_or_default(),
            Option::<model::OnError>::deserialize(part("on_error"))?,
        ))
    })();
    let (name, description, tags, flow_triggers, on_error) = match parsed {
        Ok(parts) => parts,
        Err(error) => {
            // The structural pass should have caught this; report rather than panic.
            out.push(Diagnostic::new(
                codes::INVALID_VALUE,
                "",
                format!("the document does not fit the flow model: {error}"),
            ));
            return None;
        }
    };
    let flow_id = part("id").as_str().unwrap_or_default().to_owned();
    let flow_inputs = part("inputs").as_object();
    let expressions: Vec<plan::Expression> = sites
        .iter()
        .map(|site| plan::Expression {
            source: site.source.clone(),
            reads: site.reads.clone(),
        })
        .collect();
    let mut sorted: Vec<&str> = sites.iter().map(|s| s.pointer.as_str()).collect();
    sorted.sort_unstable();
    let builder = Builder {
        graphs,
        sites: sites
            .iter()
            .enumerate()
            .map(|(index, site)| (site.pointer.as_str(), index as plan::ExpressionId))
            .collect(),
        sorted,
    };
    let graph = builder.graph(0);
    let output = root
        .get("output")
        .map(|value| builder.template(value.clone(), "/output"));
    let inputs = flow_inputs.cloned().map(Value::Object);
    let input_defaults = flow_inputs
        .and_then(|schema| schema.get("properties"))
        .and_then(Value::as_object)
        .map(|properties| {
            properties
                .iter()
                .filter_map(|(name, property)| {
                    Some((name.clone(), property.get("default")?.clone()))
                })
                .collect()
        })
        .unwrap_or_default();
    let triggers = flow_triggers
        .iter()
        .map(|trigger| match trigger {
            model::Trigger::Cron { schedule, timezone } => plan::Trigger::Cron {
                schedule: schedule.split_whitespace().collect::<Vec<_>>().join(" "),
                timezone: timezone.clone().unwrap_or_else(|| "UTC".into()),
            },
            model::Trigger::Webhook {
                path,
                respond,
                secret,
            } => plan::Trigger::Webhook {
                path: path.clone(),
                respond: match respond {
                    model::Respond::OnFinish => "on_finish".into(),
                    model::Respond::Immediately => "immediately".into(),
                },
                secret: secret.clone(),
            },
        })
        .collect();
    let plan = plan::Plan {
        format: plan::FORMAT_VERSION,
        hash: String::new(),
        flow: plan::FlowInfo {
            name: name.unwrap_or_else(|| flow_id.clone()),
            id: flow_id,
            description: description.unwrap_or_default(),
            tags,
        },
        inputs,
        input_defaults,
        triggers,
        expressions,
        graph,
        output,
        on_error: on_error.map(|o| o.flow),
    };
    Some(plan.seal())
}

impl Builder<'_, '_> {
    fn graph(&self, index: usize) -> plan::Graph {
        let graph = &self.graphs.graphs[index];
        // Links per step, built in one pass over the edges, in edge order.
        let mut links: Vec<(Vec<plan::Link>, Vec<plan::Link>)> =
            vec![Default::default(); graph.nodes.len()];
        for edge in &graph.edges {
            let link = |step: usize| plan::Link {
                step: step as plan::StepIndex,
                port: edge.port.clone(),
            };
            links[edge.to].0.push(link(edge.from));
            links[edge.from].1.push(link(edge.to));
        }
        let steps = graph
            .nodes
            .iter()
            .zip(links)
            .map(|(&global, (inputs, outputs))| self.step(global, inputs, outputs))
            .collect();
        plan::Graph {
            steps,
            order: graph.order.iter().map(|&l| l as plan::StepIndex).collect(),
        }
    }

    fn step(&self, global: usize, inputs: Vec<plan::Link>, outputs: Vec<plan::Link>) -> plan::Step {
        let node = &self.graphs.nodes[global];
        let field = |name: &str| node.value.and_then(|v| v.get(name));
        let manifest = node.manifest;
        let mut config = node
            .config()
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()));
        if let (Some(manifest), Value::Object(map)) = (manifest, &mut config)
            && let Some(properties) = manifest
                .config_schema
                .get("properties")
                .and_then(Value::as_object)
        {
            for (name, property) in properties {
                if let Some(default) = property.get("default") {
                    map.entry(name.clone()).or_insert_with(|| default.clone());
                }
            }
        }
        let ports = manifest.map(|m| m.ports.ports(&config)).unwrap_or_default();
        let typed_retry = field("retry").and_then(|v| model::Retry::deserialize(v).ok());
        let retry = typed_retry.map_or_else(plan::Retry::default, |r| {
            let defaults = plan::Retry::default();
            plan::Retry {
                max_attempts: r.max_attempts,
                backoff: match r.backoff {
                    model::Backoff::Fixed => plan::Backoff::Fixed,
                    model::Backoff::Exponential => plan::Backoff::Exponential,
                },
                initial_ms: millis(r.initial.as_deref()).unwrap_or(defaults.initial_ms),
                max_ms: millis(r.max.as_deref()).unwrap_or(defaults.max_ms),
                jitter: r.jitter,
            }
        });
        let typed_cache = field("cache").and_then(|v| model::Cache::deserialize(v).ok());
        let cache = typed_cache.as_ref().map(|c| plan::Cache {
            ttl_ms: millis(Some(&c.ttl)).unwrap_or(0),
            key: self
                .sites
                .get(format!("{}/cache/key", node.pointer).as_str())
                .copied(),
        });
        let body = node.body.map(|body_index| plan::Body {
            graph: self.graph(body_index),
            output: self.graphs.graphs[body_index].output.map(|value| {
                self.template(
                    value.clone(),
                    &format!("{}/output", self.graphs.graphs[body_index].pointer),
                )
            }),
        });
        plan::Step {
            id: node.id.unwrap_or_default().to_owned(),
            node_type: node.node_type().unwrap_or_default().to_owned(),
            node_version: manifest.map_or(1, |m| m.version),
            config: self.template(config, &format!("{}/config", node.pointer)),
            credential: field("credential")
                .and_then(Value::as_str)
                .map(str::to_owned),
            side_effects: manifest.is_some_and(|m| m.side_effects),
            ports,
            inputs,
            outputs,
            retry,
            timeout_ms: millis(field("timeout").and_then(Value::as_str)),
            cache,
            body,
        }
    }

    /// A template for the value found at `base` in the document: every expression site under
    /// `base` becomes a binding with a pointer relative to the value.
    fn template(&self, value: Value, base: &str) -> plan::Template {
        let start = self.sorted.partition_point(|p| *p < base);
        let mut bindings: Vec<plan::Binding> = self.sorted[start..]
            .iter()
            .take_while(|p| p.starts_with(base))
            .filter_map(|p| {
                let relative = &p[base.len()..];
                if !relative.is_empty() && !relative.starts_with('/') {
                    return None; // A sibling sharing the prefix, such as `/outputs`.
                }
                Some(plan::Binding {
                    pointer: relative.to_owned(),
                    expression: *self.sites.get(p)?,
                })
            })
            .collect();
        bindings.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        plan::Template { value, bindings }
    }
}

fn millis(text: Option<&str>) -> Option<u64> {
    Duration::parse(text?).ok().map(Duration::as_millis)
}
