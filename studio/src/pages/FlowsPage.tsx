// The flows of the workspace: search, tags, last run, create, import, export, delete.
import { useMemo, useRef, useState, type FormEvent } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Download, FileUp, MoreHorizontal, Plus, Search, Trash2, Workflow } from 'lucide-react';
import { ApiError, api, errorMessage } from '../api/client';
import { detectFormat, newDocument, parseDocument, printDocument, slugify } from '../lib/doc';
import { Link, navigate, useLocation } from '../lib/router';
import { download, timeAgo } from '../lib/format';
import { Dialog, EmptyState, ErrorBox, Spinner, StatusBadge, toast } from '../components/ui';

export function FlowsPage() {
  const { search: query } = useLocation();
  const queryClient = useQueryClient();
  const flows = useQuery({ queryKey: ['flows'], queryFn: api.flows });
  const [search, setSearch] = useState('');
  const [tag, setTag] = useState<string | null>(null);
  const [creating, setCreating] = useState(query.has('new'));
  const [deleting, setDeleting] = useState<string | null>(null);
  const [importError, setImportError] = useState<{ title: string; lines: string[] } | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  // Each item has the latest version's name, description and tags, and the flow's last run.
  const list = flows.data?.flows ?? [];
  const allTags = useMemo(() => [...new Set(list.flatMap((f) => f.tags))].sort(), [list]);

  const shown = list.filter((f) => {
    if (tag && !f.tags.includes(tag)) return false;
    const q = search.trim().toLowerCase();
    if (!q) return true;
    return [f.id, f.name, f.description, ...f.tags].some((s) => s?.toLowerCase().includes(q));
  });

  const importFile = async (file: File) => {
    setImportError(null);
    const text = await file.text();
    const format = file.name.endsWith('.json') ? 'json' : file.name.match(/\.ya?ml$/) ? 'yaml' : detectFormat(text);
    const parsed = parseDocument(text, format);
    if (!parsed.ok) {
      setImportError({ title: `${file.name} is not valid ${format.toUpperCase()}`, lines: [`line ${parsed.error.line ?? '?'}, column ${parsed.error.column ?? '?'}: ${parsed.error.message}`] });
      return;
    }
    try {
      const { data } = await api.createFlow(text, format);
      await queryClient.invalidateQueries({ queryKey: ['flows'] });
      toast(`Imported ${data.id}`, 'success');
      navigate(`/flows/${encodeURIComponent(data.id)}`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 422 && e.problem.errors?.length) {
        setImportError({ title: `${file.name} has ${e.problem.errors.length} problem(s)`, lines: e.problem.errors.map((d) => `${d.line ? `line ${d.line}: ` : d.pointer ? `${d.pointer}: ` : ''}${d.message}`) });
      } else if (e instanceof ApiError && e.status === 409) {
        setImportError({ title: `A flow “${parsed.doc.id}” exists already`, lines: ['Open it and paste the document in its code view, or change the id in the file.'] });
      } else setImportError({ title: `Could not import ${file.name}`, lines: [errorMessage(e)] });
    }
  };

  const exportFlow = async (id: string) => {
    try {
      const { data } = await api.flow(id);
      download(`${id}.${data.format === 'json' ? 'json' : 'yaml'}`, data.document, data.format === 'json' ? 'application/json' : 'application/yaml');
    } catch (e) {
      toast(errorMessage(e), 'error');
    }
  };

  return (
    <div className="mx-auto max-w-6xl px-4 py-6 md:px-8 md:py-8">
      <div className="mb-6 flex flex-wrap items-end justify-between gap-4">
        <div>
          <h1 className="text-xl font-semibold tracking-tight">Flows</h1>
          <p className="muted mt-1 text-[13px]">Build flows on the canvas or as YAML; every save is a new version.</p>
        </div>
        <div className="flex gap-2">
          <input ref={fileInput} type="file" accept=".yaml,.yml,.json,application/json,application/yaml" className="hidden" data-testid="import-file" onChange={(e) => { const f = e.target.files?.[0]; if (f) void importFile(f); e.target.value = ''; }} />
          <button className="btn" onClick={() => fileInput.current?.click()}><FileUp className="size-4" />Import</button>
          <button className="btn btn-primary" onClick={() => setCreating(true)}><Plus className="size-4" />New flow</button>
        </div>
      </div>

      {importError && (
        <div className="mb-4">
          <ErrorBox title={importError.title} action={<button className="btn btn-ghost btn-sm" onClick={() => setImportError(null)}>Dismiss</button>}>
            <ul className="mt-1 list-disc space-y-0.5 pl-4 font-mono text-xs">{importError.lines.slice(0, 8).map((l, i) => <li key={i}>{l}</li>)}</ul>
          </ErrorBox>
        </div>
      )}

      {list.length > 0 && (
        <div className="mb-4 flex flex-wrap items-center gap-2">
          <div className="relative w-full sm:w-72">
            <Search className="pointer-events-none absolute top-2.5 left-2.5 size-4 text-zinc-400" />
            <input className="input pl-8" placeholder="Search flows" value={search} onChange={(e) => setSearch(e.target.value)} aria-label="Search flows" />
          </div>
          {allTags.map((t) => (
            <button key={t} onClick={() => setTag(tag === t ? null : t)} className={`badge h-7 cursor-pointer px-2.5 text-xs ring-1 ring-inset ${tag === t ? 'bg-accent-600 text-white ring-accent-600' : 'bg-white text-zinc-600 ring-zinc-300 hover:bg-zinc-50 dark:bg-zinc-900 dark:text-zinc-300 dark:ring-zinc-700'}`}>
              #{t}
            </button>
          ))}
        </div>
      )}

      <div className="card overflow-hidden">
        {flows.isLoading ? (
          <div className="flex justify-center py-16"><Spinner className="size-5" /></div>
        ) : flows.isError ? (
          <div className="p-4"><ErrorBox title="Could not load the flows" action={<button className="btn btn-sm" onClick={() => flows.refetch()}>Retry</button>}>{errorMessage(flows.error)}</ErrorBox></div>
        ) : list.length === 0 ? (
          <EmptyState
            icon={<Workflow className="size-6" />}
            title="No flows yet"
            action={
              <div className="flex gap-2">
                <button className="btn" onClick={() => fileInput.current?.click()}><FileUp className="size-4" />Import a file</button>
                <button className="btn btn-primary" onClick={() => setCreating(true)}><Plus className="size-4" />Create your first flow</button>
              </div>
            }
          >
            A flow is a graph of steps: triggers, HTTP calls, AI, logic. Start from an empty canvas or import a YAML or JSON document.
          </EmptyState>
        ) : shown.length === 0 ? (
          <EmptyState icon={<Search className="size-6" />} title="No flow matches">Try another word{tag ? ' or clear the tag filter' : ''}.</EmptyState>
        ) : (
          <table className="w-full table-fixed text-[13px]">
            <thead className="border-b border-zinc-200 bg-zinc-50 text-left text-xs text-zinc-500 dark:border-zinc-800 dark:bg-zinc-900/60 dark:text-zinc-400">
              <tr>
                <th className="w-[46%] px-4 py-2.5 font-medium">Flow</th>
                <th className="hidden w-[20%] px-4 py-2.5 font-medium md:table-cell">Tags</th>
                <th className="px-4 py-2.5 font-medium">Last run</th>
                <th className="hidden w-32 px-4 py-2.5 font-medium sm:table-cell">Updated</th>
                <th className="w-12 px-2 py-2.5"><span className="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody className="divide-y divide-zinc-100 dark:divide-zinc-800/80">
              {shown.map((f) => {
                const run = f.last_run;
                return (
                  <tr key={f.id} className="group hover:bg-zinc-50 dark:hover:bg-zinc-800/30" data-testid={`flow-row-${f.id}`}>
                    <td className="max-w-0 px-4 py-3">
                      <Link href={`/flows/${encodeURIComponent(f.id)}`} className="block min-w-0">
                        <div className="truncate font-medium text-zinc-900 group-hover:text-accent-600 dark:text-zinc-100 dark:group-hover:text-accent-400">{f.name || f.id}</div>
                        <div className="muted mt-0.5 truncate text-xs">
                          <span className="font-mono">{f.id}</span> · v{f.latest_version}
                          {f.description && ` · ${f.description}`}
                        </div>
                      </Link>
                    </td>
                    <td className="hidden px-4 py-3 md:table-cell">
                      <div className="flex flex-wrap gap-1">
                        {f.tags.map((t) => <span key={t} className="badge bg-zinc-100 text-zinc-600 dark:bg-zinc-800 dark:text-zinc-300">#{t}</span>)}
                      </div>
                    </td>
                    <td className="px-4 py-3">
                      {run ? (
                        <Link href={`/runs/${run.id}`} className="flex flex-col items-start gap-0.5">
                          <StatusBadge status={run.status} />
                          <span className="muted text-[11px]">{timeAgo(run.created_ms)}</span>
                        </Link>
                      ) : (
                        <span className="muted text-xs">Never run</span>
                      )}
                    </td>
                    <td className="muted hidden px-4 py-3 text-xs sm:table-cell">{timeAgo(f.updated_ms)}</td>
                    <td className="px-2 py-3 text-right">
                      <RowMenu onExport={() => void exportFlow(f.id)} onDelete={() => setDeleting(f.id)} id={f.id} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </div>

      {creating && <CreateFlowDialog onClose={() => { setCreating(false); if (query.has('new')) navigate('/flows', { replace: true }); }} />}
      {deleting && <DeleteFlowDialog id={deleting} onClose={() => setDeleting(null)} />}
    </div>
  );
}

function RowMenu({ id, onExport, onDelete }: { id: string; onExport: () => void; onDelete: () => void }) {
  const [open, setOpen] = useState(false);
  return (
    <div className="relative inline-block" onBlur={(e) => !e.currentTarget.contains(e.relatedTarget) && setOpen(false)}>
      <button className="btn btn-ghost btn-icon" aria-label={`Actions for ${id}`} aria-expanded={open} onClick={() => setOpen(!open)}>
        <MoreHorizontal className="size-4" />
      </button>
      {open && (
        <div className="card absolute right-0 z-20 mt-1 w-40 p-1 text-left shadow-lg" role="menu">
          <button role="menuitem" className="flex w-full items-center gap-2 rounded px-2.5 py-1.5 text-[13px] hover:bg-zinc-100 dark:hover:bg-zinc-800" onClick={() => { setOpen(false); onExport(); }}>
            <Download className="size-4 text-zinc-400" />Export
          </button>
          <button role="menuitem" className="flex w-full items-center gap-2 rounded px-2.5 py-1.5 text-[13px] text-red-600 hover:bg-red-50 dark:text-red-400 dark:hover:bg-red-950/40" onClick={() => { setOpen(false); onDelete(); }}>
            <Trash2 className="size-4" />Delete…
          </button>
        </div>
      )}
    </div>
  );
}

function CreateFlowDialog({ onClose }: { onClose: () => void }) {
  const queryClient = useQueryClient();
  const [name, setName] = useState('');
  const [id, setId] = useState('');
  const [idTouched, setIdTouched] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const effectiveId = idTouched ? id : slugify(name);
  const idValid = /^[a-z0-9][a-z0-9-]{0,62}$/.test(effectiveId);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!idValid) return;
    setBusy(true);
    setError(null);
    try {
      const text = printDocument(newDocument(effectiveId, name.trim()), 'yaml');
      const { data } = await api.createFlow(text, 'yaml');
      await queryClient.invalidateQueries({ queryKey: ['flows'] });
      onClose();
      navigate(`/flows/${encodeURIComponent(data.id)}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) setError(`A flow “${effectiveId}” exists already; pick another id.`);
      else if (err instanceof ApiError && err.problem.errors?.length) setError(err.problem.errors.map((d) => d.message).join('; '));
      else setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog
      title="New flow"
      onClose={onClose}
      footer={
        <>
          <button className="btn" onClick={onClose}>Cancel</button>
          <button className="btn btn-primary" form="create-flow" disabled={busy || !idValid}>{busy && <Spinner className="size-4 text-white" />}Create flow</button>
        </>
      }
    >
      <form id="create-flow" onSubmit={submit} className="space-y-4">
        <div>
          <label className="label" htmlFor="flow-name">Name</label>
          <input id="flow-name" className="input" placeholder="SOL price alert" value={name} onChange={(e) => setName(e.target.value)} autoFocus />
        </div>
        <div>
          <label className="label" htmlFor="flow-id">Id</label>
          <input id="flow-id" className="input font-mono text-[13px]" value={effectiveId} onChange={(e) => { setIdTouched(true); setId(e.target.value); }} aria-invalid={!idValid} />
          <p className={`mt-1.5 text-xs ${idValid || !effectiveId ? 'muted' : 'text-red-600 dark:text-red-400'}`}>
            Lowercase letters, digits and dashes; unique in the workspace. It names the flow in URLs and the API.
          </p>
        </div>
        {error && <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-[13px] text-red-700 dark:bg-red-950/50 dark:text-red-300">{error}</p>}
      </form>
    </Dialog>
  );
}

function DeleteFlowDialog({ id, onClose }: { id: string; onClose: () => void }) {
  const queryClient = useQueryClient();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const confirm = async () => {
    setBusy(true);
    try {
      await api.deleteFlow(id);
      await queryClient.invalidateQueries({ queryKey: ['flows'] });
      localStorage.removeItem(`aion.draft.${id}`);
      toast(`Deleted ${id}`, 'success');
      onClose();
    } catch (e) {
      setError(e instanceof ApiError && e.status === 409 ? 'Some runs of this flow have not ended. Cancel them or wait, then delete.' : errorMessage(e));
      setBusy(false);
    }
  };
  return (
    <Dialog
      title={`Delete “${id}”?`}
      description="Its versions are deleted with it. Past runs stay in the run history."
      onClose={onClose}
      footer={
        <>
          <button className="btn" onClick={onClose}>Cancel</button>
          <button className="btn btn-danger" onClick={confirm} disabled={busy}>{busy && <Spinner className="size-4 text-white" />}Delete flow</button>
        </>
      }
    >
      {error ? <ErrorBox title="Not deleted">{error}</ErrorBox> : <p className="text-[13px]">This cannot be undone. Export it first if you may need it again.</p>}
    </Dialog>
  );
}
