// Every run of the workspace, newest first, filtered by flow, status and time; pages with the
// server's cursor. New runs appear as the workspace's event stream announces them.
import { lazy, Suspense, useEffect, useState } from 'react';
import { useInfiniteQuery, useQuery, useQueryClient } from '@tanstack/react-query';
import { Activity } from 'lucide-react';
import { api, errorMessage } from '../api/client';
import { openStream } from '../api/sse';
import { duration, shortId, timeAgo } from '../lib/format';
import { Link, navigate } from '../lib/router';
import { EmptyState, ErrorBox, Spinner, StatusBadge } from '../components/ui';

// The charts load after the list, in their own chunk.
const Dashboard = lazy(() => import('../run/Dashboard'));

const STATUSES = ['queued', 'running', 'waiting', 'succeeded', 'failed', 'cancelled'];
const SINCE: Record<string, number | undefined> = { any: undefined, '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3 };

export function RunsPage() {
  const [flow, setFlow] = useState('');
  const [status, setStatus] = useState('');
  const [since, setSince] = useState('any');
  const queryClient = useQueryClient();
  const flows = useQuery({ queryKey: ['flows'], queryFn: api.flows });
  const runs = useInfiniteQuery({
    queryKey: ['runs', 'list', flow, status, since],
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) => api.runs({ flow, status, limit: 50, cursor: pageParam, from_ms: SINCE[since] ? Date.now() - SINCE[since]! : undefined }),
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  useEffect(
    () =>
      openStream('/events', {
        onMessage: () => void queryClient.invalidateQueries({ queryKey: ['runs', 'list'] }),
      }),
    [queryClient],
  );
  const list = runs.data?.pages.flatMap((p) => p.runs) ?? [];
  const select = 'h-8 rounded-md border border-zinc-300 bg-white px-2 text-[13px] dark:border-zinc-700 dark:bg-zinc-900';
  return (
    <div className="mx-auto max-w-6xl px-4 py-6 md:px-8 md:py-8">
      <div className="mb-6">
        <h1 className="text-xl font-semibold tracking-tight">Runs</h1>
        <p className="muted mt-1 text-[13px]">Every run of this workspace, live.</p>
      </div>
      <Suspense fallback={<div className="card mb-4 h-40" />}>
        <Dashboard flow={flow} />
      </Suspense>
      <div className="mb-4 flex flex-wrap gap-2">
        <select aria-label="Flow" className={select} value={flow} onChange={(e) => setFlow(e.target.value)}>
          <option value="">All flows</option>
          {flows.data?.flows.map((f) => <option key={f.id} value={f.id}>{f.id}</option>)}
        </select>
        <select aria-label="Status" className={select} value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="">Any status</option>
          {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
        <select aria-label="Time" className={select} value={since} onChange={(e) => setSince(e.target.value)}>
          <option value="any">Any time</option>
          <option value="1h">Last hour</option>
          <option value="24h">Last 24 hours</option>
          <option value="7d">Last 7 days</option>
        </select>
      </div>
      <div className="card overflow-hidden">
        {runs.isLoading ? (
          <div className="flex justify-center py-16"><Spinner className="size-5" /></div>
        ) : runs.isError ? (
          <div className="p-4"><ErrorBox title="Could not load runs">{errorMessage(runs.error)}</ErrorBox></div>
        ) : list.length === 0 ? (
          <EmptyState icon={<Activity className="size-6" />} title={flow || status || since !== 'any' ? 'No run matches' : 'No runs yet'}>
            {flow || status || since !== 'any' ? 'Change the filters to see more.' : 'Run a flow from its editor, the API, a webhook or a schedule; its runs show up here as they happen.'}
          </EmptyState>
        ) : (
          <table className="w-full text-[13px]">
            <thead className="border-b border-zinc-200 bg-zinc-50 text-left text-xs text-zinc-500 dark:border-zinc-800 dark:bg-zinc-900/60 dark:text-zinc-400">
              <tr>
                <th className="px-4 py-2.5 font-medium">Status</th>
                <th className="px-4 py-2.5 font-medium">Flow</th>
                <th className="hidden px-4 py-2.5 font-medium sm:table-cell">Run</th>
                <th className="px-4 py-2.5 font-medium">Started</th>
                <th className="hidden px-4 py-2.5 text-right font-medium sm:table-cell">Duration</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-100 dark:divide-zinc-800/80">
              {list.map((r) => (
                <tr key={r.id} className="cursor-pointer hover:bg-zinc-50 dark:hover:bg-zinc-800/30" onClick={() => navigate(`/runs/${r.id}`)}>
                  <td className="px-4 py-2.5"><StatusBadge status={r.status} /></td>
                  <td className="px-4 py-2.5"><span className="font-medium">{r.flow_id}</span> <span className="muted text-xs">v{r.flow_version}</span></td>
                  <td className="hidden px-4 py-2.5 sm:table-cell"><Link href={`/runs/${r.id}`} className="muted font-mono text-xs hover:underline">{shortId(r.id)}</Link></td>
                  <td className="muted px-4 py-2.5 text-xs">{timeAgo(r.created_ms)}</td>
                  <td className="muted hidden px-4 py-2.5 text-right text-xs tabular-nums sm:table-cell">{duration(r.latency_ms)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {runs.hasNextPage && (
          <div className="border-t border-zinc-200 p-3 text-center dark:border-zinc-800">
            <button className="btn btn-sm" onClick={() => runs.fetchNextPage()} disabled={runs.isFetchingNextPage}>{runs.isFetchingNextPage ? 'Loading…' : 'Load more'}</button>
          </div>
        )}
      </div>
    </div>
  );
}
