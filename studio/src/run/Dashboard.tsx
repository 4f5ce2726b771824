// The runs dashboard: runs per day by status (stacked bars), p50/p95 duration and error rate
// over the last 14 days. Plain SVG: no chart library in the bundle. Loaded on demand.
import { useMemo } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api, type RunOut } from '../api/client';
import { duration } from '../lib/format';
import { Spinner } from '../components/ui';

const DAYS = 14;
const COLORS: Record<string, string> = { succeeded: '#10b981', failed: '#ef4444', running: '#0ea5e9', waiting: '#f59e0b', queued: '#a1a1aa', cancelled: '#71717a' };

/** Recent runs: up to 5 pages of 100 from the last 14 days. */
async function recentRuns(flow: string): Promise<RunOut[]> {
  const from = Date.now() - DAYS * 86400e3;
  const out: RunOut[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 5; page++) {
    const r = await api.runs({ flow, limit: 100, from_ms: from, cursor });
    out.push(...r.runs);
    if (!r.next_cursor) break;
    cursor = r.next_cursor;
  }
  return out;
}

export function quantile(sorted: number[], q: number): number | null {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

export default function Dashboard({ flow }: { flow: string }) {
  const runs = useQuery({ queryKey: ['runs', 'dashboard', flow], queryFn: () => recentRuns(flow), refetchInterval: 15000 });
  const stats = useMemo(() => {
    const list = runs.data ?? [];
    const start = new Date();
    start.setHours(0, 0, 0, 0);
    const days = Array.from({ length: DAYS }, (_, i) => ({ t: start.getTime() - (DAYS - 1 - i) * 86400e3, counts: {} as Record<string, number> }));
    for (const r of list) {
      const d = days.find((day) => r.created_ms >= day.t && r.created_ms < day.t + 86400e3);
      if (d) d.counts[r.status] = (d.counts[r.status] ?? 0) + 1;
    }
    const lat = list.map((r) => r.latency_ms).filter((v): v is number => typeof v === 'number').sort((a, b) => a - b);
    const ended = list.filter((r) => ['succeeded', 'failed', 'cancelled'].includes(r.status));
    const failed = ended.filter((r) => r.status === 'failed').length;
    return { days, total: list.length, p50: quantile(lat, 0.5), p95: quantile(lat, 0.95), errorRate: ended.length ? failed / ended.length : null };
  }, [runs.data]);

  if (runs.isLoading) return <div className="card mb-4 flex h-40 items-center justify-center"><Spinner /></div>;
  const max = Math.max(1, ...stats.days.map((d) => Object.values(d.counts).reduce((a, b) => a + b, 0)));
  const W = 560;
  const H = 120;
  const bw = W / DAYS;
  return (
    <div className="mb-4 grid grid-cols-1 gap-4 md:grid-cols-[1fr_220px]" data-testid="dashboard">
      <div className="card p-4">
        <div className="mb-2 flex items-baseline justify-between">
          <h2 className="text-[13px] font-semibold">Runs per day</h2>
          <div className="muted flex flex-wrap gap-3 text-[11px]">
            {['succeeded', 'failed', 'running', 'waiting'].map((s) => (
              <span key={s} className="flex items-center gap-1"><span className="inline-block size-2 rounded-sm" style={{ background: COLORS[s] }} />{s}</span>
            ))}
          </div>
        </div>
        <svg viewBox={`0 0 ${W} ${H + 18}`} className="h-auto w-full" role="img" aria-label="Runs per day by status">
          {[0.5, 1].map((f) => <line key={f} x1={0} x2={W} y1={H - H * f} y2={H - H * f} className="stroke-zinc-200 dark:stroke-zinc-800" strokeDasharray="2 3" />)}
          {stats.days.map((d, i) => {
            let y = H;
            const label = new Date(d.t).toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
            return (
              <g key={d.t}>
                <title>{`${label}: ${Object.entries(d.counts).map(([s, n]) => `${n} ${s}`).join(', ') || 'no runs'}`}</title>
                {Object.entries(d.counts).map(([status, n]) => {
                  const h = (n / max) * (H - 4);
                  y -= h;
                  return <rect key={status} x={i * bw + bw * 0.18} y={y} width={bw * 0.64} height={h} rx={2} fill={COLORS[status] ?? '#a1a1aa'} />;
                })}
                {i % 2 === 1 && <text x={i * bw + bw / 2} y={H + 13} textAnchor="middle" className="fill-zinc-400 text-[9px]">{label}</text>}
              </g>
            );
          })}
        </svg>
      </div>
      <div className="grid grid-cols-3 gap-3 md:grid-cols-1">
        <Stat label="Runs (14 days)" value={String(stats.total)} />
        <Stat label="Duration p50 / p95" value={`${duration(stats.p50)} / ${duration(stats.p95)}`} />
        <Stat label="Error rate" value={stats.errorRate === null ? '—' : `${(stats.errorRate * 100).toFixed(1)} %`} tone={stats.errorRate && stats.errorRate > 0.1 ? 'bad' : undefined} />
      </div>
    </div>
  );
}

function Stat({ label, value, tone }: { label: string; value: string; tone?: 'bad' }) {
  return (
    <div className="card px-4 py-3">
      <div className="muted text-[11px] font-medium tracking-wide uppercase">{label}</div>
      <div className={`mt-1 text-[17px] font-semibold tabular-nums ${tone === 'bad' ? 'text-red-600 dark:text-red-400' : ''}`}>{value}</div>
    </div>
  );
}
