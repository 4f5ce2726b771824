import { describe, expect, it } from 'vitest';
import { parseSse } from './sse';

describe('server-sent events', () => {
  it('parses events split across chunks, with ids and multi-line data', () => {
    const got: Array<{ event: string; data: string; id?: string }> = [];
    let rest = parseSse('event: step_started\ndata: {"step":"a"}\nid: 3\n\nevent: log\ndata: li', (m) => got.push(m));
    expect(got).toEqual([{ event: 'step_started', data: '{"step":"a"}', id: '3' }]);
    rest = parseSse(rest + 'ne 1\ndata: line 2\n\n: keep-alive\n\n', (m) => got.push(m));
    expect(rest).toBe('');
    expect(got[1]).toEqual({ event: 'log', data: 'line 1\nline 2', id: undefined });
    expect(got).toHaveLength(2);
  });
});
