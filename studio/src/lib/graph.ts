// Document ↔ graph: the canvas (nodes with ports, edges between ports) is computed from the flow
// document, and every canvas edit is applied back to the document as a pure function. The
// document stays the single source of truth, so the code view and the canvas cannot drift.
import type { FlowDoc, FlowEdge, FlowNode, Position } from './doc';

/** How a node type's output ports are found (the catalog's `ports`). */
export type PortRule =
  | { kind: 'fixed'; ports: string[] }
  | { kind: 'from_config'; array: string; name_field: string; extra: string[] };

/** One entry of the node catalog (`GET /api/v1/nodes`). */
export interface NodeSpec {
  type: string;
  version: number;
  title: string;
  description: string;
  category: string;
  ports: PortRule;
  default_ports?: string[];
  credential?: { kind: string; required: boolean } | null;
  side_effects?: boolean;
  has_body?: boolean;
  execution?: string;
  config_schema?: Record<string, unknown>;
}

export type Catalog = Map<string, NodeSpec>;

export const DEFAULT_PORT = 'out';
export const ERROR_PORT = 'error';
export const INPUT_HANDLE = 'in';

/** The data a canvas node carries. */
export interface NodeData {
  node: FlowNode;
  spec?: NodeSpec;
  ports: string[];
  [key: string]: unknown;
}

export interface GraphNode {
  id: string;
  type: 'aion';
  position: Position;
  data: NodeData;
  selected?: boolean;
}

export interface GraphEdge {
  id: string;
  source: string;
  sourceHandle: string;
  target: string;
  targetHandle: string;
  label?: string;
  data?: { port: string };
}

/** The output ports of a node: from its type's rule and config, plus any port an edge uses. */
export function portsOf(node: FlowNode, spec: NodeSpec | undefined, edges: FlowEdge[] = []): string[] {
  let ports: string[];
  if (!spec) {
    ports = [DEFAULT_PORT];
  } else if (spec.ports.kind === 'fixed') {
    ports = [...spec.ports.ports];
  } else {
    const rule = spec.ports;
    const items = node.config?.[rule.array];
    ports = Array.isArray(items)
      ? items
          .map((item) => (item && typeof item === 'object' ? (item as Record<string, unknown>)[rule.name_field] : undefined))
          .filter((p): p is string => typeof p === 'string' && p.length > 0)
      : [];
    ports.push(...rule.extra);
  }
  for (const e of edges) {
    const port = e.port ?? DEFAULT_PORT;
    if (e.from === node.id && port !== ERROR_PORT && !ports.includes(port)) ports.push(port);
  }
  return [...new Set(ports)];
}

export function edgeId(e: FlowEdge): string {
  return `${e.from}:${e.port ?? DEFAULT_PORT}->${e.to}`;
}

/** A place for node `index` when the document has none (a simple left-to-right grid). */
export function fallbackPosition(index: number): Position {
  return { x: 80 + (index % 4) * 280, y: 80 + Math.floor(index / 4) * 160 };
}

/** The canvas for a document. */
export function docToGraph(doc: FlowDoc, catalog: Catalog): { nodes: GraphNode[]; edges: GraphEdge[] } {
  const edges = doc.edges ?? [];
  const nodes: GraphNode[] = (doc.nodes ?? []).map((node, index) => {
    const spec = catalog.get(node.type);
    return {
      id: node.id,
      type: 'aion',
      position: node.position ? { x: node.position.x, y: node.position.y } : fallbackPosition(index),
      data: { node, spec, ports: portsOf(node, spec, edges) },
    };
  });
  const ids = new Set(nodes.map((n) => n.id));
  const graphEdges: GraphEdge[] = edges
    .filter((e) => ids.has(e.from) && ids.has(e.to))
    .map((e) => {
      const port = e.port ?? DEFAULT_PORT;
      return {
        id: edgeId(e),
        source: e.from,
        sourceHandle: port,
        target: e.to,
        targetHandle: INPUT_HANDLE,
        label: port === DEFAULT_PORT ? undefined : port,
        data: { port },
      };
    });
  return { nodes, edges: graphEdges };
}

/**
 * The document for a canvas: node order, ids and configs come from `doc`; positions, the set
 * of nodes and the edges come from the canvas. Nodes the canvas does not have are removed.
 */
export function graphToDoc(
  doc: FlowDoc,
  nodes: Array<{ id: string; position: Position }>,
  edges: Array<{ source: string; sourceHandle?: string | null; target: string }>,
): FlowDoc {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const nextNodes = (doc.nodes ?? [])
    .filter((n) => byId.has(n.id))
    .map((n) => {
      const p = byId.get(n.id)!.position;
      return { ...n, position: { x: Math.round(p.x), y: Math.round(p.y) } };
    });
  const nextEdges: FlowEdge[] = [];
  const seen = new Set<string>();
  for (const e of edges) {
    if (!byId.has(e.source) || !byId.has(e.target)) continue;
    const port = e.sourceHandle ?? DEFAULT_PORT;
    const edge: FlowEdge = port === DEFAULT_PORT ? { from: e.source, to: e.target } : { from: e.source, port, to: e.target };
    const id = edgeId(edge);
    if (seen.has(id)) continue;
    seen.add(id);
    nextEdges.push(edge);
  }
  return { ...doc, nodes: nextNodes, edges: nextEdges };
}

/** A node id for a new node of `type`, unique in the document: `request`, `request_2`, … */
export function freshId(doc: FlowDoc, type: string, taken: Iterable<string> = []): string {
  const used = new Set([...allIds(doc), ...taken]);
  const action = type.split('.').pop() ?? 'node';
  let base = action.toLowerCase().replace(/[^a-z0-9_]+/g, '_').replace(/^[^a-z_]+/, '');
  if (!base) base = 'node';
  if (!used.has(base)) return base;
  for (let i = 2; ; i++) {
    const id = `${base}_${i}`;
    if (!used.has(id)) return id;
  }
}

function allIds(doc: FlowDoc): string[] {
  const out: string[] = [];
  const walk = (nodes: FlowNode[]) => {
    for (const n of nodes) {
      out.push(n.id);
      if (n.body?.nodes) walk(n.body.nodes);
    }
  };
  walk(doc.nodes ?? []);
  return out;
}

/** A default config for a new node: the schema's required properties with their defaults. */
export function defaultConfig(spec: NodeSpec | undefined): Record<string, unknown> {
  const schema = spec?.config_schema as { properties?: Record<string, { default?: unknown; type?: unknown }>; required?: string[] } | undefined;
  const config: Record<string, unknown> = {};
  if (!schema?.properties) return config;
  for (const key of schema.required ?? []) {
    const prop = schema.properties[key];
    if (prop?.default !== undefined) config[key] = prop.default;
  }
  return config;
}

/** Adds a node of `type` at `position`; returns the new document and the node's id. */
export function addNode(doc: FlowDoc, type: string, position: Position, spec?: NodeSpec): { doc: FlowDoc; id: string } {
  const id = freshId(doc, type);
  const node: FlowNode = { id, type, config: defaultConfig(spec), position: { x: Math.round(position.x), y: Math.round(position.y) } };
  return { doc: { ...doc, nodes: [...(doc.nodes ?? []), node] }, id };
}

/** Removes nodes and every edge that touches them. */
export function removeNodes(doc: FlowDoc, ids: Iterable<string>): FlowDoc {
  const gone = new Set(ids);
  return {
    ...doc,
    nodes: (doc.nodes ?? []).filter((n) => !gone.has(n.id)),
    edges: (doc.edges ?? []).filter((e) => !gone.has(e.from) && !gone.has(e.to)),
  };
}

/** Adds an edge unless it exists or would loop a node onto itself. */
export function connect(doc: FlowDoc, edge: FlowEdge): FlowDoc {
  if (edge.from === edge.to) return doc;
  const normal: FlowEdge = !edge.port || edge.port === DEFAULT_PORT ? { from: edge.from, to: edge.to } : { from: edge.from, port: edge.port, to: edge.to };
  const edges = doc.edges ?? [];
  if (edges.some((e) => edgeId(e) === edgeId(normal))) return doc;
  return { ...doc, edges: [...edges, normal] };
}

export function removeEdges(doc: FlowDoc, ids: Iterable<string>): FlowDoc {
  const gone = new Set(ids);
  return { ...doc, edges: (doc.edges ?? []).filter((e) => !gone.has(edgeId(e))) };
}

/** Replaces one node (matched by `id`) with `next`, renaming references when its id changes. */
export function updateNode(doc: FlowDoc, id: string, next: FlowNode): FlowDoc {
  let out: FlowDoc = { ...doc, nodes: (doc.nodes ?? []).map((n) => (n.id === id ? next : n)) };
  if (next.id !== id) out = renameReferences(out, id, next.id);
  return out;
}

/** Points edges and `steps.<old>` expressions at a renamed node. */
export function renameReferences(doc: FlowDoc, from: string, to: string): FlowDoc {
  const pattern = new RegExp(`(\\bsteps\\s*\\.\\s*)${escapeRegExp(from)}\\b`, 'g');
  const rewrite = (value: unknown): unknown => {
    if (typeof value === 'string') return value.includes('{{') ? value.replace(pattern, `$1${to}`) : value;
    if (Array.isArray(value)) return value.map(rewrite);
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rewrite(v)]));
    }
    return value;
  };
  return {
    ...doc,
    nodes: (doc.nodes ?? []).map((n) => ({ ...n, config: n.config ? (rewrite(n.config) as Record<string, unknown>) : n.config })),
    edges: (doc.edges ?? []).map((e) => ({ ...e, from: e.from === from ? to : e.from, to: e.to === from ? to : e.to })),
    output: rewrite(doc.output),
  };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** What Ctrl+C keeps: the chosen nodes and the edges among them. */
export interface Clipboard {
  nodes: FlowNode[];
  edges: FlowEdge[];
}

export function copyNodes(doc: FlowDoc, ids: Iterable<string>): Clipboard {
  const chosen = new Set(ids);
  return {
    nodes: (doc.nodes ?? []).filter((n) => chosen.has(n.id)).map((n) => structuredClone(n)),
    edges: (doc.edges ?? []).filter((e) => chosen.has(e.from) && chosen.has(e.to)).map((e) => ({ ...e })),
  };
}

/** Pastes a clipboard with fresh ids, shifted by `offset`; returns the new ids. */
export function pasteNodes(doc: FlowDoc, clip: Clipboard, offset: Position = { x: 40, y: 40 }): { doc: FlowDoc; ids: string[] } {
  const rename = new Map<string, string>();
  const taken: string[] = [];
  for (const n of clip.nodes) {
    const id = freshId(doc, n.id, taken);
    rename.set(n.id, id);
    taken.push(id);
  }
  const nodes = clip.nodes.map((n, i) => {
    const copy = structuredClone(n);
    copy.id = rename.get(n.id)!;
    const p = n.position ?? fallbackPosition(i);
    copy.position = { x: p.x + offset.x, y: p.y + offset.y };
    return copy;
  });
  let out: FlowDoc = { ...doc, nodes: [...(doc.nodes ?? []), ...nodes] };
  for (const [from, to] of rename) {
    // Expressions inside the pasted nodes that name other pasted nodes follow the copies.
    out = {
      ...out,
      nodes: out.nodes.map((n) => (taken.includes(n.id) ? (renameReferences({ aion: 1, id: 'x', nodes: [n] }, from, to).nodes[0]) : n)),
    };
  }
  const edges = clip.edges.map((e) => ({ ...e, from: rename.get(e.from)!, to: rename.get(e.to)! }));
  out = { ...out, edges: [...(out.edges ?? []), ...edges] };
  return { doc: out, ids: taken };
}

/** The ids of every node upstream of `id` (its ancestors through edges). */
export function upstreamOf(doc: FlowDoc, id: string): string[] {
  const parents = new Map<string, string[]>();
  for (const e of doc.edges ?? []) {
    const list = parents.get(e.to) ?? [];
    list.push(e.from);
    parents.set(e.to, list);
  }
  const seen = new Set<string>();
  const stack = [...(parents.get(id) ?? [])];
  while (stack.length) {
    const next = stack.pop()!;
    if (seen.has(next) || next === id) continue;
    seen.add(next);
    stack.push(...(parents.get(next) ?? []));
  }
  const order = (doc.nodes ?? []).map((n) => n.id);
  return [...seen].sort((a, b) => order.indexOf(a) - order.indexOf(b));
}

/**
 * The field a diagnostic is about: its pointer inside the node, made precise for "missing
 * field" diagnostics, which point at the parent object and name the field in the message.
 */
export function diagnosticField(field: string | undefined, message: string): string | undefined {
  if (field === '/config') {
    const m = /config field `([^`]+)`/.exec(message);
    if (m) return `/config/${m[1]}`;
  }
  return field;
}

/**
 * Where a diagnostic's JSON Pointer lands: the node id (for `/nodes/N/...`) and the rest of
 * the pointer inside that node (`/config/url`). Pointers outside the nodes give no id.
 */
export function pointerTarget(doc: FlowDoc, pointer: string | undefined | null): { nodeId?: string; field?: string; edgeIndex?: number } {
  if (!pointer) return {};
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (parts[0] === 'nodes' && parts.length >= 2) {
    const index = Number(parts[1]);
    const node = doc.nodes?.[index];
    if (!node) return {};
    const rest = parts.slice(2);
    return { nodeId: node.id, field: rest.length ? '/' + rest.join('/') : undefined };
  }
  if (parts[0] === 'edges' && parts.length >= 2) {
    const edge = doc.edges?.[Number(parts[1])];
    return { edgeIndex: Number(parts[1]), nodeId: edge?.from };
  }
  return {};
}
