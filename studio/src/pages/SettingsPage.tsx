// Workspace settings: members and roles, API keys (shown once at creation), variables, and
// new workspaces. Each tab reads and writes through the public API.
import { useState, type FormEvent, type ReactNode } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Copy, KeyRound, Trash2, Users, Variable } from 'lucide-react';
import { request, errorMessage, type Schemas } from '../api/client';
import { useAuth } from '../app/auth';
import { timeAgo } from '../lib/format';
import { Link, useLocation } from '../lib/router';
import { cx, Dialog, EmptyState, ErrorBox, Spinner, toast } from '../components/ui';

const ROLES = ['viewer', 'runner', 'editor', 'owner'];
const TABS = [
  { id: 'members', label: 'Members' },
  { id: 'keys', label: 'API keys' },
  { id: 'vars', label: 'Variables' },
  { id: 'workspaces', label: 'Workspaces' },
] as const;

const get = async <T,>(path: string) => (await request<T>(path)).data;

export function SettingsPage() {
  const { search } = useLocation();
  const tab = (search.get('tab') ?? 'members') as (typeof TABS)[number]['id'];
  const { me } = useAuth();
  return (
    <div className="mx-auto max-w-4xl px-4 py-6 md:px-8 md:py-8">
      <div className="mb-6">
        <h1 className="text-xl font-semibold tracking-tight">Settings</h1>
        <p className="muted mt-1 text-[13px]">Workspace <span className="font-medium text-zinc-700 dark:text-zinc-300">{me.workspace}</span> · your role: {me.role}</p>
      </div>
      <div className="mb-5 flex gap-1 border-b border-zinc-200 dark:border-zinc-800" role="tablist">
        {TABS.map((t) => (
          <Link key={t.id} href={`/settings?tab=${t.id}`} role="tab" aria-selected={tab === t.id}
            className={cx('-mb-px border-b-2 px-3 py-2 text-[13px] font-medium', tab === t.id ? 'border-accent-600 text-zinc-900 dark:text-white' : 'border-transparent text-zinc-500 hover:text-zinc-800 dark:hover:text-zinc-200')}>
            {t.label}
          </Link>
        ))}
      </div>
      {tab === 'members' && <Members />}
      {tab === 'keys' && <Keys />}
      {tab === 'vars' && <Vars />}
      {tab === 'workspaces' && <Workspaces />}
    </div>
  );
}

function Section({ title, description, action, children }: { title: string; description: string; action?: ReactNode; children: ReactNode }) {
  return (
    <section className="card overflow-hidden">
      <div className="flex flex-wrap items-start justify-between gap-3 border-b border-zinc-200 px-5 py-4 dark:border-zinc-800">
        <div>
          <h2 className="text-[14px] font-semibold">{title}</h2>
          <p className="muted mt-0.5 text-[13px]">{description}</p>
        </div>
        {action}
      </div>
      {children}
    </section>
  );
}

function useAction<T>(fn: (arg: T) => Promise<unknown>, keys: string[], ok: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: fn,
    onSuccess: () => {
      toast(ok, 'success');
      void qc.invalidateQueries({ queryKey: keys });
    },
    onError: (e) => toast(errorMessage(e), 'error'),
  });
}

function Members() {
  const { me } = useAuth();
  const members = useQuery({ queryKey: ['members'], queryFn: () => get<Schemas['MemberList']>('/members') });
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('editor');
  const put = useAction(({ email, role }: { email: string; role: string }) => request(`/members/${encodeURIComponent(email)}`, { method: 'PUT', body: { role } }), ['members'], 'Member saved');
  const remove = useAction((email: string) => request(`/members/${encodeURIComponent(email)}`, { method: 'DELETE' }), ['members'], 'Member removed');
  const add = (e: FormEvent) => {
    e.preventDefault();
    put.mutate({ email, role }, { onSuccess: () => setEmail('') });
  };
  const owner = me.role === 'owner';
  return (
    <Section title="Members" description="People who can use this workspace, and what they may do: viewer < runner < editor < owner.">
      {members.isLoading ? <div className="flex justify-center py-10"><Spinner /></div> : members.isError ? <div className="p-4"><ErrorBox title="Could not load members">{errorMessage(members.error)}</ErrorBox></div> : (
        <ul className="divide-y divide-zinc-100 dark:divide-zinc-800/80">
          {members.data!.members.map((m) => (
            <li key={m.user_id} className="flex items-center gap-3 px-5 py-3 text-[13px]">
              <div className="flex size-7 items-center justify-center rounded-full bg-zinc-100 text-xs font-semibold uppercase dark:bg-zinc-800">{m.email.slice(0, 1)}</div>
              <div className="min-w-0 flex-1">
                <div className="truncate font-medium">{m.email}{m.email === me.email && <span className="muted font-normal"> (you)</span>}</div>
                <div className="muted text-xs">added {timeAgo(m.added_ms)}</div>
              </div>
              <select aria-label={`Role of ${m.email}`} className="h-8 rounded-md border border-zinc-300 bg-white px-2 text-[13px] dark:border-zinc-700 dark:bg-zinc-900" value={m.role} disabled={!owner || m.email === me.email} onChange={(e) => put.mutate({ email: m.email, role: e.target.value })}>
                {ROLES.map((r) => <option key={r}>{r}</option>)}
              </select>
              {owner && m.email !== me.email && <button className="btn btn-ghost btn-icon" aria-label={`Remove ${m.email}`} onClick={() => remove.mutate(m.email)}><Trash2 className="size-4" /></button>}
            </li>
          ))}
        </ul>
      )}
      {owner && (
        <form onSubmit={add} className="flex flex-wrap gap-2 border-t border-zinc-200 bg-zinc-50/60 px-5 py-3 dark:border-zinc-800 dark:bg-zinc-900/40">
          <input className="input h-8 min-w-48 flex-1" type="email" placeholder="email of an existing user" aria-label="Email" value={email} onChange={(e) => setEmail(e.target.value)} />
          <select aria-label="Role" className="h-8 rounded-md border border-zinc-300 bg-white px-2 text-[13px] dark:border-zinc-700 dark:bg-zinc-900" value={role} onChange={(e) => setRole(e.target.value)}>
            {ROLES.map((r) => <option key={r}>{r}</option>)}
          </select>
          <button className="btn btn-primary" disabled={!email || put.isPending}><Users className="size-4" />Add member</button>
        </form>
      )}
    </Section>
  );
}

function Keys() {
  const keys = useQuery({ queryKey: ['keys'], queryFn: () => get<Schemas['KeyList']>('/api-keys') });
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<string | null>(null);
  const revoke = useAction((id: string) => request(`/api-keys/${encodeURIComponent(id)}`, { method: 'DELETE' }), ['keys'], 'Key revoked');
  const list = keys.data?.keys ?? [];
  return (
    <Section title="API keys" description="For the CLI, CI and your apps: `Authorization: Bearer <key>`. A key is shown once, when it is created." action={<button className="btn btn-primary" onClick={() => setCreating(true)}><KeyRound className="size-4" />New key</button>}>
      {keys.isLoading ? <div className="flex justify-center py-10"><Spinner /></div> : keys.isError ? <div className="p-4"><ErrorBox title="Could not load keys">{errorMessage(keys.error)}</ErrorBox></div> : list.length === 0 ? (
        <EmptyState icon={<KeyRound className="size-6" />} title="No API keys">Create one to call the API or use `aion login`.</EmptyState>
      ) : (
        <ul className="divide-y divide-zinc-100 dark:divide-zinc-800/80">
          {list.map((k) => (
            <li key={k.id} className={cx('flex items-center gap-3 px-5 py-3 text-[13px]', !!k.revoked_ms && 'opacity-60')}>
              <div className="min-w-0 flex-1">
                <div className="font-medium">{k.name} <span className="muted font-mono text-xs">{k.id}</span></div>
                <div className="muted text-xs">{k.role} · created {timeAgo(k.created_ms)} · {k.last_used_ms ? `used ${timeAgo(k.last_used_ms)}` : 'never used'}{k.revoked_ms ? ` · revoked ${timeAgo(k.revoked_ms)}` : ''}</div>
              </div>
              {!k.revoked_ms && <button className="btn btn-sm" onClick={() => revoke.mutate(k.id)}>Revoke</button>}
            </li>
          ))}
        </ul>
      )}
      {creating && <NewKeyDialog onClose={() => setCreating(false)} onCreated={(t) => { setCreating(false); setCreated(t); }} />}
      {created && (
        <Dialog title="Your new API key" description="Copy it now: Aion keeps only a hash and cannot show it again." onClose={() => setCreated(null)} footer={<button className="btn btn-primary" onClick={() => setCreated(null)}>Done</button>}>
          <div className="flex gap-2">
            <input readOnly className="input font-mono text-xs" value={created} onFocus={(e) => e.target.select()} aria-label="API key" />
            <button className="btn" onClick={() => void navigator.clipboard?.writeText(created).then(() => toast('Copied', 'success'))}><Copy className="size-4" />Copy</button>
          </div>
        </Dialog>
      )}
    </Section>
  );
}

function NewKeyDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (token: string) => void }) {
  const { me } = useAuth();
  const qc = useQueryClient();
  const [name, setName] = useState('');
  const [role, setRole] = useState(me.role === 'owner' ? 'editor' : me.role);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    try {
      const { data } = await request<Schemas['CreatedKey']>('/api-keys', { method: 'POST', body: { name, role } });
      void qc.invalidateQueries({ queryKey: ['keys'] });
      onCreated(data.token);
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  return (
    <Dialog title="New API key" onClose={onClose} footer={<><button className="btn" onClick={onClose}>Cancel</button><button className="btn btn-primary" form="new-key" disabled={!name}>Create key</button></>}>
      <form id="new-key" onSubmit={submit} className="space-y-3">
        <div><label className="label" htmlFor="key-name">Name</label><input id="key-name" className="input" placeholder="ci, laptop, zapier…" value={name} onChange={(e) => setName(e.target.value)} /></div>
        <div><label className="label" htmlFor="key-role">Role (at most yours)</label>
          <select id="key-role" className="input" value={role} onChange={(e) => setRole(e.target.value)}>{ROLES.slice(0, ROLES.indexOf(me.role) + 1).map((r) => <option key={r}>{r}</option>)}</select>
        </div>
        {error && <ErrorBox title="Not created">{error}</ErrorBox>}
      </form>
    </Dialog>
  );
}

function Vars() {
  const vars = useQuery({ queryKey: ['vars'], queryFn: () => get<Schemas['VarList']>('/vars') });
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const put = useAction(({ name, value }: { name: string; value: unknown }) => request(`/vars/${encodeURIComponent(name)}`, { method: 'PUT', body: { value } }), ['vars'], 'Variable saved');
  const remove = useAction((name: string) => request(`/vars/${encodeURIComponent(name)}`, { method: 'DELETE' }), ['vars'], 'Variable deleted');
  const parse = (text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  };
  const list = vars.data?.vars ?? [];
  return (
    <Section title="Variables" description="Values flows read as {{ vars.name }}: not secrets (use credentials for those). A run sees the values of the moment it started.">
      {vars.isLoading ? <div className="flex justify-center py-10"><Spinner /></div> : vars.isError ? <div className="p-4"><ErrorBox title="Could not load variables">{errorMessage(vars.error)}</ErrorBox></div> : list.length === 0 ? (
        <EmptyState icon={<Variable className="size-6" />} title="No variables yet">Add one below; JSON values (numbers, lists, objects) keep their type.</EmptyState>
      ) : (
        <ul className="divide-y divide-zinc-100 dark:divide-zinc-800/80">
          {list.map((v) => (
            <li key={v.name} className="flex items-center gap-3 px-5 py-3 text-[13px]">
              <span className="w-48 truncate font-mono text-[12.5px] font-medium">{v.name}</span>
              <span className="muted min-w-0 flex-1 truncate font-mono text-xs">{JSON.stringify(v.value)}</span>
              <span className="muted hidden text-xs sm:inline">{timeAgo(v.updated_ms)}</span>
              <button className="btn btn-ghost btn-icon" aria-label={`Delete ${v.name}`} onClick={() => remove.mutate(v.name)}><Trash2 className="size-4" /></button>
            </li>
          ))}
        </ul>
      )}
      <form onSubmit={(e) => { e.preventDefault(); put.mutate({ name, value: parse(value) }, { onSuccess: () => { setName(''); setValue(''); } }); }} className="flex flex-wrap gap-2 border-t border-zinc-200 bg-zinc-50/60 px-5 py-3 dark:border-zinc-800 dark:bg-zinc-900/40">
        <input className="input h-8 w-48 font-mono text-[12.5px]" placeholder="name" aria-label="Variable name" value={name} onChange={(e) => setName(e.target.value)} />
        <input className="input h-8 min-w-48 flex-1 font-mono text-[12.5px]" placeholder='value: text or JSON, e.g. 42 or {"a": 1}' aria-label="Variable value" value={value} onChange={(e) => setValue(e.target.value)} />
        <button className="btn btn-primary" disabled={!name || put.isPending}>Save variable</button>
      </form>
    </Section>
  );
}

function Workspaces() {
  const { me, switchWorkspace } = useAuth();
  const [id, setId] = useState('');
  const [error, setError] = useState<string | null>(null);
  const create = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await request('/workspaces', { method: 'POST', body: { id } });
      toast(`Created ${id}`, 'success');
      switchWorkspace(id);
    } catch (err) {
      setError(errorMessage(err));
    }
  };
  return (
    <Section title="Workspaces" description="Each workspace has its own flows, runs, members, keys and variables.">
      <ul className="divide-y divide-zinc-100 dark:divide-zinc-800/80">
        {me.workspaces.map((w) => (
          <li key={w.workspace} className="flex items-center gap-3 px-5 py-3 text-[13px]">
            <span className="flex-1 font-medium">{w.workspace}</span>
            <span className="muted text-xs">{w.role}</span>
            {w.workspace === me.workspace ? <span className="badge bg-accent-50 text-accent-700 dark:bg-accent-700/30 dark:text-accent-100">current</span> : <button className="btn btn-sm" onClick={() => switchWorkspace(w.workspace)}>Switch</button>}
          </li>
        ))}
      </ul>
      <form onSubmit={create} className="flex flex-wrap gap-2 border-t border-zinc-200 bg-zinc-50/60 px-5 py-3 dark:border-zinc-800 dark:bg-zinc-900/40">
        <input className="input h-8 min-w-48 flex-1 font-mono text-[12.5px]" placeholder="new-workspace-id" aria-label="Workspace id" value={id} onChange={(e) => setId(e.target.value)} />
        <button className="btn btn-primary" disabled={!id}>Create workspace</button>
        {error && <div className="w-full"><ErrorBox title="Not created">{error}</ErrorBox></div>}
      </form>
    </Section>
  );
}
