// Ctrl+K: open a flow, go to a page, switch workspace or theme, and the current page's own
// commands (add a node, run, save). Everything here works from the keyboard.
import { Command } from 'cmdk';
import { useQuery } from '@tanstack/react-query';
import { Activity, Moon, Plus, Settings, Workflow, Building2 } from 'lucide-react';
import { api } from '../api/client';
import { useAuth } from '../app/auth';
import { navigate } from '../lib/router';
import { setTheme, currentTheme } from '../lib/theme';
import { usePalette } from './palette-store';

export default function CommandPalette() {
  const { open, setOpen, pageCommands } = usePalette();
  const { me, switchWorkspace } = useAuth();
  const flows = useQuery({ queryKey: ['flows'], queryFn: api.flows, enabled: open });
  if (!open) return null;
  const run = (fn: () => void) => () => {
    setOpen(false);
    fn();
  };
  const groups = new Map<string, typeof pageCommands>();
  for (const c of pageCommands) groups.set(c.group, [...(groups.get(c.group) ?? []), c]);
  const item = 'flex cursor-pointer items-center gap-2.5 rounded-md px-2.5 py-2 text-[13px] aria-selected:bg-zinc-100 dark:aria-selected:bg-zinc-800';
  const heading = '[&_[cmdk-group-heading]]:px-2.5 [&_[cmdk-group-heading]]:pt-2 [&_[cmdk-group-heading]]:pb-1 [&_[cmdk-group-heading]]:text-[11px] [&_[cmdk-group-heading]]:font-medium [&_[cmdk-group-heading]]:text-zinc-500 [&_[cmdk-group-heading]]:uppercase';
  return (
    <div className="fixed inset-0 z-50 flex items-start justify-center bg-zinc-950/40 p-4 pt-[14vh]" onMouseDown={(e) => e.target === e.currentTarget && setOpen(false)}>
      <Command label="Command palette" className="card w-full max-w-xl overflow-hidden shadow-2xl" onKeyDown={(e) => e.key === 'Escape' && setOpen(false)} loop>
        <Command.Input autoFocus placeholder="Type a command or search flows…" className="h-12 w-full border-b border-zinc-200 bg-transparent px-4 text-[14px] outline-none placeholder:text-zinc-400 dark:border-zinc-800" />
        <Command.List className="max-h-[50vh] overflow-y-auto p-1.5">
          <Command.Empty className="muted px-3 py-6 text-center text-[13px]">No matching command.</Command.Empty>
          {[...groups].map(([group, commands]) => (
            <Command.Group key={group} heading={group} className={heading}>
              {commands.map((c) => (
                <Command.Item key={c.id} value={`${group} ${c.label} ${c.id}`} keywords={c.keywords} onSelect={run(c.run)} className={item}>
                  <span className="flex-1">{c.label}</span>
                  {c.hint && <span className="muted text-xs">{c.hint}</span>}
                </Command.Item>
              ))}
            </Command.Group>
          ))}
          <Command.Group heading="Go to" className={heading}>
            <Command.Item value="go flows" onSelect={run(() => navigate('/flows'))} className={item}><Workflow className="size-4 text-zinc-400" />Flows</Command.Item>
            <Command.Item value="go runs" onSelect={run(() => navigate('/runs'))} className={item}><Activity className="size-4 text-zinc-400" />Runs</Command.Item>
            <Command.Item value="go settings members keys variables" onSelect={run(() => navigate('/settings'))} className={item}><Settings className="size-4 text-zinc-400" />Settings</Command.Item>
            <Command.Item value="new flow create" onSelect={run(() => navigate('/flows?new=1'))} className={item}><Plus className="size-4 text-zinc-400" />New flow…</Command.Item>
            <Command.Item value="toggle theme dark light" onSelect={run(() => setTheme(currentTheme() === 'dark' ? 'light' : 'dark'))} className={item}><Moon className="size-4 text-zinc-400" />Toggle dark / light theme</Command.Item>
          </Command.Group>
          {(flows.data?.flows.length ?? 0) > 0 && (
            <Command.Group heading="Open flow" className={heading}>
              {flows.data!.flows.map((f) => (
                <Command.Item key={f.id} value={`open flow ${f.id}`} onSelect={run(() => navigate(`/flows/${encodeURIComponent(f.id)}`))} className={item}>
                  <Workflow className="size-4 text-zinc-400" />
                  <span className="flex-1 font-mono text-[12.5px]">{f.id}</span>
                  <span className="muted text-xs">v{f.latest_version}</span>
                </Command.Item>
              ))}
            </Command.Group>
          )}
          {me.workspaces.length > 1 && (
            <Command.Group heading="Switch workspace" className={heading}>
              {me.workspaces.filter((w) => w.workspace !== me.workspace).map((w) => (
                <Command.Item key={w.workspace} value={`workspace ${w.workspace}`} onSelect={run(() => switchWorkspace(w.workspace))} className={item}>
                  <Building2 className="size-4 text-zinc-400" />{w.workspace}<span className="muted ml-auto text-xs">{w.role}</span>
                </Command.Item>
              ))}
            </Command.Group>
          )}
        </Command.List>
      </Command>
    </div>
  );
}
