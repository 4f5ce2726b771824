// The flow's triggers: webhooks with their URL to copy, cron schedules with a readable
// description and the next fire times; add, edit and remove them.
import { Clock, Copy, Trash2, Webhook } from 'lucide-react';
import { useAuth } from '../app/auth';
import { previewCron } from '../lib/cron';
import { toast } from '../components/ui';
import { useEditor } from './store';

type Trigger = Record<string, unknown> & { type?: string };

export function Triggers() {
  const triggers = (useEditor((s) => s.doc.triggers) ?? []) as Trigger[];
  const flowId = useEditor((s) => s.flowId);
  const { me } = useAuth();
  const set = (next: Trigger[]) => {
    const s = useEditor.getState();
    const doc = { ...s.doc };
    if (next.length) doc.triggers = next;
    else delete doc.triggers;
    s.setDoc(doc);
  };
  const update = (i: number, patch: Trigger) => set(triggers.map((t, j) => (j === i ? { ...t, ...patch } : t)));
  return (
    <div className="mt-6 space-y-3 border-t border-zinc-200 pt-5 dark:border-zinc-800" data-testid="triggers">
      <div className="flex items-center justify-between">
        <div className="text-[11px] font-medium tracking-wide text-zinc-500 uppercase">Triggers</div>
        <div className="flex gap-1">
          <button className="btn btn-sm" onClick={() => set([...triggers, { type: 'webhook', path: flowId }])}><Webhook className="size-3.5" />Webhook</button>
          <button className="btn btn-sm" onClick={() => set([...triggers, { type: 'cron', schedule: '0 9 * * 1-5', timezone: Intl.DateTimeFormat().resolvedOptions().timeZone }])}><Clock className="size-3.5" />Schedule</button>
        </div>
      </div>
      {triggers.length === 0 && <p className="muted text-xs">Runs start by hand (Run, CLI, API). Add a webhook or a schedule to start them automatically.</p>}
      {triggers.map((t, i) => {
        if (t.type === 'webhook') {
          const url = `${location.origin}/hooks/${encodeURIComponent(me.workspace)}/${String(t.path ?? '')}`;
          return (
            <div key={i} className="rounded-md border border-zinc-200 p-3 dark:border-zinc-800">
              <div className="mb-2 flex items-center gap-2 text-xs font-medium"><Webhook className="size-3.5 text-zinc-400" />Webhook<button className="btn btn-ghost btn-icon ml-auto size-6" aria-label="Remove trigger" onClick={() => set(triggers.filter((_, j) => j !== i))}><Trash2 className="size-3.5" /></button></div>
              <label className="label" htmlFor={`hook-path-${i}`}>Path</label>
              <input id={`hook-path-${i}`} className="input h-8 font-mono text-xs" value={String(t.path ?? '')} onChange={(e) => update(i, { path: e.target.value })} />
              <div className="mt-2 flex items-center gap-1.5">
                <code className="muted min-w-0 flex-1 truncate rounded bg-zinc-100 px-2 py-1 text-[11px] dark:bg-zinc-800" title={url}>POST {url}</code>
                <button className="btn btn-ghost btn-icon size-7" aria-label="Copy webhook URL" onClick={() => void navigator.clipboard?.writeText(url).then(() => toast('Webhook URL copied', 'success'))}><Copy className="size-3.5" /></button>
              </div>
              <label className="mt-2 flex items-center gap-2 text-xs">
                <input type="checkbox" checked={t.respond === 'immediately'} onChange={(e) => update(i, { respond: e.target.checked ? 'immediately' : undefined })} />
                Answer at once (202 with the run id) instead of waiting for the output
              </label>
            </div>
          );
        }
        if (t.type === 'cron') {
          const preview = previewCron(String(t.schedule ?? ''), t.timezone as string | undefined);
          return (
            <div key={i} className="rounded-md border border-zinc-200 p-3 dark:border-zinc-800">
              <div className="mb-2 flex items-center gap-2 text-xs font-medium"><Clock className="size-3.5 text-zinc-400" />Schedule<button className="btn btn-ghost btn-icon ml-auto size-6" aria-label="Remove trigger" onClick={() => set(triggers.filter((_, j) => j !== i))}><Trash2 className="size-3.5" /></button></div>
              <div className="grid grid-cols-[1fr_auto] gap-2">
                <input aria-label="Cron schedule" className="input h-8 font-mono text-xs" value={String(t.schedule ?? '')} onChange={(e) => update(i, { schedule: e.target.value })} />
                <input aria-label="Time zone" className="input h-8 w-32 text-xs" value={String(t.timezone ?? '')} placeholder="UTC" onChange={(e) => update(i, { timezone: e.target.value || undefined })} />
              </div>
              {preview ? (
                <div className="mt-2 text-xs" data-testid="cron-preview">
                  <div className="font-medium">{preview.description}</div>
                  <div className="muted mt-0.5">Next: {preview.next.map((d) => d.toLocaleString(undefined, { weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })).join(' · ')}</div>
                </div>
              ) : (
                <p className="mt-2 text-xs text-amber-700 dark:text-amber-300">No preview for this expression; the compiler checks it.</p>
              )}
            </div>
          );
        }
        return <div key={i} className="muted rounded-md border border-zinc-200 p-3 font-mono text-xs dark:border-zinc-800">{JSON.stringify(t)}</div>;
      })}
    </div>
  );
}
