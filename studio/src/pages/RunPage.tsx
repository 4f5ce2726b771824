// A run's page: its steps as they happen, the chosen step's details, cancel, retry, signal.
import { useEffect, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { ArrowLeft } from 'lucide-react';
import { api, errorMessage } from '../api/client';
import { parseDocument } from '../lib/doc';
import { Link, navigate } from '../lib/router';
import { ErrorBox, JsonTree, Spinner } from '../components/ui';
import { useLiveRun } from '../run/useLiveRun';
import { orderedSteps, RetryDialog, RunHeader, StepDetails, StepList } from '../run/RunView';
import { Gantt } from '../run/Gantt';
import { cx } from '../components/ui';

export function RunPage({ runId }: { runId: string }) {
  const live = useLiveRun(runId);
  const run = live.detail;
  const version = useQuery({
    queryKey: ['flow', run?.flow_id, 'v', run?.flow_version],
    queryFn: () => api.version(run!.flow_id, run!.flow_version),
    enabled: !!run,
  });
  const order = (() => {
    const p = version.data ? parseDocument(version.data.document, version.data.format) : null;
    return p?.ok ? p.doc.nodes.map((n) => n.id) : [];
  })();
  const steps = orderedSteps(live, order);
  const [selected, setSelected] = useState<string | null>(null);
  const [retryFrom, setRetryFrom] = useState<string | null>(null);
  const [view, setView] = useState<'list' | 'timeline'>('list');
  useEffect(() => {
    if (!selected && steps.length) setSelected((steps.find((s) => s.status === 'failed') ?? steps[steps.length - 1]).key);
  }, [selected, steps]);
  const step = selected ? live.steps[selected] : undefined;

  if (live.isLoading) return <div className="flex h-full items-center justify-center"><Spinner className="size-6" /></div>;
  if (live.error || !run) {
    return (
      <div className="mx-auto max-w-3xl p-8">
        <ErrorBox title="Could not load this run" action={<Link href="/runs" className="btn btn-sm">All runs</Link>}>{errorMessage(live.error)}</ErrorBox>
      </div>
    );
  }
  return (
    <div className="mx-auto flex h-full max-w-7xl flex-col px-4 py-5 md:px-8 md:py-6">
      <div className="mb-3 flex items-center gap-2 text-[13px]">
        <Link href="/runs" className="muted inline-flex items-center gap-1 hover:text-zinc-900 dark:hover:text-white"><ArrowLeft className="size-3.5" />Runs</Link>
        <span className="muted">/</span>
        <Link href={`/flows/${encodeURIComponent(run.flow_id)}`} className="font-medium hover:underline">{run.flow_id}</Link>
        <span className="muted">v{run.flow_version}</span>
      </div>
      <RunHeader live={live} />
      {live.status === 'failed' && run.error != null && (
        <div className="mb-4"><ErrorBox title="The run failed">{(run.error as { message?: string }).message ?? JSON.stringify(run.error)}</ErrorBox></div>
      )}
      <div className="grid min-h-0 flex-1 grid-cols-1 gap-4 lg:grid-cols-[minmax(280px,400px)_1fr]">
        <div className="card min-h-0 overflow-auto">
          <div className="flex gap-1 border-b border-zinc-200 px-2 dark:border-zinc-800" role="tablist">
            {(['list', 'timeline'] as const).map((v) => (
              <button key={v} role="tab" aria-selected={view === v} onClick={() => setView(v)} className={cx('-mb-px border-b-2 px-2 py-2 text-xs font-medium capitalize', view === v ? 'border-accent-600 text-zinc-900 dark:text-white' : 'border-transparent text-zinc-500 hover:text-zinc-800 dark:hover:text-zinc-200')}>
                {v === 'list' ? 'Steps' : 'Timeline'}
              </button>
            ))}
          </div>
          {view === 'list' ? <StepList steps={steps} selected={selected} onSelect={setSelected} /> : <Gantt steps={steps} selected={selected} onSelect={setSelected} />}
          {run.output != null && live.status === 'succeeded' && (
            <div className="border-t border-zinc-200 p-3 dark:border-zinc-800">
              <div className="mb-1 text-xs font-medium text-zinc-500">Run output</div>
              <div className="font-mono text-xs"><JsonTree value={run.output} /></div>
            </div>
          )}
        </div>
        <div className="card min-h-[320px] overflow-hidden">
          {step ? <StepDetails key={step.key} step={step} live={live} onRetryFrom={setRetryFrom} /> : <p className="muted p-6 text-[13px]">Choose a step to see its input, output and logs.</p>}
        </div>
      </div>
      {retryFrom && <RetryDialog live={live} from={retryFrom} onClose={() => setRetryFrom(null)} onRetried={(id) => navigate(`/runs/${id}`)} />}
    </div>
  );
}
