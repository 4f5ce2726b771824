//! The expression pass: compiles every `{{ }}` string of the flow once, and checks what each
//! expression reads: known variables only, `steps.<id>` only for nodes upstream of the reader,
//! `item`/`index` only inside a loop body. Also compiles literal jq programs of
//! `core.transform`, and proves simple type mismatches (a loop over a number).

use aion_dsl::source::escape_pointer_token;
use aion_types::codes;
use serde_json::{Map, Value};

use crate::graph::Graphs;
use crate::{Compiler, Diagnostic, suggest};

/// The variables an expression may read.
pub(crate) const ROOTS: &[&str] = &["inputs", "steps", "trigger", "item", "index", "run", "vars"];
/// The fields of `steps.<id>`.
const STEP_FIELDS: &[&str] = &["output", "error", "status"];

/// One expression of the document.
pub(crate) struct Site {
    /// Absolute JSON Pointer of the string.
    pub pointer: String,
    /// The string as written.
    pub source: String,
    /// Variable paths read, dotted.
    pub reads: Vec<String>,
}

/// Who evaluates an expression: a node (its config, its cache key) or the end of a graph (the
/// flow's or a loop body's `output`).
#[derive(Clone, Copy)]
struct Reader {
    graph: usize,
    node: Option<usize>,
}

struct Pass<'a, 'b> {
    compiler: &'a Compiler,
    graphs: &'a Graphs<'b>,
    inputs: Option<&'a Map<String, Value>>,
    sites: Vec<Site>,
    out: &'a mut Vec<Diagnostic>,
}

pub(crate) fn check(
    compiler: &Compiler,
    graphs: &Graphs<'_>,
    inputs: Option<&Map<String, Value>>,
    out: &mut Vec<Diagnostic>,
) -> Vec<Site> {
    let mut pass = Pass {
        compiler,
        graphs,
        inputs,
        sites: Vec::new(),
        out,
    };
    for (index, node) in graphs.nodes.iter().enumerate() {
        let reader = Reader {
            graph: node.graph,
            node: Some(index),
        };
        if let Some(config) = node.config() {
            pass.walk(config, &format!("{}/config", node.pointer), reader);
        }
        if let Some(key) = node
            .value
            .and_then(|v| v.get("cache"))
            .and_then(|c| c.get("key"))
        {
            pass.walk(key, &format!("{}/cache/key", node.pointer), reader);
        }
        pass.check_node_specifics(index);
    }
    for (index, graph) in graphs.graphs.iter().enumerate() {
        if let Some(output) = graph.output {
            let reader = Reader {
                graph: index,
                node: None,
            };
            pass.walk(output, &format!("{}/output", graph.pointer), reader);
        }
    }
    pass.sites
}

impl Pass<'_, '_> {
    fn walk(&mut self, value: &Value, pointer: &str, reader: Reader) {
        let mut buffer = String::with_capacity(pointer.len() + 32);
        buffer.push_str(pointer);
        self.walk_into(value, &mut buffer, reader);
    }

    /// Walks with one pointer buffer, extended and truncated in place: most values hold no
    /// expression, so building a pointer string for each would dominate the pass.
    fn walk_into(&mut self, value: &Value, pointer: &mut String, reader: Reader) {
        match value {
            Value::String(text) if text.contains("{{") => {
                let pointer = pointer.clone();
                self.expression(text, &pointer, reader);
            }
            Value::Array(items) => {
                let length = pointer.len();
                for (index, item) in items.iter().enumerate() {
                    if is_walkable(item) {
                        use std::fmt::Write as _;
                        let _ = write!(pointer, "/{index}");
                        self.walk_into(item, pointer, reader);
                        pointer.truncate(length);
                    }
                }
            }
            Value::Object(map) => {
                let length = pointer.len();
                for (key, item) in map {
                    if is_walkable(item) {
                        pointer.push('/');
                        if key.contains(['~', '/']) {
                            pointer.push_str(&escape_pointer_token(key));
                        } else {
                            pointer.push_str(key);
                        }
                        self.walk_into(item, pointer, reader);
                        pointer.truncate(length);
                    }
                }
            }
            _ => {}
        }
    }

    fn expression(&mut self, text: &str, pointer: &str, reader: Reader) {
        let template = match self.compiler.engine().compile(text) {
            Ok(template) => template,
            Err(error) => {
                let diagnostic = match error.kind() {
                    aion_expr::ErrorKind::UnknownVariable => {
                        Diagnostic::new(codes::UNKNOWN_VARIABLE, pointer, error.to_string())
                            .hint("expressions read `inputs`, `steps.<id>`, `trigger`, `vars`, `run`, and `item`/`index` in loop bodies")
                    }
                    aion_expr::ErrorKind::UnknownFilter => {
                        let name = match &error {
                            aion_expr::CompileError::UnknownFilter { name, .. } => name.as_str(),
                            _ => "",
                        };
                        let hint = match suggest::closest(name, aion_expr::FILTERS.iter().copied()) {
                            Some(best) => format!("did you mean `{best}`?"),
                            None => "filters include `default`, `length`, `upper`, `lower`, \
                                     `round`, `join`, `map`, `select`, `tojson`; see docs/flows.md"
                                .to_owned(),
                        };
                        Diagnostic::new(codes::EXPRESSION_SYNTAX, pointer, error.to_string())
                            .hint(hint)
                    }
                    aion_expr::ErrorKind::UnknownTest => {
                        let name = match &error {
                            aion_expr::CompileError::UnknownTest { name, .. } => name.as_str(),
                            _ => "",
                        };
                        Diagnostic::new(codes::EXPRESSION_SYNTAX, pointer, error.to_string())
                            .hint(suggest::hint(name, aion_expr::TESTS, "tests"))
                    }
                    _ => Diagnostic::new(
                    codes::EXPRESSION_SYNTAX,
                    pointer,
                    error.to_string().replacen(": syntax error: ", ": ", 1),
                )
                .hint(
                        "expressions use Jinja syntax: `{{ steps.fetch.output.body.price * 2 }}`, \
                         `{{ inputs.name | upper }}`",
                    ),
                };
                self.out.push(diagnostic.at_offset(error.offset()));
                return;
            }
        };
        let mut reads = Vec::new();
        for path in template.references() {
            let dotted = std::iter::once(path.root.as_str())
                .chain(path.segments.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(".");
            self.reference(&path.root, &path.segments, &dotted, pointer, reader);
            reads.push(dotted);
        }
        reads.sort();
        reads.dedup();
        self.sites.push(Site {
            pointer: pointer.to_owned(),
            source: text.to_owned(),
            reads,
        });
    }

    fn reference(
        &mut self,
        root: &str,
        segments: &[String],
        dotted: &str,
        pointer: &str,
        reader: Reader,
    ) {
        match root {
            "steps" => self.step_reference(segments, dotted, pointer, reader),
            "item" | "index" => {
                if self.graphs.graphs[reader.graph].owner.is_none() {
                    self.out.push(
                        Diagnostic::new(
                            codes::LOOP_VARIABLE_OUTSIDE_LOOP,
                            pointer,
                            format!("`{root}` exists only inside the body of a `core.foreach`"),
                        )
                        .hint("move this node into a loop body, or read a list with `steps.<id>.output`"),
                    );
                }
            }
            "inputs" => self.input_reference(segments, pointer),
            known if ROOTS.contains(&known) => {}
            unknown => self.out.push(
                Diagnostic::new(
                    codes::UNKNOWN_VARIABLE,
                    pointer,
                    format!("`{unknown}` is not a variable expressions can read"),
                )
                .hint(suggest::hint(unknown, ROOTS, "variables")),
            ),
        }
    }

    fn input_reference(&mut self, segments: &[String], pointer: &str) {
        let (Some(schema), Some(name)) = (self.inputs, segments.first()) else {
            return;
        };
        let properties = schema.get("properties").and_then(Value::as_object);
        let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
        if closed && !properties.is_some_and(|p| p.contains_key(name)) {
            let names: Vec<&str> = properties
                .map(|p| p.keys().map(String::as_str).collect())
                .unwrap_or_default();
            self.out.push(
                Diagnostic::new(
                    codes::UNKNOWN_VARIABLE,
                    pointer,
                    format!("`inputs.{name}` is not declared in `inputs`, which allows no other properties"),
                )
                .hint(suggest::hint(name, &names, "inputs")),
            );
        }
    }

    fn step_reference(&mut self, segments: &[String], dotted: &str, pointer: &str, reader: Reader) {
        let Some(step) = segments.first() else {
            return; // `steps` as a whole: nothing precise to check.
        };
        let graphs = self.graphs;
        let Some(&target) = graphs.by_id.get(step.as_str()) else {
            let ids: Vec<&str> = graphs.by_id.keys().copied().collect();
            self.out.push(
                Diagnostic::new(
                    codes::STEP_NOT_UPSTREAM,
                    pointer,
                    format!("`{dotted}` names no node: there is no node `{step}`"),
                )
                .hint(suggest::hint(step, &ids, "node ids")),
            );
            return;
        };
        if let Some(field) = segments.get(1)
            && !STEP_FIELDS.contains(&field.as_str())
        {
            self.out.push(
                    Diagnostic::new(
                        codes::UNKNOWN_STEP_FIELD,
                        pointer,
                        format!("`steps.{step}.{field}` does not exist"),
                    )
                    .hint(match suggest::closest(field, STEP_FIELDS.iter().copied()) {
                        Some(best) => format!("did you mean `steps.{step}.{best}`?"),
                        None => format!(
                            "a step has `output`, `error` and `status`; did you mean `steps.{step}.output.{field}`?"
                        ),
                    }),
                );
        }
        match self.visibility(reader, target) {
            Visibility::Upstream { graph, reader_local } => {
                if segments.get(1).map(String::as_str) == Some("error") {
                    self.check_error_route(graph, target, reader_local, step, pointer);
                }
            }
            Visibility::Skip => {}
            Visibility::Itself => self.out.push(
                Diagnostic::new(
                    codes::STEP_NOT_UPSTREAM,
                    pointer,
                    format!("`{step}` cannot read its own result"),
                )
                .hint("a node's config is resolved before it runs"),
            ),
            Visibility::OwnLoop => self.out.push(
                Diagnostic::new(
                    codes::STEP_NOT_UPSTREAM,
                    pointer,
                    format!("`{step}` is the loop this expression runs in; its output exists only after every item is done"),
                )
                .hint("inside the body, read the current `item` and `index`, or earlier body steps"),
            ),
            Visibility::NotUpstream => self.out.push(
                Diagnostic::new(
                    codes::STEP_NOT_UPSTREAM,
                    pointer,
                    format!(
                        "`{dotted}` reads `{step}`, which is not upstream of {}",
                        self.describe_reader(reader)
                    ),
                )
                .hint(format!(
                    "add an edge path from `{step}` to this node, so `{step}` has finished when it runs"
                )),
            ),
            Visibility::InsideLoop(owner) => self.out.push(
                Diagnostic::new(
                    codes::STEP_NOT_UPSTREAM,
                    pointer,
                    format!(
                        "`{step}` runs inside the loop body of `{}`, once per item, so it cannot be read from here",
                        graphs.nodes[owner].id.unwrap_or("?")
                    ),
                )
                .hint(format!(
                    "read the loop's result instead: `steps.{}.output`",
                    graphs.nodes[owner].id.unwrap_or("?")
                )),
            ),
        }
    }

    fn describe_reader(&self, reader: Reader) -> String {
        match reader.node {
            Some(node) => format!("`{}`", self.graphs.nodes[node].id.unwrap_or("this node")),
            None if self.graphs.graphs[reader.graph].owner.is_some() => {
                "the loop body's output".into()
            }
            None => "the flow's output".into(),
        }
    }

    /// Whether `target` has finished whenever `reader` evaluates. Climbs from the reader's graph
    /// through enclosing loop bodies until it reaches the target's graph.
    fn visibility(&self, reader: Reader, target: usize) -> Visibility {
        let graphs = self.graphs;
        let target_graph = graphs.nodes[target].graph;
        let target_local = graphs.nodes[target].local;
        let mut graph = reader.graph;
        let mut local = reader.node.map(|n| graphs.nodes[n].local);
        let mut first = true;
        loop {
            if graph == target_graph {
                if !graphs.graphs[graph].acyclic {
                    return Visibility::Skip; // The cycle is the real problem.
                }
                return match local {
                    None => Visibility::Upstream {
                        graph,
                        reader_local: None,
                    },
                    Some(l) if l == target_local && first => Visibility::Itself,
                    Some(l) if l == target_local => Visibility::OwnLoop,
                    Some(l) if graphs.is_upstream(graph, target_local, l) => Visibility::Upstream {
                        graph,
                        reader_local: Some(l),
                    },
                    Some(_) => Visibility::NotUpstream,
                };
            }
            let Some(owner) = graphs.graphs[graph].owner else {
                break;
            };
            graph = graphs.nodes[owner].graph;
            local = Some(graphs.nodes[owner].local);
            first = false;
        }
        match graphs.graphs[target_graph].owner {
            Some(owner) => Visibility::InsideLoop(owner),
            None => Visibility::NotUpstream,
        }
    }

    /// Warns when `steps.<id>.error` is read where no error edge of `<id>` leads.
    fn check_error_route(
        &mut self,
        graph: usize,
        target: usize,
        reader_local: Option<usize>,
        step: &str,
        pointer: &str,
    ) {
        let graphs = self.graphs;
        let target_local = graphs.nodes[target].local;
        let routed = graphs.graphs[graph].edges.iter().any(|edge| {
            edge.from == target_local
                && edge.port == aion_node_sdk::ERROR_PORT
                && reader_local
                    .is_none_or(|r| r == edge.to || graphs.is_upstream(graph, edge.to, r))
        });
        if !routed {
            self.out.push(
                Diagnostic::new(
                    codes::ERROR_NOT_ROUTED,
                    pointer,
                    format!("`steps.{step}.error` is read, but no `error` edge of `{step}` leads here"),
                )
                .hint(format!(
                    "without an edge `{{ from: {step}, port: error, to: … }}` a failure of `{step}` fails the run, so this is always undefined"
                )),
            );
        }
    }

    /// Checks specific to some node types: literal jq programs and loops over non-lists.
    fn check_node_specifics(&mut self, index: usize) {
        let node = &self.graphs.nodes[index];
        let Some(config) = node.config() else { return };
        match node.node_type() {
            Some("core.transform") => {
                if let Some(Value::String(program)) = config.get("program")
                    && !program.contains("{{")
                    && !program.trim().is_empty()
                    && let Err(error) = self.compiler.engine().compile_jq(program)
                {
                    self.out.push(
                        Diagnostic::new(
                            codes::JQ_SYNTAX,
                            self.graphs.config_pointer(index, "program"),
                            format!("the jq program does not compile: {error}"),
                        )
                        .hint("jq syntax: `.items | map(select(.active)) | length`"),
                    );
                }
            }
            Some("core.foreach") => {
                if let Some(Value::String(items)) = config.get("items")
                    && let Some(found) = self.proven_type(items)
                    && found != "array"
                {
                    self.out.push(
                        Diagnostic::new(
                            codes::TYPE_MISMATCH,
                            self.graphs.config_pointer(index, "items"),
                            format!(
                                "`core.foreach` needs a list, but `{}` is {}",
                                items.trim(),
                                article(found)
                            ),
                        )
                        .hint("loop over a list, e.g. `{{ steps.users.output.body }}`"),
                    );
                }
            }
            _ => {}
        }
    }

    /// The JSON type an expression provably has, for the simple forms `{{ inputs.x }}` (from the
    /// input schema) and `{{ steps.s.output }}` of a `core.set` with a literal value.
    fn proven_type(&self, text: &str) -> Option<&'static str> {
        let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
        if !inner
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
        {
            return None;
        }
        let parts: Vec<&str> = inner.split('.').collect();
        match parts.as_slice() {
            ["inputs", name] => {
                let declared = self
                    .inputs?
                    .get("properties")?
                    .get(*name)?
                    .get("type")?
                    .as_str()?;
                Some(match declared {
                    "array" => "array",
                    "object" => "object",
                    "string" => "string",
                    "number" | "integer" => "number",
                    "boolean" => "boolean",
                    _ => return None,
                })
            }
            ["steps", step, "output"] => {
                let node = &self.graphs.nodes[*self.graphs.by_id.get(step)?];
                if node.node_type() != Some("core.set") {
                    return None;
                }
                let value = node.config()?.get("value")?;
                Some(match value {
                    Value::String(s) if s.contains("{{") => return None,
                    Value::Array(_) => "array",
                    Value::Object(_) => "object",
                    Value::String(_) => "string",
                    Value::Number(_) => "number",
                    Value::Bool(_) => "boolean",
                    Value::Null => "null",
                })
            }
            _ => None,
        }
    }
}

/// Only strings and containers can hold expressions.
fn is_walkable(value: &Value) -> bool {
    matches!(value, Value::Array(_) | Value::Object(_) | Value::String(_))
}

enum Visibility {
    /// The reader is inside the body of the loop it reads.
    OwnLoop,
    Upstream {
        graph: usize,
        reader_local: Option<usize>,
    },
    Itself,
    NotUpstream,
    InsideLoop(usize),
    Skip,
}

fn article(json_type: &str) -> &'static str {
    match json_type {
        "object" => "a mapping",
        "string" => "a string",
        "number" => "a number",
        "boolean" => "a boolean",
        "null" => "null",
        _ => "a value",
    }
}
