// Who is signed in: the session (`GET /me`), sign-in, first-run setup and sign-out. An
// expired session during work opens a sign-in dialog over the page, so nothing unsaved is lost.
import { createContext, useCallback, useContext, useEffect, useState, type FormEvent, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { ApiError, api, errorMessage, session, type MeOut, type SessionOut } from '../api/client';
import { Dialog, ErrorBox, Spinner } from '../components/ui';
import { Logo } from '../components/Logo';

interface Auth {
  me: MeOut;
  switchWorkspace: (ws: string) => void;
  signOut: () => Promise<void>;
}

const AuthContext = createContext<Auth | null>(null);

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error('useAuth outside AuthGate');
  return auth;
}

// `setup`: whether first-run setup is open (`GET /setup`); undefined when that call failed.
type State = { kind: 'loading' } | { kind: 'signed-out'; offline?: string; setup?: boolean } | { kind: 'signed-in'; me: MeOut };

async function setupNeeded(): Promise<boolean | undefined> {
  try {
    return (await api.setupNeeded()).needed;
  } catch {
    return undefined;
  }
}

export function AuthGate({ children }: { children: ReactNode }) {
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [expired, setExpired] = useState(false);
  const queryClient = useQueryClient();

  const load = useCallback(async () => {
    try {
      const me = await api.me();
      // `me` carries the session's CSRF token: it wins over what localStorage still holds.
      if (me.csrf_token && session.csrf !== me.csrf_token) session.csrf = me.csrf_token;
      if (session.workspace !== me.workspace) session.workspace = me.workspace;
      setState({ kind: 'signed-in', me });
    } catch (e) {
      if (e instanceof ApiError && e.status === 404 && session.workspace) {
        // The remembered workspace is gone: fall back to the default one.
        session.workspace = null;
        return load();
      }
      if (!(e instanceof ApiError)) {
        setState({ kind: 'signed-out', offline: errorMessage(e) });
        return;
      }
      setState({ kind: 'signed-out', setup: await setupNeeded() });
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  useEffect(
    () =>
      session.onUnauthorized(() => {
        setState((s) => {
          if (s.kind === 'signed-in') setExpired(true);
          return s;
        });
      }),
    [],
  );

  const signedIn = (out: SessionOut) => {
    session.csrf = out.csrf_token;
    session.workspace = out.me.workspace;
    setExpired(false);
    setState({ kind: 'signed-in', me: out.me });
    void queryClient.invalidateQueries();
  };

  if (state.kind === 'loading') {
    return (
      <div className="flex h-full items-center justify-center">
        <Spinner className="size-6" />
      </div>
    );
  }
  if (state.kind === 'signed-out') return <SignInPage key={String(state.setup)} onDone={signedIn} offline={state.offline} setupNeeded={state.setup} retry={load} />;

  const auth: Auth = {
    me: state.me,
    switchWorkspace: (ws) => {
      session.workspace = ws;
      queryClient.clear();
      void load();
    },
    signOut: async () => {
      try {
        await api.logout();
      } catch {
        // Signing out of an expired session still signs out here.
      }
      session.csrf = null;
      queryClient.clear();
      setState({ kind: 'signed-out', setup: false });
    },
  };
  return (
    <AuthContext.Provider value={auth}>
      {children}
      {expired && (
        <Dialog title="Your session has expired" description="Sign in again to go on. Nothing on this page is lost: unsaved changes stay where they are." onClose={() => setExpired(false)}>
          <SignInForm mode="login" onDone={signedIn} email={state.me.email} />
        </Dialog>
      )}
    </AuthContext.Provider>
  );
}

function SignInPage({ onDone, offline, setupNeeded, retry }: { onDone: (s: SessionOut) => void; offline?: string; setupNeeded?: boolean; retry: () => void }) {
  // Known (`GET /setup` answered): show what applies. Unknown: sign-in, with a link to setup.
  const [mode, setMode] = useState<'login' | 'setup'>(() =>
    (setupNeeded ?? new URLSearchParams(location.search).has('setup')) ? 'setup' : 'login',
  );
  return (
    <div className="flex min-h-full flex-col items-center justify-center bg-zinc-50 px-4 py-12 dark:bg-zinc-950">
      <div className="w-full max-w-sm">
        <div className="mb-8 flex flex-col items-center text-center">
          <Logo className="size-10" />
          <h1 className="mt-4 text-xl font-semibold tracking-tight">{mode === 'login' ? 'Sign in to Aion' : 'Set up Aion'}</h1>
          <p className="muted mt-1.5 text-[13px]">
            {mode === 'login' ? 'Build, run and debug your flows.' : 'Create the first account. It owns the workspace “default”.'}
          </p>
        </div>
        {offline && (
          <div className="mb-4">
            <ErrorBox title="Cannot reach the server" action={<button className="btn btn-sm" onClick={retry}>Retry</button>}>
              {offline}
            </ErrorBox>
          </div>
        )}
        <div className="card p-6">
          <SignInForm key={mode} mode={mode} onDone={onDone} onSwitch={() => setMode(mode === 'login' ? 'setup' : 'login')} />
        </div>
        {setupNeeded === undefined && (
          <p className="muted mt-6 text-center text-[13px]">
            {mode === 'login' ? (
              <>
                First time on this server?{' '}
                <button className="font-medium text-accent-600 hover:underline dark:text-accent-400" onClick={() => setMode('setup')}>
                  Create the first account
                </button>
              </>
            ) : (
              <>
                Already have an account?{' '}
                <button className="font-medium text-accent-600 hover:underline dark:text-accent-400" onClick={() => setMode('login')}>
                  Sign in
                </button>
              </>
            )}
          </p>
        )}
      </div>
    </div>
  );
}

function SignInForm({ mode, onDone, email: initialEmail = '', onSwitch }: { mode: 'login' | 'setup'; onDone: (s: SessionOut) => void; email?: string; onSwitch?: () => void }) {
  const [email, setEmail] = useState(initialEmail);
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ text: string; switchable?: boolean } | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    if (mode === 'setup' && password !== confirm) {
      setError({ text: 'The two passwords differ.' });
      return;
    }
    setBusy(true);
    try {
      onDone(mode === 'login' ? await api.login(email, password) : await api.setup(email, password));
    } catch (err) {
      if (err instanceof ApiError && err.code === 'already_set_up') setError({ text: 'This server already has an account. Sign in instead.', switchable: true });
      else setError({ text: errorMessage(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} className="space-y-4" noValidate>
      <div>
        <label className="label" htmlFor="email">Email</label>
        <input id="email" className="input" type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} autoFocus={!initialEmail} />
      </div>
      <div>
        <label className="label" htmlFor="password">Password</label>
        <input id="password" className="input" type="password" autoComplete={mode === 'login' ? 'current-password' : 'new-password'} required value={password} onChange={(e) => setPassword(e.target.value)} autoFocus={!!initialEmail} />
      </div>
      {mode === 'setup' && (
        <div>
          <label className="label" htmlFor="confirm">Confirm password</label>
          <input id="confirm" className="input" type="password" autoComplete="new-password" required value={confirm} onChange={(e) => setConfirm(e.target.value)} />
        </div>
      )}
      {error && (
        <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-[13px] text-red-700 dark:bg-red-950/50 dark:text-red-300">
          {error.text}{' '}
          {error.switchable && onSwitch && (
            <button type="button" className="font-medium underline" onClick={onSwitch}>Sign in</button>
          )}
        </p>
      )}
      <button className="btn btn-primary h-9 w-full" disabled={busy || !email || !password}>
        {busy && <Spinner className="size-4 text-white" />}
        {mode === 'login' ? 'Sign in' : 'Create account'}
      </button>
    </form>
  );
}
