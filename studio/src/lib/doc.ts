// The flow document as the Studio edits it: parsing YAML/JSON text into a plain object, and
// printing it back. The object is the editor's source of truth; the canvas and the code view
// are two views of it. Validation belongs to the server's compiler, not to this module.
import YAML from 'yaml';

export type Format = 'yaml' | 'json';

export interface Position {
  x: number;
  y: number;
}

export interface FlowNode {
  id: string;
  type: string;
  name?: string;
  config?: Record<string, unknown>;
  credential?: string;
  retry?: Record<string, unknown>;
  timeout?: string;
  cache?: Record<string, unknown>;
  body?: { nodes: FlowNode[]; edges: FlowEdge[]; output?: unknown };
  position?: Position;
  [key: string]: unknown;
}

export interface FlowEdge {
  from: string;
  port?: string;
  to: string;
}

export interface FlowDoc {
  aion: number;
  id: string;
  name?: string;
  description?: string;
  tags?: string[];
  inputs?: Record<string, unknown>;
  triggers?: Array<Record<string, unknown>>;
  nodes: FlowNode[];
  edges?: FlowEdge[];
  output?: unknown;
  on_error?: { flow: string };
  [key: string]: unknown;
}

/** A syntax error in document text, with a 1-based line and column when known. */
export interface ParseError {
  message: string;
  line?: number;
  column?: number;
}

export type ParseResult = { ok: true; doc: FlowDoc } | { ok: false; error: ParseError };

/** Guesses the syntax of a text the way the server does: JSON when it starts with `{`. */
export function detectFormat(text: string): Format {
  return text.trimStart().startsWith('{') ? 'json' : 'yaml';
}

/** Parses document text. Never throws: a syntax error comes back with its place. */
export function parseDocument(text: string, format: Format = detectFormat(text)): ParseResult {
  let value: unknown;
  if (format === 'json') {
    try {
      value = JSON.parse(text);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      const at = /position (\d+)/.exec(message);
      if (at) {
        const { line, column } = lineColumn(text, Number(at[1]));
        return { ok: false, error: { message: message.replace(/ in JSON at position \d+.*/, ''), line, column } };
      }
      // Engines differ in what they say and where; our own scan finds the place.
      const place = lineColumn(text, jsonErrorOffset(text));
      return { ok: false, error: { message: message.split('\n')[0], ...place } };
    }
  } else {
    const parsed = YAML.parseDocument(text, { uniqueKeys: true, prettyErrors: false });
    if (parsed.errors.length > 0) {
      const first = parsed.errors[0];
      const { line, column } = lineColumn(text, first.pos[0]);
      return { ok: false, error: { message: first.message.split('\n')[0], line, column } };
    }
    value = parsed.toJS({ maxAliasCount: 1000 });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, error: { message: 'a flow document is a mapping (an object) at the top level', line: 1, column: 1 } };
  }
  const doc = value as FlowDoc;
  if (!Array.isArray(doc.nodes)) doc.nodes = doc.nodes == null ? [] : doc.nodes;
  return { ok: true, doc };
}

/** Prints a document in the given syntax, keys in the order the DSL documents them. */
export function printDocument(doc: FlowDoc, format: Format): string {
  const ordered = orderKeys(doc);
  if (format === 'json') return JSON.stringify(ordered, null, 2) + '\n';
  return YAML.stringify(ordered, { lineWidth: 0, aliasDuplicateObjects: false });
}

const TOP_ORDER = ['aion', 'id', 'name', 'description', 'tags', 'inputs', 'triggers', 'nodes', 'edges', 'output', 'on_error'];
const NODE_ORDER = ['id', 'type', 'name', 'credential', 'config', 'retry', 'timeout', 'cache', 'body', 'position'];

function orderObject<T extends Record<string, unknown>>(value: T, order: string[]): T {
  const out: Record<string, unknown> = {};
  for (const key of order) if (value[key] !== undefined) out[key] = value[key];
  for (const key of Object.keys(value)) if (!(key in out) && value[key] !== undefined) out[key] = value[key];
  return out as T;
}

function orderNode(node: FlowNode): FlowNode {
  const out = orderObject(node, NODE_ORDER);
  if (out.body) {
    out.body = { ...out.body, nodes: out.body.nodes.map(orderNode) };
  }
  if (out.position) out.position = { x: Math.round(out.position.x), y: Math.round(out.position.y) };
  return out;
}

function orderKeys(doc: FlowDoc): FlowDoc {
  const out = orderObject(doc, TOP_ORDER);
  out.nodes = (doc.nodes ?? []).map(orderNode);
  if (out.edges) out.edges = out.edges.map((e) => orderObject(e as unknown as Record<string, unknown>, ['from', 'port', 'to']) as unknown as FlowEdge);
  return out;
}

/** The offset of the first JSON syntax error in `text` (its length when none is found). */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i])) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value();
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') return void i++;
        fail();
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') return void i++;
        fail();
      }
    }
    if (c === '"') return string();
    const m = /^(-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    if (!m) fail();
    i += m![0].length;
  };
  const string = () => {
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++;
      else if (text[i] === '\n') fail();
      i++;
    }
    if (i >= text.length) fail();
    i++;
  };
  try {
    value();
    ws();
    return i < text.length ? i : text.length;
  } catch (at) {
    return typeof at === 'number' ? at : 0;
  }
}

/** 1-based line and column of a character offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, column: offset - last };
}

/** A new document for the "create flow" dialog. */
export function newDocument(id: string, name: string): FlowDoc {
  return {
    aion: 1,
    id,
    name: name || undefined,
    inputs: { type: 'object', properties: {} },
    // The compiler wants at least one node: a no-op to start from (delete it once there are others).
    nodes: [{ id: 'start', type: 'core.noop', name: 'Start', position: { x: 80, y: 200 } }],
    edges: [],
  };
}

/** Makes a flow id (a slug) from a free-text name. */
export function slugify(name: string): string {
  const slug = name
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
  return slug || 'flow';
}
