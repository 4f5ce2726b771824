// The app shell: the sidebar (navigation, workspace, theme, account) around the current page.
import { Component, lazy, Suspense, useEffect, useState, type ErrorInfo, type ReactNode } from 'react';
import { Activity, ChevronsUpDown, LogOut, Menu, Moon, Search, Settings, Sun, Workflow, X } from 'lucide-react';
import { AuthGate, useAuth } from './auth';
import { Link, match, navigate, useLocation } from '../lib/router';
import { useTheme } from '../lib/theme';
import { Logo } from '../components/Logo';
import { cx, Kbd, Spinner, Toaster } from '../components/ui';
import { FlowsPage } from '../pages/FlowsPage';
import { RunsPage } from '../pages/RunsPage';
import { RunPage } from '../pages/RunPage';
import { SettingsPage } from '../pages/SettingsPage';
import { openPalette } from '../components/palette-store';

// The editor brings the canvas, forms and code view: loaded when first opened.
const EditorPage = lazy(() => import('../editor/EditorPage'));
const CommandPalette = lazy(() => import('../components/CommandPalette'));

export function App() {
  return (
    <AuthGate>
      <Shell />
      <Toaster />
    </AuthGate>
  );
}

function Shell() {
  const { pathname } = useLocation();
  const [paletteLoaded, setPaletteLoaded] = useState(false);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'k') {
        e.preventDefault();
        setPaletteLoaded(true);
        openPalette();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
  useEffect(() => {
    if (pathname === '/' || pathname === '') navigate('/flows', { replace: true });
  }, [pathname]);

  let page: ReactNode;
  let params: Record<string, string> | null;
  let full = false;
  if ((params = match('/flows/:id', pathname))) {
    page = <EditorPage key={params.id} flowId={params.id} />;
    full = true;
  } else if ((params = match('/runs/:id', pathname))) page = <RunPage key={params.id} runId={params.id} />;
  else if (match('/runs', pathname)) page = <RunsPage />;
  else if (match('/settings', pathname)) page = <SettingsPage />;
  else if (match('/flows', pathname) || pathname === '/') page = <FlowsPage />;
  else page = <NotFound />;

  return (
    <div className="flex h-full flex-col md:flex-row">
      <Sidebar compact={full} onPalette={() => { setPaletteLoaded(true); openPalette(); }} />
      <main className={cx('min-h-0 min-w-0 flex-1', full ? 'overflow-hidden' : 'overflow-y-auto')}>
        <ErrorBoundary key={pathname}>
          <Suspense fallback={<div className="flex h-full items-center justify-center"><Spinner className="size-6" /></div>}>{page}</Suspense>
        </ErrorBoundary>
      </main>
      {paletteLoaded && (
        <Suspense fallback={null}>
          <CommandPalette />
        </Suspense>
      )}
    </div>
  );
}

function NavLink({ href, icon, children, onClick, compact }: { href: string; icon: ReactNode; children: ReactNode; onClick?: () => void; compact?: boolean }) {
  const { pathname } = useLocation();
  const active = pathname === href || pathname.startsWith(href + '/');
  return (
    <Link
      href={href}
      onClick={onClick}
      aria-current={active ? 'page' : undefined}
      title={compact ? String(children) : undefined}
      aria-label={compact ? String(children) : undefined}
      className={cx(
        'flex h-8 items-center gap-2.5 rounded-md px-2.5 text-[13px] font-medium transition-colors',
        compact && 'md:w-8 md:justify-center md:px-0',
        active ? 'bg-zinc-200/70 text-zinc-900 dark:bg-zinc-800 dark:text-white' : 'text-zinc-600 hover:bg-zinc-100 hover:text-zinc-900 dark:text-zinc-400 dark:hover:bg-zinc-800/60 dark:hover:text-zinc-100',
      )}
    >
      {icon}
      <span className={cx(compact && 'md:hidden')}>{children}</span>
    </Link>
  );
}

function Sidebar({ onPalette, compact }: { onPalette: () => void; compact?: boolean }) {
  const { me, switchWorkspace, signOut } = useAuth();
  const [theme, setTheme] = useTheme();
  const [open, setOpen] = useState(false);
  const close = () => setOpen(false);
  // In the editor the sidebar shrinks to a rail of icons (md and up), leaving the canvas room.
  const c = compact ? 'md:hidden' : '';
  const themeButton = (
    <button className="btn btn-ghost btn-icon" title={theme === 'dark' ? 'Light theme' : 'Dark theme'} aria-label="Toggle theme" onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}>
      {theme === 'dark' ? <Sun className="size-4" /> : <Moon className="size-4" />}
    </button>
  );
  return (
    <>
      {/* Phone-sized screens: a top bar with a menu button. */}
      <div className="flex h-12 shrink-0 items-center justify-between border-b border-zinc-200 bg-white px-3 md:hidden dark:border-zinc-800 dark:bg-zinc-900">
        <div className="flex items-center gap-2 font-semibold"><Logo className="size-6" /> Aion Studio</div>
        <button className="btn btn-ghost btn-icon" aria-label="Menu" aria-expanded={open} onClick={() => setOpen(!open)}>{open ? <X className="size-4" /> : <Menu className="size-4" />}</button>
      </div>
      <aside
        className={cx(
          'z-40 w-full shrink-0 flex-col border-zinc-200 bg-white md:flex md:border-r dark:border-zinc-800 dark:bg-zinc-900',
          compact ? 'md:w-14' : 'md:w-56',
          open ? 'flex border-b' : 'hidden',
        )}
        aria-label="Main"
      >
        <div className={cx('hidden h-14 items-center gap-2.5 md:flex', compact ? 'justify-center' : 'pr-2 pl-4')}>
          <Logo className="size-7" />
          {!compact && <span className="flex-1 text-[15px] font-semibold tracking-tight">Aion Studio</span>}
          {!compact && themeButton}
        </div>
        <div className={cx('px-3 pt-3 md:pt-1', compact && 'md:flex md:justify-center md:px-0')}>
          <button onClick={() => { close(); onPalette(); }} title="Search or jump (Ctrl K)" aria-label="Search or jump"
            className={cx('flex h-8 w-full items-center gap-2 rounded-md border border-zinc-200 bg-zinc-50 px-2.5 text-[13px] text-zinc-500 hover:border-zinc-300 dark:border-zinc-800 dark:bg-zinc-950 dark:text-zinc-400 dark:hover:border-zinc-700', compact && 'md:w-8 md:justify-center md:px-0')}>
            <Search className="size-3.5 shrink-0" />
            <span className={cx('flex-1 truncate text-left', c)}>Search…</span>
            <span className={c}><Kbd>Ctrl K</Kbd></span>
          </button>
        </div>
        <nav className={cx('flex flex-col gap-0.5 px-3 py-3', compact && 'md:items-center md:px-0')}>
          <NavLink compact={compact} href="/flows" icon={<Workflow className="size-4 shrink-0" />} onClick={close}>Flows</NavLink>
          <NavLink compact={compact} href="/runs" icon={<Activity className="size-4 shrink-0" />} onClick={close}>Runs</NavLink>
          <NavLink compact={compact} href="/settings" icon={<Settings className="size-4 shrink-0" />} onClick={close}>Settings</NavLink>
        </nav>
        <div className={cx('mt-auto space-y-3 border-t border-zinc-200 p-3 dark:border-zinc-800', compact && 'md:flex md:flex-col md:items-center md:space-y-1 md:px-0')}>
          <div className={c}>
            <label className="mb-1 block px-1 text-[11px] font-medium tracking-wide text-zinc-500 uppercase dark:text-zinc-400" htmlFor="workspace">Workspace</label>
            <div className="relative">
              <select
                id="workspace"
                className="h-8 w-full appearance-none rounded-md border border-zinc-200 bg-white pr-7 pl-2.5 text-[13px] font-medium dark:border-zinc-700 dark:bg-zinc-900"
                value={me.workspace}
                onChange={(e) => switchWorkspace(e.target.value)}
              >
                {me.workspaces.map((w) => (
                  <option key={w.workspace} value={w.workspace}>{w.workspace} · {w.role}</option>
                ))}
              </select>
              <ChevronsUpDown className="pointer-events-none absolute top-2 right-2 size-4 text-zinc-400" />
            </div>
          </div>
          {compact && <div className="hidden md:block">{themeButton}</div>}
          <div className={cx('flex items-center gap-2', compact && 'md:flex-col md:gap-1')}>
            <div className="flex size-7 shrink-0 items-center justify-center rounded-full bg-accent-100 text-xs font-semibold text-accent-700 uppercase dark:bg-accent-700/40 dark:text-accent-100" title={`${me.email} · ${me.workspace} · ${me.role}`}>{me.email.slice(0, 1)}</div>
            <div className={cx('min-w-0 flex-1', c)}>
              <div className="truncate text-[13px] font-medium" title={me.email}>{me.email}</div>
              <div className="muted text-[11px]">{me.role}</div>
            </div>
            <span className="md:hidden">{themeButton}</span>
            <button className="btn btn-ghost btn-icon" title="Sign out" aria-label="Sign out" onClick={() => void signOut()}>
              <LogOut className="size-4" />
            </button>
          </div>
        </div>
      </aside>
    </>
  );
}

function NotFound() {
  return (
    <div className="flex h-full flex-col items-center justify-center gap-3 p-8 text-center">
      <h1 className="text-lg font-semibold">Nothing here</h1>
      <p className="muted text-[13px]">This address does not match a page of the Studio.</p>
      <Link href="/flows" className="btn">Go to flows</Link>
    </div>
  );
}

/** A page that throws shows what happened instead of a blank screen; editor drafts are in localStorage. */
class ErrorBoundary extends Component<{ children: ReactNode }, { error: Error | null }> {
  state = { error: null as Error | null };
  static getDerivedStateFromError(error: Error) {
    return { error };
  }
  componentDidCatch(error: Error, info: ErrorInfo) {
    console.error('Studio page error', error, info.componentStack);
  }
  render() {
    if (!this.state.error) return this.props.children;
    return (
      <div className="mx-auto flex h-full max-w-lg flex-col items-center justify-center gap-3 p-8 text-center" role="alert">
        <h1 className="text-lg font-semibold">This page hit a problem</h1>
        <p className="muted text-[13px]">{this.state.error.message}. Unsaved flow edits are kept as a draft and come back when you reopen the flow.</p>
        <div className="flex gap-2">
          <button className="btn" onClick={() => this.setState({ error: null })}>Try again</button>
          <button className="btn btn-primary" onClick={() => location.reload()}>Reload</button>
        </div>
      </div>
    );
  }
}
