// The node palette: the server's node catalog, searchable and grouped by category. Drag a node
// onto the canvas, or press Enter / click to drop it in the middle.
import { useMemo, useState } from 'react';
import { Search } from 'lucide-react';
import type { NodeSpec } from '../lib/graph';
import { cx } from '../components/ui';
import { categoryIcon, categoryTint } from './AionNode';
import { DND_TYPE } from './Canvas';

const ORDER = ['flow', 'data', 'integration', 'code', 'utility'];
const LABEL: Record<string, string> = { flow: 'Flow control', data: 'Data', integration: 'Integrations', code: 'Code', utility: 'Utilities' };

export function Palette({ nodes, onAdd }: { nodes: NodeSpec[]; onAdd: (type: string) => void }) {
  const [q, setQ] = useState('');
  const groups = useMemo(() => {
    const query = q.trim().toLowerCase();
    const hits = nodes.filter((n) => !query || [n.type, n.title, n.description, n.category].some((s) => s?.toLowerCase().includes(query)));
    const out = new Map<string, NodeSpec[]>();
    for (const n of hits) out.set(n.category, [...(out.get(n.category) ?? []), n]);
    const rank = (c: string) => (ORDER.includes(c) ? ORDER.indexOf(c) : ORDER.length);
    return [...out].sort(([a], [b]) => rank(a) - rank(b));
  }, [nodes, q]);
  return (
    <div className="flex h-full min-h-0 flex-col" aria-label="Node palette">
      <div className="p-3 pb-2">
        <div className="relative">
          <Search className="pointer-events-none absolute top-2 left-2.5 size-4 text-zinc-400" />
          <input className="input h-8 pl-8 text-[13px]" placeholder="Search nodes" value={q} onChange={(e) => setQ(e.target.value)} aria-label="Search nodes"
            onKeyDown={(e) => { if (e.key === 'Enter' && groups[0]?.[1][0]) onAdd(groups[0][1][0].type); }} />
        </div>
      </div>
      <div className="min-h-0 flex-1 overflow-y-auto px-2 pb-3">
        {groups.length === 0 && <p className="muted px-2 py-6 text-center text-xs">No node matches “{q}”.</p>}
        {groups.map(([category, specs]) => (
          <div key={category} className="mb-2">
            <div className="px-2 pt-2 pb-1 text-[11px] font-medium tracking-wide text-zinc-500 uppercase dark:text-zinc-400">{LABEL[category] ?? category}</div>
            {specs.map((n) => (
              <button
                key={n.type}
                draggable
                data-testid={`palette-${n.type}`}
                onDragStart={(e) => { e.dataTransfer.setData(DND_TYPE, n.type); e.dataTransfer.effectAllowed = 'copy'; }}
                onClick={() => onAdd(n.type)}
                title={`${n.description}\n\nDrag onto the canvas, or click to add.`}
                className="group flex w-full cursor-grab items-start gap-2.5 rounded-md px-2 py-1.5 text-left hover:bg-zinc-100 active:cursor-grabbing dark:hover:bg-zinc-800/70"
              >
                <span className={cx('mt-0.5 flex size-6 shrink-0 items-center justify-center rounded', categoryTint(n.category))}>{categoryIcon(n.category)}</span>
                <span className="min-w-0 flex-1">
                  <span className="block truncate text-[13px] font-medium">{n.title}</span>
                  <span className="muted line-clamp-2 text-[11px] leading-snug">{n.description}</span>
                </span>
              </button>
            ))}
          </div>
        ))}
      </div>
    </div>
  );
}
