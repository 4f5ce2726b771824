import { describe, expect, it } from 'vitest';
import { diffLines } from './diff';

describe('line diff', () => {
  it('marks added, deleted and kept lines', () => {
    const d = diffLines('a\nb\nc\nd', 'a\nc\nx\nd');
    expect(d).toEqual([
      { kind: 'same', text: 'a' },
      { kind: 'del', text: 'b' },
      { kind: 'same', text: 'c' },
      { kind: 'add', text: 'x' },
      { kind: 'same', text: 'd' },
    ]);
    expect(diffLines('same', 'same')).toEqual([{ kind: 'same', text: 'same' }]);
  });
});
