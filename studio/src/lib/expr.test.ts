import { describe, expect, it } from 'vitest';
import { parseDocument, type FlowDoc } from './doc';
import { complete, pathAtCursor, preview, segments } from './expr';

const doc = (() => {
  const r = parseDocument(`aion: 1
id: t
inputs: { type: object, properties: { name: { type: string }, n: { type: number } } }
nodes:
  - { id: fetch, type: http.request }
  - { id: shape, type: core.set }
  - { id: other, type: core.set }
edges:
  - { from: fetch, to: shape }
`);
  if (!r.ok) throw new Error();
  return r.doc as FlowDoc;
})();

describe('expressions', () => {
  it('splits text into literal and expression parts', () => {
    expect(segments('Hi {{ inputs.name }}!')).toEqual([
      { kind: 'text', text: 'Hi ', start: 0 },
      { kind: 'expr', text: '{{ inputs.name }}', start: 3 },
      { kind: 'text', text: '!', start: 20 },
    ]);
    expect(segments('{{ open')).toEqual([{ kind: 'expr', text: '{{ open', start: 0 }]);
  });

  it('finds the path being typed inside braces only', () => {
    expect(pathAtCursor('Hi {{ steps.fe', 14)).toBe('steps.fe');
    expect(pathAtCursor('Hi {{ steps.fetch.', 18)).toBe('steps.fetch.');
    expect(pathAtCursor('{{ a }} steps.x', 15)).toBeNull();
    expect(pathAtCursor('{{ ', 3)).toBe('');
  });

  it('offers top-level names, inputs, and only upstream steps', () => {
    const top = complete(doc, 'shape', '').map((c) => c.path);
    expect(top).toEqual(expect.arrayContaining(['inputs', 'steps', 'trigger', 'vars', 'run']));
    expect(complete(doc, 'shape', 'inputs.').map((c) => c.path)).toEqual(['inputs.name', 'inputs.n']);
    expect(complete(doc, 'shape', 'steps.').map((c) => c.path)).toEqual(['steps.fetch']);
    expect(complete(doc, 'fetch', 'steps.').map((c) => c.path)).toEqual([]);
    expect(complete(doc, 'shape', 'steps.fetch.o').map((c) => c.path)).toEqual(['steps.fetch.output']);
  });

  it('offers output paths seen in the last run', () => {
    const run = { fetch: { output: { status: 200, body: { price: 12.5, items: [{ id: 1 }] } } } };
    const paths = complete(doc, 'shape', 'steps.fetch.output.', run).map((c) => c.path);
    expect(paths).toEqual(['steps.fetch.output.status', 'steps.fetch.output.body']);
    const deeper = complete(doc, 'shape', 'steps.fetch.output.body.', run);
    expect(deeper.map((c) => c.path)).toEqual(['steps.fetch.output.body.price', 'steps.fetch.output.body.items']);
    expect(deeper[0].detail).toBe('12.5');
  });

  it('previews plain paths and gives up on anything else', () => {
    const scope = { inputs: { name: 'Ada', n: 2 }, steps: { fetch: { output: { list: [1, 2] } } } };
    expect(preview('Hi {{ inputs.name }}!', scope)).toEqual({ value: 'Hi Ada!' });
    expect(preview('{{ steps.fetch.output.list }}', scope)).toEqual({ value: [1, 2] });
    expect(preview('{{ inputs.n + 1 }}', scope)).toBeUndefined();
    expect(preview('{{ inputs.missing }}', scope)).toBeUndefined();
  });
});
