// A run's timeline: one bar per step from its start to its end, on the run's time axis.
import type { LiveStep } from './useLiveRun';
import { cx } from '../components/ui';
import { duration } from '../lib/format';

const BAR: Record<string, string> = {
  succeeded: 'bg-emerald-500',
  failed: 'bg-red-500',
  running: 'bg-sky-500 animate-pulse',
  waiting: 'bg-amber-500',
  skipped: 'bg-zinc-300 dark:bg-zinc-700',
};

export function Gantt({ steps, selected, onSelect }: { steps: LiveStep[]; selected?: string | null; onSelect: (key: string) => void }) {
  const timed = steps.filter((s) => s.startedMs);
  if (!timed.length) return <p className="muted px-4 py-6 text-center text-[13px]">The timeline appears once steps have started.</p>;
  const start = Math.min(...timed.map((s) => s.startedMs!));
  const end = Math.max(...timed.map((s) => s.finishedMs ?? Date.now()));
  const span = Math.max(1, end - start);
  return (
    <div className="space-y-1 p-3" data-testid="gantt">
      {steps.map((s) => {
        const from = s.startedMs ? ((s.startedMs - start) / span) * 100 : 0;
        const width = s.startedMs ? Math.max(0.6, (((s.finishedMs ?? Date.now()) - s.startedMs) / span) * 100) : 0;
        return (
          <button key={s.key} onClick={() => onSelect(s.key)} className={cx('flex w-full items-center gap-3 rounded px-1 py-0.5 text-left hover:bg-zinc-50 dark:hover:bg-zinc-800/40', selected === s.key && 'bg-accent-50 dark:bg-accent-700/20')}>
            <span className="w-28 shrink-0 truncate font-mono text-[11.5px]">{s.key}</span>
            <span className="relative h-3.5 flex-1 rounded-sm bg-zinc-100 dark:bg-zinc-800/60">
              {s.startedMs && <span className={cx('absolute top-0 h-full rounded-sm', BAR[s.status] ?? 'bg-zinc-400')} style={{ left: `${from}%`, width: `${Math.min(width, 100 - from)}%` }} />}
            </span>
            <span className="muted w-14 shrink-0 text-right text-[11px] tabular-nums">{s.startedMs && s.finishedMs ? duration(s.finishedMs - s.startedMs) : s.status}</span>
          </button>
        );
      })}
      <div className="muted flex justify-between pt-1 pl-[7.75rem] pr-[4.25rem] text-[10px] tabular-nums"><span>0</span><span>{duration(span)}</span></div>
    </div>
  );
}
