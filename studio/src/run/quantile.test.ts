import { describe, expect, it } from 'vitest';
import { quantile } from './Dashboard';

describe('dashboard', () => {
  it('computes nearest-rank quantiles', () => {
    const v = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
    expect(quantile(v, 0.5)).toBe(50);
    expect(quantile(v, 0.95)).toBe(100);
    expect(quantile([], 0.5)).toBeNull();
    expect(quantile([7], 0.95)).toBe(7);
  });
});
