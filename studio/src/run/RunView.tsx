// One run, step by step: the step list (live), the chosen step's input, output, error, logs,
// attempts, duration and cache hit, and the run's actions: cancel, retry from a step, signal.
import { useMemo, useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Ban, Bell, Database, RotateCcw, WifiOff } from 'lucide-react';
import { api, errorMessage } from '../api/client';
import { parseDocument } from '../lib/doc';
import { duration, dateTime, timeAgo } from '../lib/format';
import { navigate, Link } from '../lib/router';
import { cx, Dialog, ErrorBox, JsonTree, Spinner, StatusBadge, toast } from '../components/ui';
import type { LiveRun, LiveStep } from './useLiveRun';

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'canceled']);

/** The keys of the run's steps in flow order (document order first, then any others). */
export function orderedSteps(live: LiveRun, nodeOrder: string[] = []): LiveStep[] {
  const all = Object.values(live.steps);
  const rank = (k: string) => {
    const base = k.split(/[[.]/)[0];
    const i = nodeOrder.indexOf(base);
    return i < 0 ? 1e6 : i;
  };
  return all.sort((a, b) => rank(a.key) - rank(b.key) || (a.startedMs ?? 0) - (b.startedMs ?? 0));
}

export function RunHeader({ live, compact, onRetried }: { live: LiveRun; compact?: boolean; onRetried?: (id: string) => void }) {
  const run = live.detail;
  const queryClient = useQueryClient();
  const [retrying, setRetrying] = useState(false);
  const [signalling, setSignalling] = useState(false);
  const [busy, setBusy] = useState(false);
  if (!run) return null;
  const ended = TERMINAL.has(live.status ?? '');
  const cancel = async () => {
    setBusy(true);
    try {
      await api.cancel(run.id, 'cancelled from the Studio');
      toast('Cancel requested', 'info');
      void queryClient.invalidateQueries({ queryKey: ['run', run.id] });
    } catch (e) {
      toast(errorMessage(e), 'error');
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className={cx('flex flex-wrap items-center gap-x-4 gap-y-2', compact ? '' : 'mb-4')}>
      <StatusBadge status={live.status} />
      <div className="muted flex flex-wrap items-center gap-x-3 gap-y-1 text-xs">
        <span>Run <Link className="font-mono text-zinc-700 hover:underline dark:text-zinc-300" href={`/runs/${run.id}`}>{run.id}</Link></span>
        <span>started {timeAgo(run.started_ms ?? run.created_ms)}</span>
        <span>{duration(run.latency_ms ?? (run.finished_ms && run.started_ms ? run.finished_ms - run.started_ms : null))}</span>
        {run.retry_of && <span>retry of <Link className="font-mono hover:underline" href={`/runs/${run.retry_of}`}>{run.retry_of.slice(0, 8)}…</Link></span>}
      </div>
      {live.stream === 'reconnecting' && (
        <span className="badge bg-amber-50 text-amber-800 ring-1 ring-amber-600/20 ring-inset dark:bg-amber-500/10 dark:text-amber-300" role="status">
          <WifiOff className="size-3" /> Connection lost, reconnecting…
        </span>
      )}
      <div className="ml-auto flex gap-2">
        {!ended && (
          <>
            <button className="btn btn-sm" onClick={() => setSignalling(true)}><Bell className="size-3.5" />Signal…</button>
            <button className="btn btn-sm" onClick={cancel} disabled={busy}><Ban className="size-3.5" />Cancel</button>
          </>
        )}
        {ended && <button className="btn btn-sm" onClick={() => setRetrying(true)}><RotateCcw className="size-3.5" />Retry from…</button>}
      </div>
      {retrying && <RetryDialog live={live} onClose={() => setRetrying(false)} onRetried={onRetried} />}
      {signalling && <SignalDialog live={live} onClose={() => setSignalling(false)} />}
    </div>
  );
}

export function RetryDialog({ live, onClose, onRetried, from: initial }: { live: LiveRun; onClose: () => void; onRetried?: (id: string) => void; from?: string }) {
  const run = live.detail!;
  const keys = Object.keys(live.steps).filter((k) => !k.includes('['));
  const firstFailed = Object.values(live.steps).find((s) => s.status === 'failed')?.key;
  const [from, setFrom] = useState(initial ?? firstFailed ?? keys[0] ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async () => {
    setBusy(true);
    try {
      const next = await api.retry(run.id, from);
      toast(`Retrying from ${from}`, 'success');
      onClose();
      if (onRetried) onRetried(next.id);
      else navigate(`/runs/${next.id}`);
    } catch (e) {
      setError(errorMessage(e));
      setBusy(false);
    }
  };
  return (
    <Dialog title="Retry from a step" description="Steps before it keep their recorded outputs; it and everything after it run again, on the same flow version." onClose={onClose}
      footer={<><button className="btn" onClick={onClose}>Cancel</button><button className="btn btn-primary" onClick={submit} disabled={busy || !from}>{busy && <Spinner className="size-4 text-white" />}Retry</button></>}>
      <label className="label" htmlFor="retry-from">Start again from</label>
      <select id="retry-from" className="input" value={from} onChange={(e) => setFrom(e.target.value)}>
        {keys.map((k) => <option key={k} value={k}>{k} ({live.steps[k].status})</option>)}
      </select>
      {error && <div className="mt-3"><ErrorBox title="Not retried">{error}</ErrorBox></div>}
    </Dialog>
  );
}

function SignalDialog({ live, onClose }: { live: LiveRun; onClose: () => void }) {
  const run = live.detail!;
  const version = useQuery({ queryKey: ['flow', run.flow_id, 'v', run.flow_version], queryFn: () => api.version(run.flow_id, run.flow_version) });
  const names = useMemo(() => {
    const parsed = version.data ? parseDocument(version.data.document, version.data.format) : null;
    if (!parsed?.ok) return [];
    return parsed.doc.nodes.filter((n) => n.type === 'core.signal').map((n) => String(n.config?.name ?? n.id));
  }, [version.data]);
  const [name, setName] = useState('');
  const [payload, setPayload] = useState('{\n  "approved": true\n}');
  const [error, setError] = useState<string | null>(null);
  const effective = name || names[0] || '';
  const send = async () => {
    let body: unknown;
    try {
      body = payload.trim() ? JSON.parse(payload) : {};
    } catch (e) {
      setError(`The payload is not JSON: ${errorMessage(e)}`);
      return;
    }
    try {
      await api.signal(run.id, effective, body);
      toast(`Sent “${effective}”`, 'success');
      onClose();
    } catch (e) {
      setError(errorMessage(e));
    }
  };
  return (
    <Dialog title="Send a signal" description="Wakes a step waiting in core.signal (an approval, for example)." onClose={onClose}
      footer={<><button className="btn" onClick={onClose}>Cancel</button><button className="btn btn-primary" onClick={send} disabled={!effective}>Send</button></>}>
      <div className="space-y-3">
        <div>
          <label className="label" htmlFor="signal-name">Signal</label>
          <input id="signal-name" className="input font-mono" list="signal-names" value={effective} onChange={(e) => setName(e.target.value)} />
          <datalist id="signal-names">{names.map((n) => <option key={n} value={n} />)}</datalist>
        </div>
        <div>
          <label className="label" htmlFor="signal-payload">Payload (JSON)</label>
          <textarea id="signal-payload" className="input h-28 py-2 font-mono text-xs" value={payload} onChange={(e) => setPayload(e.target.value)} />
        </div>
        {error && <ErrorBox title="Not sent">{error}</ErrorBox>}
      </div>
    </Dialog>
  );
}

export function StepList({ steps, selected, onSelect }: { steps: LiveStep[]; selected?: string | null; onSelect: (key: string) => void }) {
  if (steps.length === 0) return <p className="muted px-3 py-6 text-center text-[13px]">No step has started yet.</p>;
  return (
    <ul className="divide-y divide-zinc-100 dark:divide-zinc-800/80" role="listbox" aria-label="Steps">
      {steps.map((s) => (
        <li key={s.key}>
          <button
            role="option"
            aria-selected={selected === s.key}
            data-testid={`step-${s.key}`}
            onClick={() => onSelect(s.key)}
            className={cx('flex w-full items-center gap-3 px-3 py-2.5 text-left text-[13px] hover:bg-zinc-50 dark:hover:bg-zinc-800/40', selected === s.key && 'bg-accent-50 hover:bg-accent-50 dark:bg-accent-700/20 dark:hover:bg-accent-700/20')}
          >
            <span className="min-w-0 flex-1 truncate font-mono text-[12.5px]">{s.key}</span>
            {s.cacheHit && <Database className="size-3.5 text-sky-500" aria-label="cache hit" />}
            <span className="muted w-14 text-right text-xs tabular-nums">{s.finishedMs && s.startedMs ? duration(s.finishedMs - s.startedMs) : ''}</span>
            <StatusBadge status={s.status} />
          </button>
        </li>
      ))}
    </ul>
  );
}

export function StepDetails({ step, live, onRetryFrom }: { step: LiveStep; live: LiveRun; onRetryFrom?: (key: string) => void }) {
  const stored = live.detail?.steps.find((s) => s.key === step.key);
  const tabs = ['output', 'input', 'error', 'logs'] as const;
  const [tab, setTab] = useState<(typeof tabs)[number]>(step.status === 'failed' ? 'error' : 'output');
  const ended = TERMINAL.has(live.status ?? '');
  const errorValue = step.error ?? stored?.error;
  return (
    <div className="flex h-full min-h-0 flex-col">
      <div className="flex flex-wrap items-center gap-x-4 gap-y-1 border-b border-zinc-200 px-4 py-3 dark:border-zinc-800">
        <div className="font-mono text-[13px] font-semibold">{step.key}</div>
        <StatusBadge status={step.status} />
        <div className="muted flex flex-wrap gap-x-3 text-xs">
          <span>{step.attempts} attempt{step.attempts === 1 ? '' : 's'}</span>
          <span>{duration(stored?.duration_ms ?? (step.finishedMs && step.startedMs ? step.finishedMs - step.startedMs : null))}</span>
          {step.cacheHit && <span className="text-sky-600 dark:text-sky-400">cache hit</span>}
          {step.port && step.port !== 'out' && <span>port <span className="font-mono">{step.port}</span></span>}
          {stored?.started_ms && <span>{dateTime(stored.started_ms)}</span>}
        </div>
        {ended && onRetryFrom && !step.key.includes('[') && (
          <button className="btn btn-sm ml-auto" onClick={() => onRetryFrom(step.key)}><RotateCcw className="size-3.5" />Retry from here</button>
        )}
      </div>
      <div className="flex gap-1 border-b border-zinc-200 px-3 dark:border-zinc-800" role="tablist">
        {tabs.map((t) => (
          <button key={t} role="tab" aria-selected={tab === t} onClick={() => setTab(t)}
            className={cx('-mb-px border-b-2 px-2.5 py-2 text-xs font-medium capitalize', tab === t ? 'border-accent-600 text-zinc-900 dark:text-white' : 'border-transparent text-zinc-500 hover:text-zinc-800 dark:hover:text-zinc-200')}>
            {t}
            {t === 'logs' && step.logs.length > 0 && <span className="ml-1 text-zinc-400">{step.logs.length}</span>}
            {t === 'error' && errorValue != null && <span className="ml-1 inline-block size-1.5 rounded-full bg-red-500 align-middle" />}
          </button>
        ))}
      </div>
      <div className="min-h-0 flex-1 overflow-auto p-4 font-mono text-xs leading-relaxed" data-testid="step-details">
        {tab === 'output' && (step.output !== undefined ? <JsonTree value={step.output} /> : <p className="muted font-sans">{step.status === 'running' ? 'Running…' : 'No output.'}</p>)}
        {tab === 'input' && (stored?.input != null ? <JsonTree value={stored.input} /> : <p className="muted font-sans">The resolved config appears when the step has run.</p>)}
        {tab === 'error' && (errorValue != null ? <ErrorView error={errorValue} /> : <p className="muted font-sans">No error.</p>)}
        {tab === 'logs' && (step.logs.length ? (
          <ul className="space-y-1">
            {step.logs.map((l, i) => (
              <li key={i} className="flex gap-3">
                <span className="text-zinc-400">{l.at_ms ? new Date(l.at_ms).toLocaleTimeString() : ''}</span>
                <span className={cx('w-10 uppercase', l.level === 'error' ? 'text-red-600' : l.level === 'warn' ? 'text-amber-600' : 'text-zinc-500')}>{l.level}</span>
                <span className="min-w-0 flex-1 break-words">{l.message}{l.fields && Object.keys(l.fields as object).length ? ` ${JSON.stringify(l.fields)}` : ''}</span>
              </li>
            ))}
          </ul>
        ) : <p className="muted font-sans">No log lines.</p>)}
      </div>
    </div>
  );
}

function ErrorView({ error }: { error: unknown }) {
  const e = error as { kind?: string; message?: string };
  return (
    <div className="space-y-3 font-sans">
      {e.message && (
        <div className="rounded-md border border-red-200 bg-red-50 px-3 py-2 text-[13px] text-red-800 dark:border-red-900/60 dark:bg-red-950/40 dark:text-red-200">
          {e.kind && <span className="mr-2 font-mono text-xs font-semibold">{e.kind}</span>}
          {e.message}
        </div>
      )}
      <div className="font-mono"><JsonTree value={error} /></div>
    </div>
  );
}
