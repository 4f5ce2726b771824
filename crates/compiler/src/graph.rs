//! The graph pass: collects nodes (including loop bodies) and edges, checks ids, types, edges and
//! ports, finds cycles, and computes the topological order and upstream sets that later passes
//! use to check `steps.<id>` references.

use std::collections::{BTreeSet, HashMap, HashSet};

use aion_dsl::source::escape_pointer_token;
use aion_node_sdk::{Catalog, ERROR_PORT, Manifest};
use aion_types::{codes, id};
use petgraph::graph::DiGraph;
use serde_json::{Map, Value};

use crate::{Diagnostic, suggest};

/// A node as far as it could be understood.
pub(crate) struct NodeRef<'a> {
    pub pointer: String,
    pub value: Option<&'a Map<String, Value>>,
    pub id: Option<&'a str>,
    pub manifest: Option<&'a Manifest>,
    /// The graph this node belongs to.
    pub graph: usize,
    /// Its index within that graph.
    pub local: usize,
    /// The graph of its loop body, if it has one.
    pub body: Option<usize>,
}

impl<'a> NodeRef<'a> {
    pub fn config(&self) -> Option<&'a Value> {
        self.value?.get("config")
    }

    pub fn node_type(&self) -> Option<&'a str> {
        self.value?.get("type")?.as_str()
    }
}

/// An edge whose ends were both found.
pub(crate) struct EdgeRef {
    pub from: usize,
    pub port: String,
    pub to: usize,
}

/// The top level of the flow, or a loop body.
pub(crate) struct GraphRef<'a> {
    pub pointer: String,
    /// The `core.foreach` node owning this body.
    pub owner: Option<usize>,
    /// Global node indexes, in document order.
    pub nodes: Vec<usize>,
    pub edges: Vec<EdgeRef>,
    /// The body's (or flow's) `output`.
    pub output: Option<&'a Value>,
    /// The raw `edges` list.
    edges_value: Option<&'a Value>,
    /// Local indexes in topological order; empty when the graph has a cycle.
    pub order: Vec<usize>,
    /// For each local node, the local nodes upstream of it (bit set).
    pub upstream: Vec<Vec<u64>>,
    pub acyclic: bool,
}

/// Every node and graph of a flow.
pub(crate) struct Graphs<'a> {
    pub nodes: Vec<NodeRef<'a>>,
    pub graphs: Vec<GraphRef<'a>>,
    pub by_id: HashMap<&'a str, usize>,
}

/// Collects nodes and edges and reports id, type, edge and port problems.
pub(crate) fn collect<'a>(
    root: &'a Map<String, Value>,
    catalog: &'a Catalog,
    out: &mut Vec<Diagnostic>,
) -> Graphs<'a> {
    let mut graphs = Graphs {
        nodes: Vec::new(),
        graphs: Vec::new(),
        by_id: HashMap::new(),
    };
    collect_graph(&mut graphs, root, String::new(), None, catalog, out);
    for index in 0..graphs.graphs.len() {
        let edges = resolve_edges(&graphs, index, out);
        graphs.graphs[index].edges = edges;
    }
    graphs
}

fn collect_graph<'a>(
    graphs: &mut Graphs<'a>,
    object: &'a Map<String, Value>,
    pointer: String,
    owner: Option<usize>,
    catalog: &'a Catalog,
    out: &mut Vec<Diagnostic>,
) -> usize {
    let graph_index = graphs.graphs.len();
    graphs.graphs.push(GraphRef {
        pointer: pointer.clone(),
        owner,
        nodes: Vec::new(),
        edges: Vec::new(),
        output: object.get("output"),
        edges_value: object.get("edges"),
        order: Vec::new(),
        upstream: Vec::new(),
        acyclic: true,
    });
    let Some(list) = object.get("nodes").and_then(Value::as_array) else {
        return graph_index;
    };
    for (position, raw) in list.iter().enumerate() {
        let node_pointer = format!("{pointer}/nodes/{position}");
        let value = raw.as_object();
        let node_id = value.and_then(|v| v.get("id")).and_then(Value::as_str);
        let node_type = value.and_then(|v| v.get("type")).and_then(Value::as_str);
        let manifest = node_type.and_then(|t| catalog.get(t));
        let global = graphs.nodes.len();
        let local = graphs.graphs[graph_index].nodes.len();
        if let Some(node_id) = node_id {
            check_node_id(node_id, &node_pointer, out);
            if let Some(first) = graphs.by_id.get(node_id) {
                let first_pointer = &graphs.nodes[*first].pointer;
                out.push(
                    Diagnostic::new(
                        codes::DUPLICATE_NODE_ID,
                        format!("{node_pointer}/id"),
                        format!("node id `{node_id}` is already used by {first_pointer}"),
                    )
                    .hint("node ids must be unique in the whole flow, loop bodies included"),
                );
            } else {
                graphs.by_id.insert(node_id, global);
            }
        }
        if let Some(node_type) = node_type
            && manifest.is_none()
        {
            let hint = if id::is_node_type(node_type) {
                match catalog.suggest(node_type) {
                    Some(best) => {
                        format!("did you mean `{best}`? `aion nodes` lists every type")
                    }
                    None => "`aion nodes` lists every node type".to_owned(),
                }
            } else {
                "a node type is `namespace.action`, e.g. `core.set`; `aion nodes` lists them"
                    .to_owned()
            };
            out.push(
                Diagnostic::new(
                    codes::UNKNOWN_NODE_TYPE,
                    format!("{node_pointer}/type"),
                    format!("unknown node type `{node_type}`"),
                )
                .hint(hint),
            );
        }
        graphs.nodes.push(NodeRef {
            pointer: node_pointer.clone(),
            value,
            id: node_id,
            manifest,
            graph: graph_index,
            local,
            body: None,
        });
        graphs.graphs[graph_index].nodes.push(global);
        let body = value.and_then(|v| v.get("body"));
        let has_body = manifest.is_some_and(|m| m.has_body);
        match (body, manifest) {
            (Some(Value::Object(body)), Some(m)) if m.has_body => {
                let body_index =
                    collect_graph(graphs, body, format!("{node_pointer}/body"), Some(global), catalog, out);
                graphs.nodes[global].body = Some(body_index);
            }
            (Some(Value::Object(body)), manifest) => {
                if let Some(manifest) = manifest {
                    out.push(
                        Diagnostic::new(
                            codes::INVALID_BODY,
                            format!("{node_pointer}/body"),
                            format!("`{}` nodes have no loop body", manifest.node_type),
                        )
                        .hint("only `core.foreach` takes a `body`; move these nodes to the top level"),
                    );
                }
                // Collect the body anyway so its nodes' ids are known and edges to them do not
                // produce a second, misleading error.
                let body_index =
                    collect_graph(graphs, body, format!("{node_pointer}/body"), Some(global), catalog, out);
                graphs.nodes[global].body = Some(body_index);
            }
            (None, _) if has_body => out.push(
                Diagnostic::new(
                    codes::INVALID_BODY,
                    node_pointer.clone(),
                    "a `core.foreach` needs a `body` with the nodes to run per item",
                )
                .hint("add `body: { nodes: [...], edges: [...], output: \"{{ steps.<id>.output }}\" }`"),
            ),
            _ => {}
        }
    }
    graph_index
}

fn check_node_id(node_id: &str, pointer: &str, out: &mut Vec<Diagnostic>) {
    if !id::is_node_id(node_id) {
        let mut suggestion: String = node_id
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(id::MAX_NODE_ID_LEN)
            .collect();
        if suggestion.starts_with(|c: char| c.is_ascii_digit()) {
            suggestion.insert(0, '_');
            suggestion.truncate(id::MAX_NODE_ID_LEN);
        }
        if !id::is_node_id(&suggestion) {
            suggestion = "my_node".into();
        }
        out.push(
            Diagnostic::new(
                codes::INVALID_NODE_ID,
                format!("{pointer}/id"),
                format!("`{node_id}` is not a valid node id"),
            )
            .hint(format!(
                "node ids use lowercase letters, digits and `_`, start with a letter or `_`, \
                 and have at most {} characters (e.g. `{suggestion}`)",
                id::MAX_NODE_ID_LEN
            )),
        );
    }
}

fn resolve_edges(
    graphs: &Graphs<'_>,
    graph_index: usize,
    out: &mut Vec<Diagnostic>,
) -> Vec<EdgeRef> {
    let graph = &graphs.graphs[graph_index];
    let Some(list) = graph.edges_value.and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut seen: HashSet<(usize, String, usize)> = HashSet::new();
    let mut local_ids = HashMap::new();
    for &global in &graph.nodes {
        if let Some(id) = graphs.nodes[global].id {
            local_ids.entry(id).or_insert(global);
        }
    }
    let scope = EdgeScope {
        graphs,
        graph_index,
        local_ids,
    };
    let mut resolved = Vec::new();
    for (position, raw) in list.iter().enumerate() {
        let pointer = format!("{}/edges/{position}", graph.pointer);
        let Some(edge) = raw.as_object() else {
            continue; // The structural pass reported it.
        };
        let from = edge.get("from").and_then(Value::as_str);
        let to = edge.get("to").and_then(Value::as_str);
        let port = match edge.get("port") {
            None => Some(aion_node_sdk::DEFAULT_PORT),
            Some(value) => value.as_str(),
        };
        let from =
            from.and_then(|name| endpoint(&scope, name, &format!("{pointer}/from"), true, out));
        let to = to.and_then(|name| endpoint(&scope, name, &format!("{pointer}/to"), false, out));
        let (Some(from), Some(to), Some(port)) = (from, to, port) else {
            continue;
        };
        let source = &graphs.nodes[from];
        if let Some(manifest) = source.manifest {
            let mut ports = manifest
                .ports
                .ports(source.config().unwrap_or(&Value::Null));
            ports.push(ERROR_PORT.to_owned());
            if !ports.iter().any(|p| p == port) {
                let names: Vec<&str> = ports.iter().map(String::as_str).collect();
                out.push(
                    Diagnostic::new(
                        codes::EDGE_UNKNOWN_PORT,
                        if edge.contains_key("port") {
                            format!("{pointer}/port")
                        } else {
                            pointer.clone()
                        },
                        format!(
                            "`{}` ({}) has no output port `{port}`",
                            source.id.unwrap_or("?"),
                            manifest.node_type
                        ),
                    )
                    .hint(suggest::hint(port, &names, "ports")),
                );
                continue;
            }
        }
        let key = (
            graphs.nodes[from].local,
            port.to_owned(),
            graphs.nodes[to].local,
        );
        if !seen.insert(key.clone()) {
            out.push(
                Diagnostic::new(
                    codes::DUPLICATE_EDGE,
                    pointer,
                    format!(
                        "this edge from `{}` to `{}` is already in the list",
                        graphs.nodes[from].id.unwrap_or("?"),
                        graphs.nodes[to].id.unwrap_or("?")
                    ),
                )
                .hint("remove the repeated edge"),
            );
            continue;
        }
        resolved.push(EdgeRef {
            from: key.0,
            port: key.1,
            to: key.2,
        });
    }
    resolved
}

/// What resolving an edge end needs to know about its graph.
struct EdgeScope<'g, 'a> {
    graphs: &'g Graphs<'a>,
    graph_index: usize,
    /// Ids of this graph's own nodes.
    local_ids: HashMap<&'a str, usize>,
}

/// Resolves one end of an edge to a global node index in the scope's graph.
fn endpoint(
    scope: &EdgeScope<'_, '_>,
    name: &str,
    pointer: &str,
    is_source: bool,
    out: &mut Vec<Diagnostic>,
) -> Option<usize> {
    let (graphs, graph_index, local_ids) = (scope.graphs, scope.graph_index, &scope.local_ids);
    // A node of this graph wins over a same-named node elsewhere (a duplicate id, already
    // reported), so one mistake does not cascade into edge errors.
    match local_ids.get(name).or_else(|| graphs.by_id.get(name)) {
        Some(&global) if graphs.nodes[global].graph == graph_index => Some(global),
        Some(&global) => {
            let inside = graphs.graphs[graphs.nodes[global].graph].pointer.clone();
            let here = &graphs.graphs[graph_index].pointer;
            out.push(
                Diagnostic::new(
                    codes::EDGE_CROSSES_LOOP,
                    pointer,
                    format!(
                        "`{name}` belongs to {}, but this edge is in {}",
                        describe_graph(&inside),
                        describe_graph(here)
                    ),
                )
                .hint(
                    "edges connect nodes of the same graph; a loop body reads outer steps \
                     through expressions, and the outside reads the loop's output",
                ),
            );
            None
        }
        None => {
            let (code, what) = if is_source {
                (codes::EDGE_UNKNOWN_SOURCE, "from")
            } else {
                (codes::EDGE_UNKNOWN_TARGET, "to")
            };
            let local_ids: Vec<&str> = graphs.graphs[graph_index]
                .nodes
                .iter()
                .filter_map(|g| graphs.nodes[*g].id)
                .collect();
            out.push(
                Diagnostic::new(
                    code,
                    pointer,
                    format!("edge goes {what} unknown node `{name}`"),
                )
                .hint(suggest::hint(name, &local_ids, "node ids")),
            );
            None
        }
    }
}

fn describe_graph(pointer: &str) -> String {
    if pointer.is_empty() {
        "the top level of the flow".into()
    } else {
        format!("the loop body at `{pointer}`")
    }
}

impl Graphs<'_> {
    /// Finds cycles and computes orders and upstream sets for every graph.
    pub(crate) fn analyse(&mut self, out: &mut Vec<Diagnostic>) {
        for index in 0..self.graphs.len() {
            self.analyse_graph(index, out);
        }
    }

    fn analyse_graph(&mut self, index: usize, out: &mut Vec<Diagnostic>) {
        let size = self.graphs[index].nodes.len();
        let mut digraph: DiGraph<(), ()> =
            DiGraph::with_capacity(size, self.graphs[index].edges.len());
        for _ in 0..size {
            digraph.add_node(());
        }
        let mut successors: Vec<Vec<usize>> = vec![Vec::new(); size];
        let mut predecessors: Vec<Vec<usize>> = vec![Vec::new(); size];
        for edge in &self.graphs[index].edges {
            digraph.add_edge((edge.from as u32).into(), (edge.to as u32).into(), ());
            if !successors[edge.from].contains(&edge.to) {
                successors[edge.from].push(edge.to);
                predecessors[edge.to].push(edge.from);
            }
        }
        let mut acyclic = true;
        for component in petgraph::algo::tarjan_scc(&digraph) {
            let is_cycle = component.len() > 1
                || component
                    .first()
                    .is_some_and(|n| successors[n.index()].contains(&n.index()));
            if !is_cycle {
                continue;
            }
            acyclic = false;
            let members: BTreeSet<usize> = component.iter().map(|n| n.index()).collect();
            let path = cycle_path(&members, &successors);
            let names: Vec<&str> = path
                .iter()
                .map(|local| {
                    self.nodes[self.graphs[index].nodes[*local]]
                        .id
                        .unwrap_or("?")
                })
                .collect();
            let first = self.graphs[index].nodes[path[0]];
            out.push(
                Diagnostic::new(
                    codes::CYCLE,
                    self.nodes[first].pointer.clone(),
                    format!("these nodes form a cycle: {}", names.join(" → ")),
                )
                .hint(
                    "flows are acyclic; to repeat work use `core.foreach`, or start the flow \
                     again with `core.subflow`",
                ),
            );
        }
        let graph = &mut self.graphs[index];
        graph.acyclic = acyclic;
        if !acyclic {
            return;
        }
        // Kahn's algorithm, taking the lowest document index first, so the order is stable.
        let mut indegree: Vec<usize> = predecessors.iter().map(Vec::len).collect();
        let mut ready: BTreeSet<usize> = (0..size).filter(|n| indegree[*n] == 0).collect();
        let words = size.div_ceil(64);
        let mut upstream = vec![vec![0u64; words]; size];
        let mut order = Vec::with_capacity(size);
        while let Some(node) = ready.pop_first() {
            order.push(node);
            for &next in &successors[node] {
                let (source, target) = if node < next {
                    let (left, right) = upstream.split_at_mut(next);
                    (&left[node], &mut right[0])
                } else {
                    let (left, right) = upstream.split_at_mut(node);
                    (&right[0], &mut left[next])
                };
                for (t, s) in target.iter_mut().zip(source.iter()) {
                    *t |= *s;
                }
                target[node / 64] |= 1 << (node % 64);
                indegree[next] -= 1;
                if indegree[next] == 0 {
                    ready.insert(next);
                }
            }
        }
        graph.order = order;
        graph.upstream = upstream;
    }

    /// Whether local node `a` is upstream of local node `b` in graph `graph`.
    pub(crate) fn is_upstream(&self, graph: usize, a: usize, b: usize) -> bool {
        self.graphs[graph]
            .upstream
            .get(b)
            .and_then(|bits| bits.get(a / 64))
            .is_some_and(|word| word & (1 << (a % 64)) != 0)
    }

    /// The pointer of a node's config field, escaping the field name.
    pub(crate) fn config_pointer(&self, node: usize, field: &str) -> String {
        format!(
            "{}/config/{}",
            self.nodes[node].pointer,
            escape_pointer_token(field)
        )
    }
}

/// One cycle through the members of a strongly connected component, as local indexes, closed
/// (the first node repeated at the end).
fn cycle_path(members: &BTreeSet<usize>, successors: &[Vec<usize>]) -> Vec<usize> {
    let Some(&start) = members.first() else {
        return Vec::new();
    };
    // Walk from `start` always to a member; in a strongly connected component this returns to
    // a visited node, and the part from that node on is a cycle.
    let mut path = vec![start];
    let mut position: HashMap<usize, usize> = HashMap::from([(start, 0)]);
    let mut current = start;
    loop {
        let Some(&next) = successors[current].iter().find(|n| members.contains(n)) else {
            return path;
        };
        if let Some(&at) = position.get(&next) {
            let mut cycle = path[at..].to_vec();
            cycle.push(next);
            return cycle;
        }
        position.insert(next, path.len());
        path.push(next);
        current = next;
    }
}
