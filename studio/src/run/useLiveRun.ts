// A run as it happens: the stored run and steps (`GET /runs/{id}`) brought up to date by its
// event stream. When the stream drops (the server restarts), it reconnects with the last event
// id, says so, and reloads the run once it is back, so nothing in between is missed.
import { useEffect, useMemo, useReducer, useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api, type RunDetail, type StepOut } from '../api/client';
import { openStream, type StreamState } from '../api/sse';

export interface LiveStep {
  key: string;
  status: string;
  attempts: number;
  output?: unknown;
  error?: unknown;
  port?: string | null;
  cacheHit?: boolean;
  startedMs?: number;
  finishedMs?: number;
  logs: Array<{ level?: string; message?: string; at_ms?: number; fields?: unknown }>;
}

interface Live {
  status?: string;
  steps: Record<string, LiveStep>;
  output?: unknown;
  error?: unknown;
  finished: boolean;
}

type Action = { kind: 'event'; event: string; data: Record<string, unknown> } | { kind: 'reset' };

function reduce(state: Live, action: Action): Live {
  if (action.kind === 'reset') return { steps: {}, finished: false };
  const { event, data } = action;
  const at = typeof data.at_ms === 'number' ? data.at_ms : undefined;
  const step = typeof data.step === 'string' ? data.step : undefined;
  const prev = step ? state.steps[step] ?? { key: step, status: 'pending', attempts: 0, logs: [] } : undefined;
  switch (event) {
    case 'run_started':
      return { ...state, status: 'running' };
    case 'step_started':
      return { ...state, steps: { ...state.steps, [step!]: { ...prev!, status: 'running', attempts: Number(data.attempt ?? prev!.attempts + 1), startedMs: prev!.startedMs ?? at } } };
    case 'step_finished':
      return {
        ...state,
        steps: {
          ...state.steps,
          [step!]: { ...prev!, status: String(data.status), attempts: Number(data.attempt ?? prev!.attempts), output: data.output, error: data.error, port: (data.port as string) ?? null, cacheHit: Boolean(data.cache_hit), finishedMs: at },
        },
      };
    case 'log':
      return { ...state, steps: { ...state.steps, [step!]: { ...prev!, logs: [...prev!.logs, { level: data.level as string, message: data.message as string, at_ms: at, fields: data.fields }] } } };
    case 'signal_received':
    case 'timer_fired':
      return { ...state, status: 'running' };
    case 'run_finished':
      return { ...state, status: String(data.status), output: data.output, error: data.error, finished: true };
    default:
      return state;
  }
}

export interface LiveRun {
  detail?: RunDetail;
  isLoading: boolean;
  error: unknown;
  /** The run's status, live. */
  status?: string;
  /** Steps by display key: stored steps overlaid with live events. */
  steps: Record<string, LiveStep>;
  stream: StreamState;
  refresh: () => void;
}

function fromStored(s: StepOut): LiveStep {
  return {
    key: s.key,
    status: s.status,
    attempts: s.attempts,
    output: s.output ?? undefined,
    error: s.error ?? undefined,
    cacheHit: s.cache_hit,
    startedMs: s.started_ms ?? undefined,
    finishedMs: s.finished_ms ?? undefined,
    logs: (s.logs as LiveStep['logs']) ?? [],
  };
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'canceled']);

export function useLiveRun(runId: string | null | undefined): LiveRun {
  const queryClient = useQueryClient();
  const query = useQuery({ queryKey: ['run', runId], queryFn: () => api.run(runId!), enabled: !!runId });
  const [live, dispatch] = useReducer(reduce, { steps: {}, finished: false });
  const [stream, setStream] = useState<StreamState>('connecting');
  const storedStatus = query.data?.status;
  const ended = storedStatus ? TERMINAL.has(storedStatus) : false;

  useEffect(() => {
    dispatch({ kind: 'reset' });
  }, [runId]);

  useEffect(() => {
    if (!runId || !query.data || ended) {
      if (ended) setStream('closed');
      return;
    }
    let wasDown = false;
    const close = openStream(`/runs/${encodeURIComponent(runId)}/events`, {
      onMessage: (msg) => {
        let data: Record<string, unknown> = {};
        try {
          data = JSON.parse(msg.data);
        } catch {
          return;
        }
        dispatch({ kind: 'event', event: msg.event, data });
        if (msg.event === 'run_finished') {
          void queryClient.invalidateQueries({ queryKey: ['run', runId] });
          void queryClient.invalidateQueries({ queryKey: ['runs'] });
          // The flows list shows each flow's last run.
          void queryClient.invalidateQueries({ queryKey: ['flows'] });
        }
      },
      onState: (state) => {
        setStream(state);
        if (state === 'reconnecting') wasDown = true;
        if (state === 'open' && wasDown) {
          wasDown = false;
          void queryClient.invalidateQueries({ queryKey: ['run', runId] });
        }
      },
      until: (msg) => msg.event === 'run_finished',
    });
    return close;
    // The stream is opened once per run; the stored detail only gates the first open.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [runId, !!query.data, ended]);

  // One object per change, so views that depend on it do not re-render in a loop.
  const steps = useMemo(() => {
    const out: Record<string, LiveStep> = {};
    for (const s of query.data?.steps ?? []) out[s.key] = fromStored(s);
    for (const [key, s] of Object.entries(live.steps)) {
      const stored = out[key];
      // Stored data wins once the run has ended (it has the inputs and durations).
      out[key] = stored && ended ? stored : { ...stored, ...s, logs: s.logs.length ? s.logs : stored?.logs ?? [] };
    }
    return out;
  }, [query.data, live.steps, ended]);
  return {
    detail: query.data,
    isLoading: query.isLoading,
    error: query.error,
    status: ended ? storedStatus : live.status ?? storedStatus,
    steps,
    stream,
    refresh: () => void query.refetch(),
  };
}
