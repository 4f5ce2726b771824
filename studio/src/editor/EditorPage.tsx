// The flow editor: palette, canvas or code view, side panel, problems and the live run, with
// save (If-Match; a conflict is shown, never overwritten silently), undo/redo and shortcuts.
import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import {
  AlertCircle, AlertTriangle, ArrowLeft, Braces, ChevronDown, ChevronUp, History, LayoutGrid, Loader2, Maximize, Play, Redo2, Save, Undo2, Workflow, CheckCircle2,
} from 'lucide-react';
import { ApiError, api, errorMessage, etagVersion, type Diagnostic } from '../api/client';
import { parseDocument, printDocument, type FlowDoc, type Format } from '../lib/doc';
import { diagnosticField, pointerTarget, type Catalog, type NodeSpec } from '../lib/graph';
import { Link } from '../lib/router';
import { timeAgo } from '../lib/format';
import { diffLines, type DiffLine } from '../lib/diff';
import { cx, Dialog, ErrorBox, Spinner, toast, Kbd } from '../components/ui';
import { usePalette } from '../components/palette-store';
import { draftKey, isDirty, useEditor, type Draft } from './store';
import { Canvas, type CanvasApi } from './Canvas';
import { Palette } from './Palette';
import { Inspector } from './Inspector';
import { autoLayout } from './layout';
import { RunScope } from './ExprInput';
import { useLiveRun } from '../run/useLiveRun';
import { orderedSteps, RetryDialog, RunHeader, StepDetails, StepList } from '../run/RunView';

const CodeView = lazy(() => import('./CodeView'));
const RunDialog = lazy(() => import('./RunDialog'));

export default function EditorPage({ flowId }: { flowId: string }) {
  const flow = useQuery({ queryKey: ['flow', flowId, 'latest'], queryFn: () => api.flow(flowId), staleTime: 0, gcTime: 0 });
  const nodes = useQuery({ queryKey: ['nodes'], queryFn: api.nodes, staleTime: Infinity, retry: 1 });
  const [ready, setReady] = useState(false);
  const [restored, setRestored] = useState<Draft | null>(null);

  useEffect(() => {
    if (!flow.data || ready) return;
    const { data, headers } = flow.data;
    const version = etagVersion(headers) ?? data.version;
    const parsed = parseDocument(data.document, data.format);
    const doc = parsed.ok ? parsed.doc : { aion: 1, id: data.id, nodes: [] };
    // Placing nodes that have no position is not an edit: the saved text includes it.
    const placed = autoLayout(doc, true);
    const savedText = printDocument(placed, data.format);
    useEditor.getState().load(flowId, placed, data.format, version, savedText);
    // Unsaved work from an earlier visit (a reload, a crash, an expired session) comes back.
    try {
      const raw = localStorage.getItem(draftKey(flowId));
      const draft = raw ? (JSON.parse(raw) as Draft) : null;
      if (draft && draft.text !== savedText) {
        const s = useEditor.getState();
        if (draft.format !== s.format) s.setFormat(draft.format);
        s.setText(draft.text);
        if (draft.baseVersion !== version) s.setConflict({ theirVersion: version });
        s.rebase(draft.baseVersion);
        setRestored(draft);
      }
    } catch {
      // An unreadable draft is ignored.
    }
    setReady(true);
  }, [flow.data, flowId, ready]);

  const catalog: Catalog = useMemo(() => new Map((nodes.data?.nodes ?? []).map((n) => [n.type, n])), [nodes.data]);

  if (flow.isLoading) return <div className="flex h-full items-center justify-center"><Spinner className="size-6" /></div>;
  if (flow.isError) {
    const missing = flow.error instanceof ApiError && flow.error.status === 404;
    return (
      <div className="mx-auto max-w-xl p-8">
        <ErrorBox title={missing ? `There is no flow “${flowId}” in this workspace` : 'Could not open the flow'} action={<Link className="btn btn-sm" href="/flows">All flows</Link>}>
          {missing ? 'It may have been deleted, or it belongs to another workspace.' : errorMessage(flow.error)}
        </ErrorBox>
      </div>
    );
  }
  if (!ready) return null;
  return <Editor catalog={catalog} specs={nodes.data?.nodes ?? []} catalogError={nodes.isError ? errorMessage(nodes.error) : null} restored={restored} onDismissRestored={() => setRestored(null)} />;
}

function Editor({ catalog, specs, catalogError, restored, onDismissRestored }: { catalog: Catalog; specs: NodeSpec[]; catalogError: string | null; restored: Draft | null; onDismissRestored: () => void }) {
  const s = useEditor();
  const dirty = isDirty(s);
  const queryClient = useQueryClient();
  const [view, setView] = useState<'canvas' | 'code'>('canvas');
  const [bottom, setBottom] = useState<'problems' | 'run' | null>(null);
  const [saving, setSaving] = useState(false);
  const [runOpen, setRunOpen] = useState(false);
  const [historyOpen, setHistoryOpen] = useState(false);
  const canvas = useRef<CanvasApi | null>(null);
  const live = useLiveRun(s.runId);

  // The last run of this flow gives expressions real paths and previews.
  const lastRun = useQuery({
    queryKey: ['runs', 'last', s.flowId],
    queryFn: async () => {
      const list = await api.runs({ flow: s.flowId, limit: 1 });
      return list.runs[0] ? api.run(list.runs[0].id) : null;
    },
  });
  const scope = useMemo(() => {
    const steps: Record<string, { output?: unknown; error?: unknown }> = {};
    const detail = live.detail ?? lastRun.data ?? undefined;
    for (const st of detail?.steps ?? []) steps[st.key] = { output: st.output ?? undefined, error: st.error ?? undefined };
    for (const [k, v] of Object.entries(live.steps)) steps[k] = { output: v.output, error: v.error };
    return { steps, inputs: detail?.input };
  }, [live.detail, live.steps, lastRun.data]);

  useCompile();

  const save = useCallback(async (): Promise<boolean> => {
    const st = useEditor.getState();
    if (st.textError) {
      toast(`Fix the ${st.format.toUpperCase()} syntax error first (line ${st.textError.line ?? '?'}).`, 'error');
      return false;
    }
    setSaving(true);
    try {
      const { data, headers } = await api.saveFlow(st.flowId, st.version, st.text, st.format);
      useEditor.getState().markSaved(etagVersion(headers) ?? data.version);
      void queryClient.invalidateQueries({ queryKey: ['flows'] });
      toast(`Saved version ${data.version}`, 'success');
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 412) {
        let theirs: number | undefined;
        try {
          const latest = await api.flow(st.flowId);
          theirs = latest.data.version;
        } catch {
          // Unknown: the banner says "someone".
        }
        useEditor.getState().setConflict({ theirVersion: theirs });
      } else if (e instanceof ApiError && e.status === 422 && e.problem.errors) {
        useEditor.getState().setDiagnostics(e.problem.errors as Diagnostic[]);
        setBottom('problems');
        toast(`Not saved: the document has ${e.problem.errors.filter((d) => d.severity !== 'warning').length} error(s)`, 'error');
      } else if (e instanceof ApiError && e.status === 401) {
        toast('Not saved: the session expired. Sign in again, then save; your changes are still here.', 'error');
      } else {
        toast(`Not saved: ${errorMessage(e)}`, 'error');
      }
      return false;
    } finally {
      setSaving(false);
    }
  }, [queryClient]);

  const startRun = useCallback(async () => {
    const st = useEditor.getState();
    if (isDirty(st) && !(await save())) return;
    setRunOpen(true);
  }, [save]);

  const layout = useCallback(() => {
    const st = useEditor.getState();
    st.setDoc(autoLayout(st.doc));
    setTimeout(() => canvas.current?.fit(), 50);
  }, []);

  // Keyboard: save, undo/redo, run. Undo/redo belong to the code editor while it has focus.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const mod = e.ctrlKey || e.metaKey;
      if (!mod) return;
      const key = e.key.toLowerCase();
      const inText = (e.target as HTMLElement).closest?.('input, textarea, [contenteditable=true]');
      if (key === 's') {
        e.preventDefault();
        void save();
      } else if (key === 'enter') {
        e.preventDefault();
        void startRun();
      } else if (!inText && key === 'z') {
        e.preventDefault();
        if (e.shiftKey) useEditor.getState().redo();
        else useEditor.getState().undo();
      } else if (!inText && key === 'y') {
        e.preventDefault();
        useEditor.getState().redo();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [save, startRun]);

  // Commands this page adds to Ctrl+K.
  const setPageCommands = usePalette((p) => p.setPageCommands);
  useEffect(() => {
    setPageCommands([
      { id: 'save', group: 'Flow', label: 'Save', hint: 'Ctrl S', run: () => void save() },
      { id: 'run', group: 'Flow', label: 'Run…', hint: 'Ctrl Enter', run: () => void startRun() },
      { id: 'layout', group: 'Flow', label: 'Auto-layout the canvas', run: layout },
      { id: 'fit', group: 'Flow', label: 'Zoom to fit', run: () => canvas.current?.fit() },
      { id: 'code', group: 'Flow', label: 'Toggle code view', run: () => setView((v) => (v === 'canvas' ? 'code' : 'canvas')) },
      { id: 'problems', group: 'Flow', label: 'Show problems', run: () => setBottom('problems') },
      ...specs.map((n) => ({ id: `add-${n.type}`, group: 'Add node', label: `Add ${n.title}`, hint: n.type, keywords: [n.type, n.category], run: () => { setView('canvas'); setTimeout(() => canvas.current?.addAtCenter(n.type), 30); } })),
    ]);
    return () => setPageCommands([]);
  }, [setPageCommands, specs, save, startRun, layout]);

  // Leaving with unsaved changes: the draft is kept, but say so.
  useEffect(() => {
    const onUnload = (e: BeforeUnloadEvent) => {
      if (isDirty(useEditor.getState())) e.preventDefault();
    };
    window.addEventListener('beforeunload', onUnload);
    return () => window.removeEventListener('beforeunload', onUnload);
  }, []);

  const errors = s.diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = s.diagnostics.length - errors;
  const runSteps = s.runId ? live.steps : undefined;

  return (
    <RunScope.Provider value={scope}>
      <div className="flex h-full min-h-0 flex-col">
        <header className="flex h-14 shrink-0 items-center gap-2 border-b border-zinc-200 bg-white px-3 dark:border-zinc-800 dark:bg-zinc-900">
          <Link href="/flows" className="btn btn-ghost btn-icon" aria-label="Back to flows"><ArrowLeft className="size-4" /></Link>
          <div className="min-w-0">
            <div className="flex items-center gap-2">
              <h1 className="truncate text-[14px] font-semibold" data-testid="flow-title">{s.doc.name || s.flowId}</h1>
              <span className="badge bg-zinc-100 text-zinc-600 dark:bg-zinc-800 dark:text-zinc-300">v{s.version}</span>
              {dirty ? <span className="badge bg-amber-50 text-amber-800 dark:bg-amber-500/10 dark:text-amber-300" data-testid="unsaved">Unsaved</span> : <span className="muted hidden text-xs sm:inline">Saved</span>}
            </div>
            <div className="muted truncate font-mono text-[11px]">{s.flowId}</div>
          </div>
          <div className="mx-auto hidden rounded-md bg-zinc-100 p-0.5 md:flex dark:bg-zinc-800" role="tablist" aria-label="View">
            {(['canvas', 'code'] as const).map((v) => (
              <button key={v} role="tab" aria-selected={view === v} onClick={() => setView(v)}
                className={cx('flex h-7 items-center gap-1.5 rounded px-3 text-xs font-medium capitalize', view === v ? 'bg-white shadow-xs dark:bg-zinc-950' : 'text-zinc-500 hover:text-zinc-800 dark:hover:text-zinc-200')}>
                {v === 'canvas' ? <Workflow className="size-3.5" /> : <Braces className="size-3.5" />}{v}
              </button>
            ))}
          </div>
          <div className="ml-auto flex items-center gap-1">
            {view === 'code' && (
              <select aria-label="Syntax" className="h-8 rounded-md border border-zinc-300 bg-white px-2 text-xs dark:border-zinc-700 dark:bg-zinc-900" value={s.format} onChange={(e) => s.setFormat(e.target.value as Format)} disabled={!!s.textError}>
                <option value="yaml">YAML</option>
                <option value="json">JSON</option>
              </select>
            )}
            <button className="btn btn-ghost btn-icon" title="Undo (Ctrl Z)" aria-label="Undo" disabled={!s.past.length} onClick={s.undo}><Undo2 className="size-4" /></button>
            <button className="btn btn-ghost btn-icon" title="Redo (Ctrl Shift Z)" aria-label="Redo" disabled={!s.future.length} onClick={s.redo}><Redo2 className="size-4" /></button>
            {view === 'canvas' && (
              <>
                <button className="btn btn-ghost btn-icon hidden sm:inline-flex" title="Auto-layout" aria-label="Auto-layout" onClick={layout}><LayoutGrid className="size-4" /></button>
                <button className="btn btn-ghost btn-icon hidden sm:inline-flex" title="Zoom to fit" aria-label="Zoom to fit" onClick={() => canvas.current?.fit()}><Maximize className="size-4" /></button>
              </>
            )}
            <button className="btn btn-ghost btn-icon" title="Versions" aria-label="Versions" onClick={() => setHistoryOpen(true)}><History className="size-4" /></button>
            <div className="mx-1 h-5 w-px bg-zinc-200 dark:bg-zinc-800" />
            <button className="btn" onClick={() => void save()} disabled={saving || !dirty} title="Save (Ctrl S)">
              {saving ? <Loader2 className="size-4 animate-spin" /> : <Save className="size-4" />}Save
            </button>
            <button className="btn btn-primary" onClick={() => void startRun()} title="Run (Ctrl Enter)" data-testid="run-button">
              <Play className="size-4" />Run
            </button>
          </div>
        </header>

        {s.conflict && <ConflictBanner onSave={save} />}
        {restored && !s.conflict && (
          <div className="flex items-center gap-3 border-b border-sky-200 bg-sky-50 px-4 py-2 text-[13px] text-sky-900 dark:border-sky-900/60 dark:bg-sky-950/40 dark:text-sky-100" role="status">
            <span className="flex-1">Restored unsaved changes from {timeAgo(restored.savedMs)}.</span>
            <button className="btn btn-sm" onClick={() => { const st = useEditor.getState(); st.setText(st.savedText); onDismissRestored(); }}>Discard them</button>
            <button className="btn btn-ghost btn-sm" onClick={onDismissRestored}>Keep</button>
          </div>
        )}

        <div className="flex min-h-0 flex-1">
          <aside className="hidden w-60 shrink-0 border-r border-zinc-200 bg-white lg:block dark:border-zinc-800 dark:bg-zinc-900">
            {catalogError ? (
              <div className="p-3"><ErrorBox title="No node catalog">{catalogError}</ErrorBox></div>
            ) : (
              <Palette nodes={specs} onAdd={(type) => { setView('canvas'); setTimeout(() => canvas.current?.addAtCenter(type), 30); }} />
            )}
          </aside>
          <div className="relative min-w-0 flex-1 bg-zinc-50 dark:bg-zinc-950">
            {view === 'canvas' ? (
              <>
                <Canvas catalog={catalog} steps={runSteps} apiRef={canvas} />
                {s.doc.nodes.length === 0 && (
                  <div className="pointer-events-none absolute inset-0 flex items-center justify-center">
                    <div className="card max-w-xs px-6 py-5 text-center shadow-sm">
                      <Workflow className="mx-auto mb-2 size-6 text-zinc-400" />
                      <p className="text-[13px] font-medium">An empty canvas</p>
                      <p className="muted mt-1 text-xs leading-relaxed">Drag a node from the palette on the left, or press <Kbd>Ctrl K</Kbd> and type “add”.</p>
                    </div>
                  </div>
                )}
                {s.textError && (
                  <div className="absolute top-3 left-1/2 -translate-x-1/2"><ErrorBox title="The code view has a syntax error">The canvas shows the last valid document. <button className="underline" onClick={() => setView('code')}>Open the code</button></ErrorBox></div>
                )}
              </>
            ) : (
              <Suspense fallback={<div className="flex h-full items-center justify-center"><Spinner /></div>}>
                <CodeView />
              </Suspense>
            )}
          </div>
          <aside className="hidden w-80 shrink-0 overflow-y-auto border-l border-zinc-200 bg-white md:block dark:border-zinc-800 dark:bg-zinc-900" aria-label="Node settings">
            <Inspector catalog={catalog} />
          </aside>
        </div>

        <BottomPanel
          tab={bottom}
          setTab={setBottom}
          errors={errors}
          warnings={warnings}
          hasRun={!!s.runId}
          live={live}
          onNode={(id, field) => { setView('canvas'); useEditor.getState().focusField(id, field); }}
        />
        {runOpen && (
          <Suspense fallback={null}>
            <RunDialog onClose={() => setRunOpen(false)} onStarted={(id) => { setRunOpen(false); useEditor.getState().setRunId(id); setBottom('run'); }} />
          </Suspense>
        )}
        {historyOpen && <VersionsDialog onClose={() => setHistoryOpen(false)} />}
      </div>
    </RunScope.Provider>
  );
}

/** Compiles the document (debounced) as it changes: diagnostics for the canvas and panel. */
function useCompile() {
  const text = useEditor((s) => s.text);
  const textError = useEditor((s) => s.textError);
  const format = useEditor((s) => s.format);
  const [unavailable, setUnavailable] = useState(false);
  useEffect(() => {
    if (textError || unavailable) return;
    const controller = new AbortController();
    const timer = setTimeout(async () => {
      useEditor.getState().setDiagnostics(useEditor.getState().diagnostics, true);
      try {
        const out = await api.compile(text, format, controller.signal);
        useEditor.getState().setDiagnostics(out.diagnostics ?? []);
      } catch (e) {
        if (e instanceof ApiError && (e.status === 404 || e.status === 405)) setUnavailable(true);
        useEditor.getState().setDiagnostics(useEditor.getState().diagnostics, false);
      }
    }, 350);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [text, textError, format, unavailable]);
}

function ConflictBanner({ onSave }: { onSave: () => Promise<boolean> }) {
  const conflict = useEditor((s) => s.conflict)!;
  const flowId = useEditor((s) => s.flowId);
  const [busy, setBusy] = useState(false);
  const loadTheirs = async () => {
    setBusy(true);
    try {
      const { data, headers } = await api.flow(flowId);
      const parsed = parseDocument(data.document, data.format);
      if (!parsed.ok) throw new Error('their version does not parse');
      const st = useEditor.getState();
      // Keep a copy of ours before replacing it, so it can still be copied back.
      localStorage.setItem(`aion.conflict.${flowId}`, st.text);
      st.load(flowId, autoLayout(parsed.doc, true), data.format, etagVersion(headers) ?? data.version, printDocument(parsed.doc, data.format));
      toast('Loaded the latest version. Your text is in the clipboard.', 'info');
      void navigator.clipboard?.writeText(st.text).catch(() => undefined);
    } catch (e) {
      toast(errorMessage(e), 'error');
    } finally {
      setBusy(false);
    }
  };
  const overwrite = async () => {
    setBusy(true);
    try {
      const latest = await api.flow(flowId);
      useEditor.getState().rebase(etagVersion(latest.headers) ?? latest.data.version);
      await onSave();
    } finally {
      setBusy(false);
    }
  };
  return (
    <div role="alert" data-testid="conflict" className="flex flex-wrap items-center gap-3 border-b border-amber-200 bg-amber-50 px-4 py-2.5 text-[13px] text-amber-900 dark:border-amber-900/60 dark:bg-amber-950/40 dark:text-amber-100">
      <AlertTriangle className="size-4 shrink-0" />
      <span className="min-w-0 flex-1">
        <span className="font-medium">Someone else saved this flow{conflict.theirVersion ? ` (version ${conflict.theirVersion})` : ''} while you were editing.</span>{' '}
        Your changes were not saved and are still here. Load their version (yours goes to the clipboard), or save yours on top of it.
      </span>
      <button className="btn btn-sm" onClick={loadTheirs} disabled={busy}>Load their version</button>
      <button className="btn btn-sm" onClick={overwrite} disabled={busy}>Save mine as a new version</button>
    </div>
  );
}

function BottomPanel({
  tab, setTab, errors, warnings, hasRun, live, onNode,
}: { tab: 'problems' | 'run' | null; setTab: (t: 'problems' | 'run' | null) => void; errors: number; warnings: number; hasRun: boolean; live: ReturnType<typeof useLiveRun>; onNode: (id: string, field?: string) => void }) {
  const doc = useEditor((s) => s.doc);
  const diagnostics = useEditor((s) => s.diagnostics);
  const compiling = useEditor((s) => s.compiling);
  const textError = useEditor((s) => s.textError);
  const [selected, setSelected] = useState<string | null>(null);
  const [retryFrom, setRetryFrom] = useState<string | null>(null);
  const steps = orderedSteps(live, doc.nodes.map((n) => n.id));
  const step = selected ? live.steps[selected] : undefined;
  useEffect(() => {
    if (hasRun) setTab('run');
  }, [hasRun, setTab]);
  // Selecting a node on the canvas shows its step of the run.
  const chosenNode = useEditor((s) => (s.selected.length === 1 ? s.selected[0] : null));
  useEffect(() => {
    if (chosenNode && live.steps[chosenNode]) setSelected(chosenNode);
  }, [chosenNode, live.steps]);
  const tabBtn = (t: 'problems' | 'run', label: React.ReactNode) => (
    <button role="tab" aria-selected={tab === t} onClick={() => setTab(tab === t ? null : t)}
      className={cx('flex h-9 items-center gap-1.5 border-b-2 px-3 text-xs font-medium', tab === t ? 'border-accent-600 text-zinc-900 dark:text-white' : 'border-transparent text-zinc-500 hover:text-zinc-800 dark:hover:text-zinc-200')}>
      {label}
    </button>
  );
  return (
    <div className="shrink-0 border-t border-zinc-200 bg-white dark:border-zinc-800 dark:bg-zinc-900">
      <div className="flex items-center px-2" role="tablist">
        {tabBtn('problems', (
          <>
            Problems
            {textError ? <span className="badge bg-red-100 text-red-700 dark:bg-red-500/15 dark:text-red-300">syntax</span> : errors > 0 ? <span className="badge bg-red-100 text-red-700 dark:bg-red-500/15 dark:text-red-300" data-testid="error-count">{errors}</span> : warnings > 0 ? <span className="badge bg-amber-100 text-amber-800 dark:bg-amber-500/15 dark:text-amber-300">{warnings}</span> : <CheckCircle2 className="size-3.5 text-emerald-500" />}
            {compiling && <Loader2 className="size-3 animate-spin text-zinc-400" />}
          </>
        ))}
        {hasRun && tabBtn('run', <>Run {live.status && <span className={cx('inline-block size-2 rounded-full', live.status === 'succeeded' ? 'bg-emerald-500' : live.status === 'failed' ? 'bg-red-500' : 'bg-sky-500')} />}</>)}
        <button className="btn btn-ghost btn-icon ml-auto" aria-label={tab ? 'Collapse panel' : 'Expand panel'} onClick={() => setTab(tab ? null : 'problems')}>
          {tab ? <ChevronDown className="size-4" /> : <ChevronUp className="size-4" />}
        </button>
      </div>
      {tab === 'problems' && (
        <div className="h-48 overflow-y-auto border-t border-zinc-200 dark:border-zinc-800" data-testid="problems">
          {textError ? (
            <p className="px-4 py-3 text-[13px] text-red-700 dark:text-red-300">Syntax error at line {textError.line}, column {textError.column}: {textError.message}</p>
          ) : diagnostics.length === 0 ? (
            <p className="muted flex items-center gap-2 px-4 py-3 text-[13px]"><CheckCircle2 className="size-4 text-emerald-500" />No problems: the compiler accepts this flow.</p>
          ) : (
            <ul className="divide-y divide-zinc-100 dark:divide-zinc-800/80">
              {diagnostics.map((d, i) => {
                const t = pointerTarget(doc, d.pointer);
                return (
                  <li key={i}>
                    <button className="flex w-full items-start gap-2.5 px-4 py-2 text-left text-[13px] hover:bg-zinc-50 dark:hover:bg-zinc-800/40" onClick={() => t.nodeId && onNode(t.nodeId, diagnosticField(t.field, d.message))} disabled={!t.nodeId}>
                      {d.severity === 'error' ? <AlertCircle className="mt-0.5 size-4 shrink-0 text-red-500" /> : <AlertTriangle className="mt-0.5 size-4 shrink-0 text-amber-500" />}
                      <span className="min-w-0 flex-1">
                        {d.message}
                        {d.hint && <span className="muted block text-xs">{d.hint}</span>}
                      </span>
                      <span className="muted shrink-0 font-mono text-[11px]">{t.nodeId ? `${t.nodeId}${t.field ?? ''}` : d.pointer}{d.line ? ` · ${d.line}:${d.column}` : ''}</span>
                      <span className="muted shrink-0 font-mono text-[11px]">{d.code}</span>
                    </button>
                  </li>
                );
              })}
            </ul>
          )}
        </div>
      )}
      {tab === 'run' && hasRun && (
        <div className="flex h-72 flex-col border-t border-zinc-200 dark:border-zinc-800" data-testid="run-panel">
          <div className="border-b border-zinc-200 px-4 py-2 dark:border-zinc-800"><RunHeader live={live} compact onRetried={(id) => useEditor.getState().setRunId(id)} /></div>
          <div className="grid min-h-0 flex-1 grid-cols-[minmax(200px,300px)_1fr]">
            <div className="min-h-0 overflow-y-auto border-r border-zinc-200 dark:border-zinc-800"><StepList steps={steps} selected={selected} onSelect={(k) => { setSelected(k); useEditor.getState().select([k.split(/[[.]/)[0]]); }} /></div>
            <div className="min-h-0 overflow-hidden">
              {step ? <StepDetails key={step.key} step={step} live={live} onRetryFrom={setRetryFrom} /> : <p className="muted p-4 text-[13px]">Choose a step to see its input, output and logs.</p>}
            </div>
          </div>
          {retryFrom && <RetryDialog live={live} from={retryFrom} onClose={() => setRetryFrom(null)} onRetried={(id) => useEditor.getState().setRunId(id)} />}
        </div>
      )}
    </div>
  );
}

function VersionsDialog({ onClose }: { onClose: () => void }) {
  const flowId = useEditor((s) => s.flowId);
  const current = useEditor((s) => s.version);
  const text = useEditor((s) => s.text);
  const format = useEditor((s) => s.format);
  const versions = useQuery({ queryKey: ['versions', flowId, current], queryFn: () => api.versions(flowId) });
  const [diff, setDiff] = useState<{ version: number; lines: DiffLine[] } | null>(null);
  const load = async (v: number) => {
    const data = await api.version(flowId, v);
    const parsed = parseDocument(data.document, data.format);
    if (!parsed.ok) throw new Error('that version does not parse');
    return parsed.doc as FlowDoc;
  };
  const restore = async (v: number) => {
    try {
      useEditor.getState().setDoc(autoLayout(await load(v), true));
      toast(`Version ${v} is in the editor; save to make it the latest.`, 'info');
      onClose();
    } catch (e) {
      toast(errorMessage(e), 'error');
    }
  };
  const compare = async (v: number) => {
    try {
      setDiff({ version: v, lines: diffLines(printDocument(await load(v), format), text) });
    } catch (e) {
      toast(errorMessage(e), 'error');
    }
  };
  return (
    <Dialog title="Versions" description="Every save is a version. Compare one with the editor, or restore it: saving makes it the newest." onClose={onClose} wide>
      {versions.isLoading ? <Spinner /> : versions.isError ? <ErrorBox title="Could not load versions">{errorMessage(versions.error)}</ErrorBox> : (
        <ul className="-mx-2 max-h-60 overflow-y-auto">
          {versions.data!.versions.map((v) => (
            <li key={v.version} className="flex items-center gap-3 rounded-md px-2 py-2 hover:bg-zinc-50 dark:hover:bg-zinc-800/40">
              <span className="badge bg-zinc-100 text-zinc-700 dark:bg-zinc-800 dark:text-zinc-200">v{v.version}</span>
              <span className="muted flex-1 text-xs">{timeAgo(v.created_ms)} · <span className="font-mono">{v.plan_hash.replace(/^sha256:/, '').slice(0, 8)}</span>{v.version === current && ' · the editor is based on it'}</span>
              <button className="btn btn-sm" onClick={() => void compare(v.version)}>Compare</button>
              {v.version !== current && <button className="btn btn-sm" onClick={() => void restore(v.version)}>Restore</button>}
            </li>
          ))}
        </ul>
      )}
      {diff && (
        <div className="mt-3 rounded-md border border-zinc-200 dark:border-zinc-800" data-testid="version-diff">
          <div className="border-b border-zinc-200 px-3 py-1.5 text-xs font-medium dark:border-zinc-800">v{diff.version} → the editor ({diff.lines.filter((l) => l.kind !== 'same').length} changed lines)</div>
          <pre className="max-h-72 overflow-auto py-1 font-mono text-[11.5px] leading-5">
            {diff.lines.map((l, i) => (
              <div key={i} className={cx('px-3 whitespace-pre-wrap', l.kind === 'add' ? 'bg-emerald-50 text-emerald-800 dark:bg-emerald-500/10 dark:text-emerald-300' : l.kind === 'del' ? 'bg-red-50 text-red-800 dark:bg-red-500/10 dark:text-red-300' : 'text-zinc-500')}>
                {l.kind === 'add' ? '+ ' : l.kind === 'del' ? '- ' : '  '}{l.text}
              </div>
            ))}
          </pre>
        </div>
      )}
    </Dialog>
  );
}
