// The Studio's small building blocks: dialogs, toasts, status badges, empty states, spinners.
import { useEffect, useRef, useSyncExternalStore, type ReactNode } from 'react';
import { AlertTriangle, CheckCircle2, CircleDashed, Clock, Loader2, PauseCircle, X, XCircle, Ban, SkipForward } from 'lucide-react';

export function cx(...parts: Array<string | false | null | undefined>): string {
  return parts.filter(Boolean).join(' ');
}

export function Spinner({ className = 'size-4' }: { className?: string }) {
  return <Loader2 className={cx('animate-spin text-zinc-400', className)} aria-label="Loading" />;
}

/** A modal dialog: Escape and the backdrop close it; focus moves into it. */
export function Dialog({
  title, onClose, children, footer, wide, description,
}: { title: string; onClose: () => void; children: ReactNode; footer?: ReactNode; wide?: boolean; description?: ReactNode }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    // Focus moves into the dialog unless a field in it took the focus already (autoFocus).
    if (!ref.current?.contains(document.activeElement)) {
      ref.current?.querySelector<HTMLElement>('input, textarea, select, button:not([data-close])')?.focus();
    }
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        e.stopPropagation();
        onClose();
      }
    };
    window.addEventListener('keydown', onKey, true);
    return () => {
      window.removeEventListener('keydown', onKey, true);
      prev?.focus?.();
    };
  }, [onClose]);
  return (
    <div className="fixed inset-0 z-50 flex items-start justify-center overflow-y-auto bg-zinc-950/40 p-4 pt-[12vh] backdrop-blur-[2px]" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div ref={ref} role="dialog" aria-modal="true" aria-label={title} className={cx('card w-full shadow-xl', wide ? 'max-w-2xl' : 'max-w-md')}>
        <div className="flex items-start justify-between gap-4 border-b border-zinc-200 px-5 py-4 dark:border-zinc-800">
          <div>
            <h2 className="text-[15px] font-semibold">{title}</h2>
            {description && <p className="muted mt-1 text-[13px]">{description}</p>}
          </div>
          <button data-close className="btn btn-ghost btn-icon -mr-2 -mt-1" onClick={onClose} aria-label="Close">
            <X className="size-4" />
          </button>
        </div>
        <div className="px-5 py-4">{children}</div>
        {footer && <div className="flex justify-end gap-2 border-t border-zinc-200 bg-zinc-50/60 px-5 py-3 dark:border-zinc-800 dark:bg-zinc-900/60">{footer}</div>}
      </div>
    </div>
  );
}

type ToastKind = 'success' | 'error' | 'info';
interface Toast { id: number; kind: ToastKind; text: string }
let toasts: Toast[] = [];
let nextToast = 1;
const toastListeners = new Set<() => void>();
const emitToasts = () => toastListeners.forEach((l) => l());

export function toast(text: string, kind: ToastKind = 'info') {
  const id = nextToast++;
  toasts = [...toasts, { id, kind, text }].slice(-4);
  emitToasts();
  setTimeout(() => {
    toasts = toasts.filter((t) => t.id !== id);
    emitToasts();
  }, kind === 'error' ? 7000 : 3500);
}

export function Toaster() {
  const list = useSyncExternalStore((l) => {
    toastListeners.add(l);
    return () => toastListeners.delete(l);
  }, () => toasts);
  return (
    <div className="pointer-events-none fixed right-4 bottom-4 z-[60] flex w-80 flex-col gap-2" role="status" aria-live="polite">
      {list.map((t) => (
        <div key={t.id} className="card pointer-events-auto flex items-start gap-2.5 px-3.5 py-3 text-[13px] shadow-lg">
          {t.kind === 'success' ? <CheckCircle2 className="mt-px size-4 shrink-0 text-emerald-600" /> : t.kind === 'error' ? <XCircle className="mt-px size-4 shrink-0 text-red-600" /> : <CircleDashed className="mt-px size-4 shrink-0 text-accent-500" />}
          <span className="min-w-0 break-words">{t.text}</span>
        </div>
      ))}
    </div>
  );
}

const STATUS_STYLE: Record<string, { cls: string; icon: ReactNode; label?: string }> = {
  succeeded: { cls: 'bg-emerald-50 text-emerald-700 ring-emerald-600/20 dark:bg-emerald-500/10 dark:text-emerald-400 dark:ring-emerald-400/20', icon: <CheckCircle2 className="size-3" /> },
  failed: { cls: 'bg-red-50 text-red-700 ring-red-600/20 dark:bg-red-500/10 dark:text-red-400 dark:ring-red-400/20', icon: <XCircle className="size-3" /> },
  running: { cls: 'bg-sky-50 text-sky-700 ring-sky-600/20 dark:bg-sky-500/10 dark:text-sky-300 dark:ring-sky-400/20', icon: <Loader2 className="size-3 animate-spin" /> },
  queued: { cls: 'bg-zinc-100 text-zinc-600 ring-zinc-500/20 dark:bg-zinc-500/10 dark:text-zinc-300 dark:ring-zinc-400/20', icon: <Clock className="size-3" /> },
  pending: { cls: 'bg-zinc-100 text-zinc-600 ring-zinc-500/20 dark:bg-zinc-500/10 dark:text-zinc-300 dark:ring-zinc-400/20', icon: <Clock className="size-3" /> },
  waiting: { cls: 'bg-amber-50 text-amber-800 ring-amber-600/20 dark:bg-amber-500/10 dark:text-amber-300 dark:ring-amber-400/20', icon: <PauseCircle className="size-3" /> },
  cancelled: { cls: 'bg-zinc-100 text-zinc-600 ring-zinc-500/20 dark:bg-zinc-500/10 dark:text-zinc-300 dark:ring-zinc-400/20', icon: <Ban className="size-3" /> },
  canceled: { cls: 'bg-zinc-100 text-zinc-600 ring-zinc-500/20 dark:bg-zinc-500/10 dark:text-zinc-300 dark:ring-zinc-400/20', icon: <Ban className="size-3" /> },
  skipped: { cls: 'bg-zinc-100 text-zinc-500 ring-zinc-500/20 dark:bg-zinc-500/10 dark:text-zinc-400 dark:ring-zinc-400/20', icon: <SkipForward className="size-3" /> },
};

export function StatusBadge({ status }: { status: string | null | undefined }) {
  if (!status) return <span className="muted text-xs">—</span>;
  const s = STATUS_STYLE[status] ?? { cls: 'bg-zinc-100 text-zinc-600 ring-zinc-500/20 dark:bg-zinc-800 dark:text-zinc-300 dark:ring-zinc-400/20', icon: <CircleDashed className="size-3" /> };
  return (
    <span className={cx('badge ring-1 ring-inset', s.cls)} data-status={status}>
      {s.icon}
      {status}
    </span>
  );
}

export function EmptyState({ icon, title, children, action }: { icon: ReactNode; title: string; children?: ReactNode; action?: ReactNode }) {
  return (
    <div className="flex flex-col items-center justify-center px-6 py-16 text-center">
      <div className="mb-4 flex size-12 items-center justify-center rounded-xl bg-zinc-100 text-zinc-500 dark:bg-zinc-800 dark:text-zinc-400">{icon}</div>
      <h3 className="text-[15px] font-semibold">{title}</h3>
      {children && <div className="muted mt-1.5 max-w-sm text-[13px] leading-relaxed">{children}</div>}
      {action && <div className="mt-5">{action}</div>}
    </div>
  );
}

export function ErrorBox({ title, children, action }: { title: string; children?: ReactNode; action?: ReactNode }) {
  return (
    <div role="alert" className="flex items-start gap-3 rounded-lg border border-red-200 bg-red-50 px-4 py-3 text-[13px] text-red-800 dark:border-red-900/60 dark:bg-red-950/40 dark:text-red-200">
      <AlertTriangle className="mt-0.5 size-4 shrink-0" />
      <div className="min-w-0 flex-1">
        <div className="font-medium">{title}</div>
        {children && <div className="mt-0.5 break-words opacity-90">{children}</div>}
      </div>
      {action}
    </div>
  );
}

/** A JSON value shown as a collapsible tree. */
export function JsonTree({ value, depth = 0, name }: { value: unknown; depth?: number; name?: string }) {
  const label = name !== undefined ? <span className="text-zinc-500 dark:text-zinc-400">{name}: </span> : null;
  if (value === null || typeof value !== 'object') {
    const cls = typeof value === 'string' ? 'text-emerald-700 dark:text-emerald-400' : typeof value === 'number' ? 'text-sky-700 dark:text-sky-400' : 'text-purple-700 dark:text-purple-400';
    return (
      <div className="pl-4 -indent-4 break-all">
        {label}
        <span className={cls}>{value === undefined ? 'undefined' : JSON.stringify(value)}</span>
      </div>
    );
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
  const open = depth < 2;
  const summary = Array.isArray(value) ? `[${value.length}]` : `{${entries.length}}`;
  if (entries.length === 0) return <div>{label}<span className="muted">{Array.isArray(value) ? '[]' : '{}'}</span></div>;
  return (
    <details open={open} className="group">
      <summary className="cursor-pointer list-none select-none marker:hidden hover:bg-zinc-100 dark:hover:bg-zinc-800/60 rounded">
        <span className="inline-block w-3 text-zinc-400 transition-transform group-open:rotate-90">›</span>
        {label}
        <span className="muted">{summary}</span>
      </summary>
      <div className="ml-1.5 border-l border-zinc-200 pl-2.5 dark:border-zinc-800">
        {entries.map(([k, v]) => (
          <JsonTree key={k} name={k} value={v} depth={depth + 1} />
        ))}
      </div>
    </details>
  );
}

export function Kbd({ children }: { children: ReactNode }) {
  return <kbd className="kbd">{children}</kbd>;
}
