// Expression help for config fields: splitting text into literal and `{{ }}` parts (for
// highlighting), and completions for the path being typed (inputs, upstream steps with the
// paths seen in the last run's data, trigger, vars, run). Evaluation belongs to the server.
import type { FlowDoc } from './doc';
import { upstreamOf } from './graph';

export interface Segment {
  kind: 'text' | 'expr';
  text: string;
  start: number;
}

/** Splits a field's text into literal text and `{{ … }}` expressions (an unclosed one runs to the end). */
export function segments(text: string): Segment[] {
  const out: Segment[] = [];
  let i = 0;
  while (i < text.length) {
    const open = text.indexOf('{{', i);
    if (open < 0) {
      out.push({ kind: 'text', text: text.slice(i), start: i });
      break;
    }
    if (open > i) out.push({ kind: 'text', text: text.slice(i, open), start: i });
    const close = text.indexOf('}}', open + 2);
    const end = close < 0 ? text.length : close + 2;
    out.push({ kind: 'expr', text: text.slice(open, end), start: open });
    i = end;
  }
  return out;
}

/** The dotted path being typed just before `cursor`, when the cursor is inside `{{ }}`. */
export function pathAtCursor(text: string, cursor: number): string | null {
  const before = text.slice(0, cursor);
  const open = before.lastIndexOf('{{');
  if (open < 0 || before.lastIndexOf('}}') > open) return null;
  const m = /[A-Za-z_][A-Za-z0-9_]*(?:\s*(?:\.\s*[A-Za-z0-9_]*|\[\s*(?:\d+|'[^']*'|"[^"]*")\s*\]))*\.?$|$/.exec(before.slice(open + 2));
  return (m?.[0] ?? '').replace(/\s+/g, '');
}

export interface Completion {
  /** The full path, e.g. `steps.fetch.output.body`. */
  path: string;
  /** What to show beside it: a type or a sample value. */
  detail?: string;
}

/** Data from the last run, keyed by step id, used to offer real output paths. */
export type RunData = Record<string, { output?: unknown; error?: unknown }>;

const RUN_FIELDS = ['id', 'flow_id', 'flow_version', 'started_at', 'trace_id'];
const STEP_FIELDS = ['output', 'error', 'status'];

/**
 * Completions for the expression path typed so far in a field of node `nodeId`. Only steps
 * upstream of the node are offered (the compiler refuses others).
 */
export function complete(doc: FlowDoc, nodeId: string | null, typed: string, run?: RunData, vars: string[] = []): Completion[] {
  const all: Completion[] = [];
  const add = (path: string, detail?: string) => all.push({ path, detail });
  add('inputs', 'the run input');
  for (const [name, schema] of Object.entries(inputProperties(doc))) add(`inputs.${name}`, typeOf(schema));
  const upstream = nodeId ? upstreamOf(doc, nodeId) : (doc.nodes ?? []).map((n) => n.id);
  if (upstream.length) add('steps', 'upstream steps');
  for (const id of upstream) {
    const type = doc.nodes.find((n) => n.id === id)?.type;
    add(`steps.${id}`, type);
    for (const f of STEP_FIELDS) add(`steps.${id}.${f}`);
    const output = run?.[id]?.output;
    if (output !== undefined) for (const [path, detail] of valuePaths(output, `steps.${id}.output`, 3)) add(path, detail);
  }
  add('trigger', 'webhook body, headers, query; cron time');
  add('vars', 'workspace variables');
  for (const v of vars) add(`vars.${v}`);
  add('run', 'this run');
  for (const f of RUN_FIELDS) add(`run.${f}`);
  if (isInsideBody(doc, nodeId)) {
    add('item', 'the current item');
    add('index', 'its position');
  }
  const prefix = typed.replace(/\s+/g, '');
  const want = prefix === '' ? 1 : pathDepth(prefix.endsWith('.') ? prefix + 'x' : prefix);
  const seen = new Set<string>();
  return all.filter((c) => {
    if (seen.has(c.path)) return false;
    seen.add(c.path);
    return c.path.startsWith(prefix) && c.path !== prefix && pathDepth(c.path) === want;
  });
}

/** How many segments a path has: `steps.a.output[0]` has 4. */
export function pathDepth(path: string): number {
  return path.split(/\.|(?=\[)/).filter(Boolean).length;
}

function isInsideBody(doc: FlowDoc, nodeId: string | null): boolean {
  if (!nodeId) return false;
  return (doc.nodes ?? []).some((n) => n.body?.nodes?.some((b) => b.id === nodeId));
}

function inputProperties(doc: FlowDoc): Record<string, unknown> {
  const props = (doc.inputs as { properties?: Record<string, unknown> } | undefined)?.properties;
  return props && typeof props === 'object' ? props : {};
}

function typeOf(schema: unknown): string | undefined {
  const t = (schema as { type?: unknown } | null)?.type;
  return typeof t === 'string' ? t : Array.isArray(t) ? t.join(' | ') : undefined;
}

/** Every path into `value` down to `depth` levels, with a short description of what is there. */
export function valuePaths(value: unknown, base: string, depth: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const walk = (v: unknown, path: string, left: number) => {
    out.push([path, describe(v)]);
    if (left <= 0 || v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      if (v.length > 0) walk(v[0], `${path}[0]`, left - 1);
      return;
    }
    for (const [k, child] of Object.entries(v)) {
      walk(child, /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `${path}.${k}` : `${path}['${k}']`, left - 1);
    }
  };
  walk(value, base, depth);
  return out;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `list (${v.length})`;
  if (typeof v === 'object') return 'object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 37) + '…' : v);
  return String(v);
}

/**
 * A preview of a field's value from the last run's data: resolves plain paths (`{{ a.b[0] }}`)
 * and leaves anything more complex to the server. Returns undefined when it cannot tell.
 */
export function preview(text: string, scope: Record<string, unknown>): { value: unknown } | undefined {
  const parts = segments(text);
  const resolved: unknown[] = [];
  for (const part of parts) {
    if (part.kind === 'text') {
      resolved.push(part.text);
      continue;
    }
    const inner = part.text.replace(/^\{\{|\}\}$/g, '').trim();
    if (!/^[A-Za-z_][\w]*(\.[A-Za-z_]\w*|\[\d+\]|\['[^']*'\])*$/.test(inner)) return undefined;
    const value = lookup(scope, inner);
    if (value === undefined) return undefined;
    resolved.push(value);
  }
  if (parts.length === 1 && parts[0].kind === 'expr') return { value: resolved[0] };
  return { value: resolved.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join('') };
}

function lookup(scope: Record<string, unknown>, path: string): unknown {
  const keys = path.match(/[A-Za-z_]\w*|\[\d+\]|\['[^']*'\]/g) ?? [];
  let cur: unknown = scope;
  for (const raw of keys) {
    const key = raw.startsWith("['") ? raw.slice(2, -2) : raw.startsWith('[') ? Number(raw.slice(1, -1)) : raw;
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[key];
  }
  return cur;
}
