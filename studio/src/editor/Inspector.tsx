// The side panel for the selected node: id and name, the config form from its schema,
// policies (retry, timeout, cache, credential), and the compiler's problems for this node.
import { lazy, Suspense, useEffect, useMemo, useState } from 'react';
import { AlertCircle, AlertTriangle, Trash2 } from 'lucide-react';
import { useEditor } from './store';
import { diagnosticField, pointerTarget, removeNodes, updateNode, type Catalog } from '../lib/graph';
import type { FlowNode } from '../lib/doc';
import { cx, Spinner } from '../components/ui';
import { categoryIcon, categoryTint } from './AionNode';
import { Triggers } from './Triggers';

const ConfigForm = lazy(() => import('./ConfigForm'));
const ID_RE = /^[a-z_][a-z0-9_]*$/;

export function Inspector({ catalog }: { catalog: Catalog }) {
  const doc = useEditor((s) => s.doc);
  const selected = useEditor((s) => s.selected);
  const focus = useEditor((s) => s.focus);
  const diagnostics = useEditor((s) => s.diagnostics);
  const node = selected.length === 1 ? doc.nodes.find((n) => n.id === selected[0]) : undefined;

  const mine = useMemo(
    () => (node ? diagnostics.map((d) => ({ d, t: pointerTarget(doc, d.pointer) })).filter(({ t }) => t.nodeId === node.id) : []),
    [diagnostics, doc, node],
  );

  // A diagnostic clicked in the problems panel: open its field.
  useEffect(() => {
    if (!focus || !node || focus.nodeId !== node.id) return;
    const field = focus.field ?? '';
    const id = field.startsWith('/config/') ? 'cfg_' + field.slice(8).replace(/\//g, '_') : field === '/id' ? 'node-id' : field === '/name' ? 'node-name' : field.startsWith('/timeout') ? 'node-timeout' : null;
    const tryFocus = (left: number) => {
      const el = id ? document.getElementById(id) : null;
      if (el) {
        el.scrollIntoView({ block: 'center' });
        el.focus();
      } else if (left > 0) setTimeout(() => tryFocus(left - 1), 100);
    };
    tryFocus(10);
  }, [focus, node]);

  if (selected.length > 1) {
    return (
      <div className="p-4">
        <p className="text-[13px] font-medium">{selected.length} nodes selected</p>
        <p className="muted mt-1 text-xs">Drag to move them together; Ctrl+C / Ctrl+V to copy; Delete to remove.</p>
        <button className="btn btn-sm mt-3 text-red-600" onClick={() => { const s = useEditor.getState(); s.setDoc(removeNodes(s.doc, selected)); s.select([]); }}>
          <Trash2 className="size-3.5" />Delete {selected.length} nodes
        </button>
      </div>
    );
  }
  if (!node) {
    return (
      <div className="p-5">
        <p className="text-[13px] font-medium">No node selected</p>
        <p className="muted mt-1 text-xs leading-relaxed">Select a node on the canvas to edit its settings. Drag nodes from the palette, and connect an output port (right) to an input (left).</p>
        <FlowSettings />
        <Triggers />
      </div>
    );
  }
  return <NodeInspector key={node.id} node={node} catalog={catalog} problems={mine.map(({ d, t }) => ({ ...d, field: diagnosticField(t.field, d.message) }))} />;
}

function NodeInspector({ node, catalog, problems }: { node: FlowNode; catalog: Catalog; problems: Array<{ message: string; severity: string; field?: string; code: string; hint?: string | null }> }) {
  const spec = catalog.get(node.type);
  const [id, setId] = useState(node.id);
  const idTaken = id !== node.id && useEditor.getState().doc.nodes.some((n) => n.id === id);
  const idError = !ID_RE.test(id) ? 'Lowercase letters, digits and _; not starting with a digit.' : idTaken ? 'Another node has this id.' : null;
  const apply = (next: FlowNode, field = 'other') => {
    const s = useEditor.getState();
    s.setDoc(updateNode(s.doc, node.id, next), { coalesce: `${node.id}:${field}` });
  };
  const commitId = () => {
    if (id === node.id || idError) return;
    const s = useEditor.getState();
    s.setDoc(updateNode(s.doc, node.id, { ...node, id }));
    s.select([id]);
  };
  const invalidFields = problems.filter((p) => p.severity === 'error' && p.field).map((p) => p.field!);
  const setPolicy = (key: 'timeout' | 'credential', value: string) => {
    const next = { ...node };
    if (value) next[key] = value;
    else delete next[key];
    apply(next);
  };
  const retry = (node.retry ?? {}) as { max_attempts?: number; backoff?: string };
  return (
    <div className="flex min-h-0 flex-col" data-testid="inspector">
      <div className="flex items-start gap-3 border-b border-zinc-200 p-4 dark:border-zinc-800">
        <div className={cx('flex size-8 shrink-0 items-center justify-center rounded-md', categoryTint(spec?.category))}>{categoryIcon(spec?.category)}</div>
        <div className="min-w-0 flex-1">
          <div className="text-[13px] font-semibold">{spec?.title ?? node.type}</div>
          <div className="muted font-mono text-[11px]">{node.type}{spec ? ` · v${spec.version}` : ''}</div>
          {spec?.description && <p className="muted mt-1.5 text-xs leading-relaxed">{spec.description}</p>}
          {!spec && <p className="mt-1.5 text-xs text-red-600 dark:text-red-400">This node type is not in the catalog.</p>}
        </div>
        <button className="btn btn-ghost btn-icon -mt-1 -mr-2" title="Delete node" aria-label="Delete node" onClick={() => { const s = useEditor.getState(); s.setDoc(removeNodes(s.doc, [node.id])); s.select([]); }}>
          <Trash2 className="size-4" />
        </button>
      </div>
      {problems.length > 0 && (
        <ul className="space-y-1.5 border-b border-zinc-200 p-3 dark:border-zinc-800" data-testid="node-problems">
          {problems.map((p, i) => (
            <li key={i} className={cx('flex gap-2 rounded-md px-2.5 py-2 text-xs', p.severity === 'error' ? 'bg-red-50 text-red-800 dark:bg-red-950/40 dark:text-red-200' : 'bg-amber-50 text-amber-900 dark:bg-amber-950/30 dark:text-amber-200')}>
              {p.severity === 'error' ? <AlertCircle className="mt-px size-3.5 shrink-0" /> : <AlertTriangle className="mt-px size-3.5 shrink-0" />}
              <span>
                {p.field && <span className="font-mono opacity-80">{p.field} </span>}
                {p.message}
                {p.hint && <span className="block opacity-75">{p.hint}</span>}
              </span>
            </li>
          ))}
        </ul>
      )}
      <div className="space-y-4 p-4">
        <div className="grid grid-cols-2 gap-3">
          <div>
            <label className="label" htmlFor="node-id">Id</label>
            <input id="node-id" className={cx('input h-8 font-mono text-[12.5px]', idError && 'border-red-400')} value={id} onChange={(e) => setId(e.target.value)} onBlur={commitId} onKeyDown={(e) => e.key === 'Enter' && commitId()} aria-invalid={!!idError} />
          </div>
          <div>
            <label className="label" htmlFor="node-name">Label</label>
            <input id="node-name" className="input h-8 text-[13px]" placeholder="optional" value={node.name ?? ''} onChange={(e) => { const next = { ...node }; if (e.target.value) next.name = e.target.value; else delete next.name; apply(next, 'name'); }} />
          </div>
        </div>
        {idError && <p className="-mt-2 text-xs text-red-600 dark:text-red-400">{idError}</p>}
        <div>
          <div className="mb-2 text-[11px] font-medium tracking-wide text-zinc-500 uppercase">Settings</div>
          <Suspense fallback={<Spinner />}>
            <ConfigForm nodeId={node.id} schema={spec?.config_schema} value={node.config ?? {}} invalidFields={invalidFields} onChange={(config) => apply({ ...node, config }, 'config')} />
          </Suspense>
        </div>
        <details className="rounded-md border border-zinc-200 dark:border-zinc-800">
          <summary className="cursor-pointer px-3 py-2 text-xs font-medium">Retry, timeout{spec?.credential ? ', credential' : ''}</summary>
          <div className="grid grid-cols-2 gap-3 border-t border-zinc-200 p-3 dark:border-zinc-800">
            <div>
              <label className="label" htmlFor="node-attempts">Max attempts</label>
              <input id="node-attempts" type="number" min={1} className="input h-8" value={retry.max_attempts ?? 1} onChange={(e) => { const n = Number(e.target.value); const next = { ...node }; if (n > 1) next.retry = { ...(node.retry ?? {}), max_attempts: n }; else delete next.retry; apply(next); }} />
            </div>
            <div>
              <label className="label" htmlFor="node-timeout">Timeout</label>
              <input id="node-timeout" className="input h-8 font-mono text-[12.5px]" placeholder="e.g. 10s" value={node.timeout ?? ''} onChange={(e) => setPolicy('timeout', e.target.value)} />
            </div>
            {spec?.credential && (
              <div className="col-span-2">
                <label className="label" htmlFor="node-credential">Credential ({spec.credential.kind}{spec.credential.required ? ', required' : ''})</label>
                <input id="node-credential" className="input h-8 font-mono text-[12.5px]" placeholder="name in the vault" value={node.credential ?? ''} onChange={(e) => setPolicy('credential', e.target.value)} />
              </div>
            )}
          </div>
        </details>
      </div>
    </div>
  );
}

/** The flow's own fields when no node is selected. */
function FlowSettings() {
  const doc = useEditor((s) => s.doc);
  const set = (key: 'name' | 'description', value: string) => {
    const s = useEditor.getState();
    const next = { ...s.doc };
    if (value) next[key] = value;
    else delete next[key];
    s.setDoc(next);
  };
  return (
    <div className="mt-6 space-y-3 border-t border-zinc-200 pt-5 dark:border-zinc-800">
      <div className="text-[11px] font-medium tracking-wide text-zinc-500 uppercase">Flow</div>
      <div>
        <label className="label" htmlFor="flow-name-field">Name</label>
        <input id="flow-name-field" className="input h-8 text-[13px]" value={doc.name ?? ''} onChange={(e) => set('name', e.target.value)} />
      </div>
      <div>
        <label className="label" htmlFor="flow-desc-field">Description</label>
        <textarea id="flow-desc-field" className="input h-20 py-2 text-[13px]" value={doc.description ?? ''} onChange={(e) => set('description', e.target.value)} />
      </div>
      <div>
        <label className="label" htmlFor="flow-tags-field">Tags</label>
        <input id="flow-tags-field" className="input h-8 text-[13px]" placeholder="comma, separated" defaultValue={(doc.tags ?? []).join(', ')}
          onBlur={(e) => { const tags = e.target.value.split(',').map((t) => t.trim()).filter(Boolean); const s = useEditor.getState(); const next = { ...s.doc }; if (tags.length) next.tags = tags; else delete next.tags; s.setDoc(next); }} />
      </div>
    </div>
  );
}
