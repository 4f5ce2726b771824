import { describe, expect, it } from 'vitest';
import { parseDocument, printDocument, type FlowDoc } from './doc';
import {
  addNode, connect, copyNodes, docToGraph, graphToDoc, pasteNodes, pointerTarget, portsOf, removeNodes,
  updateNode, upstreamOf, type Catalog, type NodeSpec,
} from './graph';

const spec = (type: string, ports: NodeSpec['ports'], extra: Partial<NodeSpec> = {}): NodeSpec => ({
  type, version: 1, title: type, description: '', category: 'data', ports, ...extra,
});

const catalog: Catalog = new Map([
  ['core.set', spec('core.set', { kind: 'fixed', ports: ['out'] })],
  ['core.if', spec('core.if', { kind: 'fixed', ports: ['true', 'false'] })],
  ['core.switch', spec('core.switch', { kind: 'from_config', array: 'cases', name_field: 'port', extra: ['default'] })],
  ['http.request', spec('http.request', { kind: 'fixed', ports: ['out'] }, {
    config_schema: { type: 'object', properties: { method: { type: 'string', default: 'GET' }, url: { type: 'string' } }, required: ['method', 'url'] },
  })],
]);

const YAML_DOC = `aion: 1
id: price-alert
name: SOL price alert
nodes:
  - id: price
    type: http.request
    config: { method: GET, url: "https://example.com" }
    position: { x: 0, y: 0 }
  - id: cheap
    type: core.if
    config: { condition: "{{ steps.price.output.body.price < 100 }}" }
    position: { x: 300, y: 0 }
  - id: notify
    type: core.set
    config: { value: "SOL is at {{ steps.price.output.body.price }}" }
edges:
  - { from: price, to: cheap }
  - { from: cheap, port: "true", to: notify }
`;

function load(text = YAML_DOC): FlowDoc {
  const r = parseDocument(text);
  if (!r.ok) throw new Error(r.error.message);
  return r.doc;
}

describe('document → graph', () => {
  it('makes a node per document node and an edge per edge, with ports', () => {
    const g = docToGraph(load(), catalog);
    expect(g.nodes.map((n) => n.id)).toEqual(['price', 'cheap', 'notify']);
    expect(g.nodes[1].data.ports).toEqual(['true', 'false']);
    expect(g.nodes[0].position).toEqual({ x: 0, y: 0 });
    expect(g.nodes[2].position).toBeDefined();
    expect(g.edges.map((e) => [e.source, e.sourceHandle, e.target])).toEqual([
      ['price', 'out', 'cheap'],
      ['cheap', 'true', 'notify'],
    ]);
    expect(g.edges[1].label).toBe('true');
  });

  it('derives switch ports from the config and keeps ports only edges name', () => {
    const doc = load(`aion: 1
id: s
nodes:
  - { id: route, type: core.switch, config: { cases: [ { port: small, when: "{{ 1 }}" }, { port: big, when: "{{ 2 }}" } ] } }
  - { id: odd, type: core.unknown }
  - { id: x, type: core.set }
edges:
  - { from: odd, port: weird, to: x }
`);
    expect(portsOf(doc.nodes[0], catalog.get('core.switch'))).toEqual(['small', 'big', 'default']);
    const g = docToGraph(doc, catalog);
    expect(g.nodes[1].data.ports).toEqual(['out', 'weird']);
  });

  it('drops edges to nodes that do not exist instead of crashing', () => {
    const doc = load();
    doc.edges!.push({ from: 'ghost', to: 'cheap' });
    expect(docToGraph(doc, catalog).edges).toHaveLength(2);
  });
});

describe('graph → document', () => {
  it('round-trips: the same graph gives the same document', () => {
    const doc = load();
    const g = docToGraph(doc, catalog);
    const back = graphToDoc(doc, g.nodes, g.edges);
    expect(back.edges).toEqual(doc.edges);
    expect(back.nodes.map((n) => n.config)).toEqual(doc.nodes.map((n) => n.config));
    // Printing and parsing again gives the same object, in YAML and JSON.
    for (const format of ['yaml', 'json'] as const) {
      const again = parseDocument(printDocument(back, format), format);
      expect(again.ok && again.doc).toEqual(JSON.parse(JSON.stringify(back)));
    }
  });

  it('records moved positions, removed nodes and new edges', () => {
    const doc = load();
    const g = docToGraph(doc, catalog);
    const nodes = g.nodes.filter((n) => n.id !== 'notify').map((n) => (n.id === 'price' ? { ...n, position: { x: 10.4, y: 20.6 } } : n));
    const edges = [...g.edges, { source: 'cheap', sourceHandle: 'false', target: 'price' }];
    const back = graphToDoc(doc, nodes, edges);
    expect(back.nodes.map((n) => n.id)).toEqual(['price', 'cheap']);
    expect(back.nodes[0].position).toEqual({ x: 10, y: 21 });
    expect(back.edges).toEqual([
      { from: 'price', to: 'cheap' },
      { from: 'cheap', port: 'false', to: 'price' },
    ]);
  });
});

describe('edits', () => {
  it('adds nodes with unique ids and required defaults', () => {
    let doc = load();
    const a = addNode(doc, 'http.request', { x: 1, y: 2 }, catalog.get('http.request'));
    expect(a.id).toBe('request');
    expect(a.doc.nodes.at(-1)).toMatchObject({ id: 'request', type: 'http.request', config: { method: 'GET' }, position: { x: 1, y: 2 } });
    doc = a.doc;
    expect(addNode(doc, 'http.request', { x: 0, y: 0 }).id).toBe('request_2');
  });

  it('connects once, never a node to itself, and removes edges with their nodes', () => {
    let doc = load();
    doc = connect(doc, { from: 'price', port: 'out', to: 'notify' });
    expect(doc.edges!.at(-1)).toEqual({ from: 'price', to: 'notify' });
    expect(connect(doc, { from: 'price', to: 'notify' })).toBe(doc);
    expect(connect(doc, { from: 'price', to: 'price' })).toBe(doc);
    doc = removeNodes(doc, ['cheap']);
    expect(doc.edges).toEqual([{ from: 'price', to: 'notify' }]);
  });

  it('renaming a node rewrites edges and expressions that name it', () => {
    const doc = load();
    const renamed = updateNode(doc, 'price', { ...doc.nodes[0], id: 'quote' });
    expect(renamed.edges![0]).toEqual({ from: 'quote', to: 'cheap' });
    expect(renamed.nodes[1].config!.condition).toBe('{{ steps.quote.output.body.price < 100 }}');
    expect(renamed.nodes[2].config!.value).toBe('SOL is at {{ steps.quote.output.body.price }}');
  });

  it('copies and pastes nodes with fresh ids and their inner edges', () => {
    const doc = load();
    const clip = copyNodes(doc, ['price', 'cheap']);
    const { doc: out, ids } = pasteNodes(doc, clip);
    expect(ids).toEqual(['price_2', 'cheap_2']);
    expect(out.edges!.at(-1)).toEqual({ from: 'price_2', to: 'cheap_2' });
    expect(out.nodes.find((n) => n.id === 'cheap_2')!.config!.condition).toContain('steps.price_2.output');
    expect(out.nodes.find((n) => n.id === 'price_2')!.position).toEqual({ x: 40, y: 40 });
  });

  it('finds upstream nodes and diagnostic targets', () => {
    const doc = load();
    expect(upstreamOf(doc, 'notify')).toEqual(['price', 'cheap']);
    expect(upstreamOf(doc, 'price')).toEqual([]);
    expect(pointerTarget(doc, '/nodes/2/config/value')).toEqual({ nodeId: 'notify', field: '/config/value' });
    expect(pointerTarget(doc, '/edges/1/port')).toEqual({ edgeIndex: 1, nodeId: 'cheap' });
    expect(pointerTarget(doc, '/name')).toEqual({});
  });
});

describe('parsing', () => {
  it('reports YAML and JSON syntax errors with a line and column', () => {
    const bad = parseDocument('aion: 1\nnodes: [\n  - x', 'yaml');
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.line).toBeGreaterThan(0);
    const json = parseDocument('{\n  "aion": 1,\n  "id": }', 'json');
    expect(json.ok).toBe(false);
    if (!json.ok) expect(json.error.line).toBe(3);
    const list = parseDocument('- 1\n- 2');
    expect(list.ok).toBe(false);
  });
});
