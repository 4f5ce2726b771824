// A node on the canvas: its id and type, its input on the left, one handle per output port on
// the right, an `error` port below; lit up by the live run and marked by diagnostics.
import { memo, type ReactNode } from 'react';
import { Handle, Position, type NodeProps, type Node } from '@xyflow/react';
import { AlertCircle, AlertTriangle, Boxes, Code2, Database, GitBranch, Globe, Loader2, Wrench } from 'lucide-react';
import { cx } from '../components/ui';
import { ERROR_PORT, INPUT_HANDLE, type NodeData } from '../lib/graph';

export interface CanvasNodeData extends NodeData {
  status?: string;
  errors?: number;
  warnings?: number;
  cacheHit?: boolean;
  errorEdge?: boolean;
}

export type CanvasNode = Node<CanvasNodeData, 'aion'>;

const CATEGORY_ICON: Record<string, ReactNode> = {
  flow: <GitBranch className="size-3.5" />,
  data: <Database className="size-3.5" />,
  integration: <Globe className="size-3.5" />,
  code: <Code2 className="size-3.5" />,
  utility: <Wrench className="size-3.5" />,
};

const CATEGORY_TINT: Record<string, string> = {
  flow: 'bg-violet-100 text-violet-700 dark:bg-violet-500/15 dark:text-violet-300',
  data: 'bg-sky-100 text-sky-700 dark:bg-sky-500/15 dark:text-sky-300',
  integration: 'bg-emerald-100 text-emerald-700 dark:bg-emerald-500/15 dark:text-emerald-300',
  code: 'bg-amber-100 text-amber-800 dark:bg-amber-500/15 dark:text-amber-300',
  utility: 'bg-zinc-100 text-zinc-600 dark:bg-zinc-700/50 dark:text-zinc-300',
};

const STATUS_RING: Record<string, string> = {
  running: 'ring-2 ring-sky-500 shadow-[0_0_0_6px_rgba(14,165,233,0.15)]',
  succeeded: 'ring-2 ring-emerald-500',
  failed: 'ring-2 ring-red-500',
  waiting: 'ring-2 ring-amber-500',
  skipped: 'opacity-60',
};

export function categoryIcon(category: string | undefined) {
  return CATEGORY_ICON[category ?? ''] ?? <Boxes className="size-3.5" />;
}
export function categoryTint(category: string | undefined) {
  return CATEGORY_TINT[category ?? ''] ?? CATEGORY_TINT.utility;
}

function AionNodeView({ data, selected }: NodeProps<CanvasNode>) {
  const { node, spec, ports, status, errors = 0, warnings = 0, errorEdge } = data;
  const many = ports.length > 1;
  return (
    <div
      data-testid={`node-${node.id}`}
      data-status={status}
      className={cx(
        'group relative w-[208px] rounded-lg border bg-white text-left shadow-sm transition-shadow dark:bg-zinc-900',
        selected ? 'border-accent-500 ring-2 ring-accent-500/30' : errors ? 'border-red-400 dark:border-red-500/70' : 'border-zinc-300 dark:border-zinc-700',
        status && STATUS_RING[status],
      )}
    >
      <Handle type="target" position={Position.Left} id={INPUT_HANDLE} className="!size-2.5 !border-2 !border-white !bg-zinc-400 dark:!border-zinc-900" />
      <div className="flex items-center gap-2.5 px-3 py-2.5">
        <div className={cx('flex size-7 shrink-0 items-center justify-center rounded-md', categoryTint(spec?.category))}>{categoryIcon(spec?.category)}</div>
        <div className="min-w-0 flex-1">
          <div className="truncate text-[13px] font-semibold">{node.name || node.id}</div>
          <div className="muted truncate font-mono text-[11px]">{node.type}</div>
        </div>
        {status === 'running' && <Loader2 className="size-4 animate-spin text-sky-500" />}
        {errors > 0 ? (
          <span className="flex items-center gap-0.5 text-[11px] font-semibold text-red-600 dark:text-red-400" title={`${errors} error(s)`} data-testid={`node-errors-${node.id}`}>
            <AlertCircle className="size-3.5" />{errors}
          </span>
        ) : warnings > 0 ? (
          <span className="flex items-center gap-0.5 text-[11px] font-semibold text-amber-600 dark:text-amber-400" title={`${warnings} warning(s)`}>
            <AlertTriangle className="size-3.5" />{warnings}
          </span>
        ) : null}
      </div>
      {many ? (
        <div className="border-t border-zinc-100 py-1 dark:border-zinc-800">
          {ports.map((p) => (
            <div key={p} className="relative flex h-6 items-center justify-end pr-3.5 text-[11px] font-medium text-zinc-500 dark:text-zinc-400">
              {p}
              <Handle type="source" position={Position.Right} id={p} data-port={p} className="!size-2.5 !border-2 !border-white !bg-accent-500 dark:!border-zinc-900" />
            </div>
          ))}
        </div>
      ) : (
        <Handle type="source" position={Position.Right} id={ports[0] ?? 'out'} data-port={ports[0] ?? 'out'} className="!size-2.5 !border-2 !border-white !bg-accent-500 dark:!border-zinc-900" />
      )}
      <Handle
        type="source"
        position={Position.Bottom}
        id={ERROR_PORT}
        data-port={ERROR_PORT}
        title="error: the failure after retries goes here"
        className={cx('!size-2 !border-2 !border-white !bg-red-400 transition-opacity dark:!border-zinc-900', errorEdge || selected ? 'opacity-100' : 'opacity-0 group-hover:opacity-100')}
      />
    </div>
  );
}

export const AionNode = memo(AionNodeView);
