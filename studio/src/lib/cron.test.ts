import { describe, expect, it } from 'vitest';
import { previewCron } from './cron';

describe('cron preview', () => {
  const from = new Date(Date.UTC(2026, 0, 5, 10, 2, 30)); // Monday 10:02:30 UTC

  it('finds the next slots of a 5-field schedule in a time zone', () => {
    const p = previewCron('*/5 * * * *', 'UTC', 3, from)!;
    expect(p.description).toBe('every 5 minutes');
    expect(p.next.map((d) => d.toISOString())).toEqual(['2026-01-05T10:05:00.000Z', '2026-01-05T10:10:00.000Z', '2026-01-05T10:15:00.000Z']);
  });

  it('handles days, weekdays and other zones', () => {
    const p = previewCron('30 9 * * 1-5', 'Europe/Paris', 2, from)!;
    expect(p.description).toBe('weekdays at 09:30');
    // 09:30 in Paris is 08:30 UTC in winter; Monday's slot has passed, so Tuesday and Wednesday.
    expect(p.next.map((d) => d.toISOString())).toEqual(['2026-01-06T08:30:00.000Z', '2026-01-07T08:30:00.000Z']);
    const sat = previewCron('0 0 * * sat', 'UTC', 1, from)!;
    expect(sat.next[0].toISOString()).toBe('2026-01-10T00:00:00.000Z');
  });

  it('reads 6 fields with seconds first, and refuses what it cannot read', () => {
    expect(previewCron('15 * * * * *', 'UTC', 1, from)!.next[0].toISOString()).toBe('2026-01-05T10:03:15.000Z');
    expect(previewCron('61 * * * *', 'UTC')).toBeNull();
    expect(previewCron('every day', 'UTC')).toBeNull();
  });
});
