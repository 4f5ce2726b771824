// A text field that understands `{{ }}`: expressions are highlighted, paths complete as you
// type (inputs, upstream steps with the last run's output paths, trigger, vars, run), and a
// preview shows the value from the last run when the expression is a plain path.
import { createContext, useContext, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { complete, pathAtCursor, preview, segments, type Completion, type RunData } from '../lib/expr';
import { useEditor } from './store';
import { cx } from '../components/ui';

/** What expressions can see from the last run: step outputs and the run's input. */
export const RunScope = createContext<{ steps: RunData; inputs?: unknown }>({ steps: {} });

export function ExprInput({
  id, value, onChange, nodeId, placeholder, invalid, multiline, onBlur,
}: { id?: string; value: string; onChange: (v: string) => void; nodeId: string | null; placeholder?: string; invalid?: boolean; multiline?: boolean; onBlur?: () => void }) {
  const doc = useEditor((s) => s.doc);
  const scope = useContext(RunScope);
  const ref = useRef<HTMLTextAreaElement>(null);
  const mirror = useRef<HTMLDivElement>(null);
  const [cursor, setCursor] = useState<number | null>(null);
  const [active, setActive] = useState(0);
  const [dismissed, setDismissed] = useState(false);

  const typed = cursor === null ? null : pathAtCursor(value, cursor);
  const items: Completion[] = useMemo(() => (typed === null || dismissed ? [] : complete(doc, nodeId, typed, scope.steps).slice(0, 12)), [typed, dismissed, doc, nodeId, scope.steps]);
  const hasExpr = value.includes('{{');
  const shown = useMemo(() => {
    if (!hasExpr) return undefined;
    const steps = Object.fromEntries(Object.entries(scope.steps).map(([k, v]) => [k, { output: v.output, error: v.error }]));
    return preview(value, { steps, inputs: scope.inputs ?? {} });
  }, [hasExpr, value, scope]);

  // Grow with the text, like a textarea that fits its content.
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.style.height = '0px';
    el.style.height = `${Math.max(el.scrollHeight, 34)}px`;
  }, [value]);

  const accept = (c: Completion) => {
    if (cursor === null || typed === null) return;
    const start = cursor - typed.length;
    const next = value.slice(0, start) + c.path + value.slice(cursor);
    onChange(next);
    const pos = start + c.path.length;
    requestAnimationFrame(() => {
      ref.current?.setSelectionRange(pos, pos);
      setCursor(pos);
    });
    setActive(0);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (items.length) {
      if (e.key === 'ArrowDown') { e.preventDefault(); setActive((a) => (a + 1) % items.length); return; }
      if (e.key === 'ArrowUp') { e.preventDefault(); setActive((a) => (a - 1 + items.length) % items.length); return; }
      if (e.key === 'Enter' || e.key === 'Tab') { e.preventDefault(); accept(items[Math.min(active, items.length - 1)]); return; }
      if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); setDismissed(true); return; }
    }
    if (e.key === 'Enter' && !multiline && !e.shiftKey) e.preventDefault();
    if (e.key === '{' && ref.current) {
      // Typing `{{` closes the braces around the cursor.
      const pos = ref.current.selectionStart;
      if (value[pos - 1] === '{' && value.slice(pos, pos + 2) !== '}}') {
        e.preventDefault();
        const next = value.slice(0, pos) + '{  }}' + value.slice(pos);
        onChange(next);
        requestAnimationFrame(() => { ref.current?.setSelectionRange(pos + 2, pos + 2); setCursor(pos + 2); setDismissed(false); });
      }
    }
  };

  const field = 'block w-full whitespace-pre-wrap break-words px-2.5 py-[7px] font-mono text-[12.5px] leading-5';
  return (
    <div className="relative">
      <div className={cx('relative rounded-md border bg-white shadow-xs focus-within:ring-2 dark:bg-zinc-900', invalid ? 'border-red-400 focus-within:ring-red-500/25' : 'border-zinc-300 focus-within:border-accent-500 focus-within:ring-accent-500/25 dark:border-zinc-700')}>
        <div ref={mirror} aria-hidden className={cx(field, 'pointer-events-none absolute inset-0 overflow-hidden text-zinc-900 dark:text-zinc-100')}>
          {segments(value).map((s, i) =>
            s.kind === 'expr' ? <span key={i} className="rounded-sm bg-accent-100 text-accent-700 dark:bg-accent-700/30 dark:text-accent-100">{s.text}</span> : <span key={i}>{s.text}</span>,
          )}
          {'\u200b'}
        </div>
        <textarea
          ref={ref}
          id={id}
          rows={1}
          spellCheck={false}
          value={value}
          placeholder={placeholder}
          aria-invalid={invalid}
          aria-autocomplete="list"
          aria-expanded={items.length > 0}
          onChange={(e) => { onChange(e.target.value); setCursor(e.target.selectionStart); setDismissed(false); setActive(0); }}
          onSelect={(e) => setCursor((e.target as HTMLTextAreaElement).selectionStart)}
          onKeyDown={onKeyDown}
          onBlur={() => { setTimeout(() => setCursor(null), 150); onBlur?.(); }}
          onScroll={(e) => { if (mirror.current) mirror.current.scrollTop = (e.target as HTMLTextAreaElement).scrollTop; }}
          className={cx(field, 'relative resize-none overflow-hidden bg-transparent text-transparent caret-zinc-900 outline-none placeholder:text-zinc-400 dark:caret-zinc-100')}
        />
      </div>
      {items.length > 0 && (
        <ul role="listbox" className="card absolute right-0 left-0 z-30 mt-1 max-h-56 overflow-y-auto p-1 shadow-lg" data-testid="expr-completions">
          {items.map((c, i) => (
            <li key={c.path} role="option" aria-selected={i === active}>
              <button type="button" onMouseDown={(e) => { e.preventDefault(); accept(c); }} className={cx('flex w-full items-baseline gap-3 rounded px-2 py-1 text-left', i === active ? 'bg-accent-50 dark:bg-accent-700/30' : 'hover:bg-zinc-100 dark:hover:bg-zinc-800')}>
                <span className="font-mono text-xs">{c.path}</span>
                {c.detail && <span className="muted ml-auto truncate text-[11px]">{c.detail}</span>}
              </button>
            </li>
          ))}
        </ul>
      )}
      {shown && (
        <div className="muted mt-1 truncate font-mono text-[11px]" title="The value with the last run's data" data-testid="expr-preview">
          = {typeof shown.value === 'string' ? shown.value : JSON.stringify(shown.value)}
        </div>
      )}
    </div>
  );
}
