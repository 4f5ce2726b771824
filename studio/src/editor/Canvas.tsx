// The canvas: the document drawn with @xyflow/react. Positions move locally while dragging
// and reach the document when the drag ends (one undo step); every other edit (connect,
// delete, paste, drop from the palette) goes straight to the document.
import { memo, useCallback, useEffect, useMemo, useRef, useState, type DragEvent } from 'react';
import {
  Background, BackgroundVariant, Controls, MiniMap, ReactFlow, ReactFlowProvider, useReactFlow,
  applyNodeChanges, type Connection, type Edge, type NodeChange, type EdgeChange,
} from '@xyflow/react';
import { useEditor } from './store';
import { AionNode, type CanvasNode } from './AionNode';
import { addNode, connect, copyNodes, docToGraph, edgeId, pasteNodes, removeEdges, removeNodes, type Catalog, type Clipboard, ERROR_PORT, DEFAULT_PORT } from '../lib/graph';
import { pointerTarget } from '../lib/graph';
import type { LiveStep } from '../run/useLiveRun';
import { useTheme } from '../lib/theme';

const nodeTypes = { aion: AionNode };
export const DND_TYPE = 'application/x-aion-node';
let clipboard: Clipboard | null = null;

export interface CanvasApi {
  fit: () => void;
  addAtCenter: (type: string) => void;
}

export const Canvas = memo(function Canvas(props: { catalog: Catalog; steps?: Record<string, LiveStep>; apiRef?: React.MutableRefObject<CanvasApi | null>; readOnly?: boolean }) {
  return (
    <ReactFlowProvider>
      <CanvasInner {...props} />
    </ReactFlowProvider>
  );
});

function CanvasInner({ catalog, steps, apiRef, readOnly }: { catalog: Catalog; steps?: Record<string, LiveStep>; apiRef?: React.MutableRefObject<CanvasApi | null>; readOnly?: boolean }) {
  const doc = useEditor((s) => s.doc);
  const selected = useEditor((s) => s.selected);
  const diagnostics = useEditor((s) => s.diagnostics);
  const [theme] = useTheme();
  const flow = useReactFlow();
  const wrapper = useRef<HTMLDivElement>(null);

  const graph = useMemo(() => docToGraph(doc, catalog), [doc, catalog]);
  const marks = useMemo(() => {
    const out = new Map<string, { errors: number; warnings: number }>();
    for (const d of diagnostics) {
      const { nodeId } = pointerTarget(doc, d.pointer);
      if (!nodeId) continue;
      const m = out.get(nodeId) ?? { errors: 0, warnings: 0 };
      if (d.severity === 'error') m.errors++;
      else m.warnings++;
      out.set(nodeId, m);
    }
    return out;
  }, [diagnostics, doc]);

  const [nodes, setNodes] = useState<CanvasNode[]>([]);
  useEffect(() => {
    const chosen = new Set(selected);
    const errorFrom = new Set((doc.edges ?? []).filter((e) => e.port === ERROR_PORT).map((e) => e.from));
    setNodes(
      graph.nodes.map((n) => ({
        ...n,
        selected: chosen.has(n.id),
        data: { ...n.data, ...marks.get(n.id), status: steps?.[n.id]?.status, cacheHit: steps?.[n.id]?.cacheHit, errorEdge: errorFrom.has(n.id) },
      })),
    );
  }, [graph, marks, steps, selected, doc.edges]);

  const edges: Edge[] = useMemo(
    () =>
      graph.edges.map((e) => {
        const port = e.data?.port ?? DEFAULT_PORT;
        const from = steps?.[e.source];
        const taken = from && from.status === 'succeeded' && (from.port ?? DEFAULT_PORT) === port;
        const isError = port === ERROR_PORT;
        return {
          ...e,
          animated: !!taken,
          style: isError ? { stroke: '#ef4444', strokeDasharray: '4 3' } : taken ? { stroke: '#10b981', strokeWidth: 2 } : undefined,
          labelStyle: { fontSize: 11, fontWeight: 500 },
          labelBgPadding: [4, 2] as [number, number],
          labelBgBorderRadius: 4,
        };
      }),
    [graph.edges, steps],
  );
  const [edgeSelection, setEdgeSelection] = useState<string[]>([]);
  const shownEdges = useMemo(() => edges.map((e) => ({ ...e, selected: edgeSelection.includes(e.id) })), [edges, edgeSelection]);

  const nodesRef = useRef(nodes);
  nodesRef.current = nodes;
  const onNodesChange = useCallback((changes: NodeChange<CanvasNode>[]) => {
    // Removal goes through onDelete (document edit); the rest is local view state. The
    // selection lives in the editor store: only user-made select changes reach it, so the
    // store and the canvas cannot echo each other.
    const kept = changes.filter((c) => c.type !== 'remove');
    const next = applyNodeChanges(kept, nodesRef.current);
    nodesRef.current = next;
    setNodes(next);
    if (kept.some((c) => c.type === 'select')) useEditor.getState().select(next.filter((n) => n.selected).map((n) => n.id));
  }, []);

  const onEdgesChange = useCallback((changes: EdgeChange[]) => {
    for (const c of changes) {
      if (c.type === 'select') setEdgeSelection((sel) => (c.selected ? [...new Set([...sel, c.id])] : sel.filter((id) => id !== c.id)));
    }
  }, []);

  const onNodeDragStop = useCallback(() => {
    const s = useEditor.getState();
    const positions = new Map(flow.getNodes().map((n) => [n.id, n.position]));
    let moved = false;
    const next = {
      ...s.doc,
      nodes: s.doc.nodes.map((n) => {
        const p = positions.get(n.id);
        if (!p) return n;
        const rounded = { x: Math.round(p.x), y: Math.round(p.y) };
        if (n.position && n.position.x === rounded.x && n.position.y === rounded.y) return n;
        moved = true;
        return { ...n, position: rounded };
      }),
    };
    if (moved) s.setDoc(next);
  }, [flow]);

  const onConnect = useCallback((c: Connection) => {
    if (!c.source || !c.target) return;
    const s = useEditor.getState();
    s.setDoc(connect(s.doc, { from: c.source, port: c.sourceHandle ?? DEFAULT_PORT, to: c.target }));
  }, []);

  const onDelete = useCallback(({ nodes: ns, edges: es }: { nodes: CanvasNode[]; edges: Edge[] }) => {
    const s = useEditor.getState();
    let doc = s.doc;
    if (es.length) doc = removeEdges(doc, es.map((e) => e.id));
    if (ns.length) doc = removeNodes(doc, ns.map((n) => n.id));
    if (doc !== s.doc) {
      s.setDoc(doc);
      s.select([]);
    }
    setEdgeSelection([]);
  }, []);

  const addAt = useCallback(
    (type: string, position: { x: number; y: number }) => {
      const s = useEditor.getState();
      const { doc, id } = addNode(s.doc, type, position, catalog.get(type));
      s.setDoc(doc);
      s.select([id]);
    },
    [catalog],
  );

  const onDrop = useCallback(
    (e: DragEvent) => {
      const type = e.dataTransfer.getData(DND_TYPE);
      if (!type) return;
      e.preventDefault();
      const p = flow.screenToFlowPosition({ x: e.clientX, y: e.clientY });
      addAt(type, { x: p.x - 104, y: p.y - 30 });
    },
    [flow, addAt],
  );

  // When panels open or close around the canvas, keep what was in its middle in the middle.
  useEffect(() => {
    const el = wrapper.current;
    if (!el) return;
    let last = { w: el.clientWidth, h: el.clientHeight };
    const observer = new ResizeObserver(() => {
      const now = { w: el.clientWidth, h: el.clientHeight };
      const vp = flow.getViewport();
      if (last.w && last.h) void flow.setViewport({ x: vp.x + (now.w - last.w) / 2, y: vp.y + (now.h - last.h) / 2, zoom: vp.zoom });
      last = now;
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, [flow]);

  useEffect(() => {
    if (!apiRef) return;
    apiRef.current = {
      fit: () => void flow.fitView({ padding: 0.12, maxZoom: 1.1, duration: 250 }),
      addAtCenter: (type) => {
        const s = useEditor.getState();
        const after = s.selected.length === 1 ? s.doc.nodes.find((n) => n.id === s.selected[0]) : undefined;
        if (after?.position) {
          // After the selected node: to its right, connected from its first port.
          const spot = freeSpot(s.doc.nodes, { x: after.position.x + 280, y: after.position.y });
          const { doc, id } = addNode(s.doc, type, spot, catalog.get(type));
          const port = docToGraph(s.doc, catalog).nodes.find((n) => n.id === after.id)?.data.ports[0] ?? DEFAULT_PORT;
          s.setDoc(connect(doc, { from: after.id, port, to: id }));
          s.select([id]);
          return;
        }
        const rect = wrapper.current?.getBoundingClientRect();
        const p = flow.screenToFlowPosition({ x: (rect?.left ?? 0) + (rect?.width ?? 600) / 2, y: (rect?.top ?? 0) + (rect?.height ?? 400) / 2 });
        addAt(type, freeSpot(s.doc.nodes, { x: p.x - 104, y: p.y - 30 }));
      },
    };
  }, [apiRef, flow, addAt, catalog]);

  // Copy, paste, undo, redo, select all: only when the canvas has the focus.
  const onKeyDown = useCallback((e: React.KeyboardEvent) => {
    if ((e.target as HTMLElement).closest('input, textarea, [contenteditable=true], select')) return;
    const mod = e.ctrlKey || e.metaKey;
    if (!mod) return;
    const s = useEditor.getState();
    const key = e.key.toLowerCase();
    if (key === 'c' && s.selected.length) {
      clipboard = copyNodes(s.doc, s.selected);
      e.preventDefault();
    } else if (key === 'x' && s.selected.length) {
      clipboard = copyNodes(s.doc, s.selected);
      s.setDoc(removeNodes(s.doc, s.selected));
      s.select([]);
      e.preventDefault();
    } else if (key === 'v' && clipboard?.nodes.length) {
      const { doc, ids } = pasteNodes(s.doc, clipboard);
      s.setDoc(doc);
      s.select(ids);
      clipboard = copyNodes(doc, ids);
      e.preventDefault();
    } else if (key === 'a') {
      s.select(s.doc.nodes.map((n) => n.id));
      e.preventDefault();
    }
  }, []);

  return (
    <div ref={wrapper} className="h-full w-full" onKeyDown={onKeyDown} onDragOver={(e) => { if (e.dataTransfer.types.includes(DND_TYPE)) { e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; } }} onDrop={onDrop} data-testid="canvas">
      <ReactFlow<CanvasNode>
        nodes={nodes}
        edges={shownEdges}
        nodeTypes={nodeTypes}
        onNodesChange={onNodesChange}
        onEdgesChange={onEdgesChange}
        onNodeDragStop={onNodeDragStop}
        onConnect={onConnect}
        onDelete={onDelete}
        deleteKeyCode={readOnly ? null : ['Backspace', 'Delete']}
        multiSelectionKeyCode={['Shift', 'Meta', 'Control']}
        selectionKeyCode="Shift"
        nodesConnectable={!readOnly}
        nodesDraggable={!readOnly}
        colorMode={theme}
        fitView
        fitViewOptions={{ padding: 0.12, maxZoom: 1.1 }}
        minZoom={0.1}
        maxZoom={2}
        onlyRenderVisibleElements
        proOptions={{ hideAttribution: true }}
        isValidConnection={(c) => c.source !== c.target && !(doc.edges ?? []).some((e) => edgeId(e) === edgeId({ from: c.source!, port: c.sourceHandle ?? DEFAULT_PORT, to: c.target! }))}
      >
        <Background variant={BackgroundVariant.Dots} gap={20} size={1.2} color={theme === 'dark' ? '#3f3f46' : '#d4d4d8'} />
        <Controls showInteractive={false} position="bottom-left" />
        {nodes.length > 8 && <MiniMap pannable zoomable position="bottom-right" style={{ width: 150, height: 96 }} className="!rounded-md !border !border-zinc-200 dark:!border-zinc-800" maskColor={theme === 'dark' ? 'rgba(9,9,11,0.6)' : 'rgba(244,244,245,0.6)'} nodeColor={(n) => ((n.data as CanvasNode['data']).errors ? '#ef4444' : theme === 'dark' ? '#52525b' : '#a1a1aa')} />}
      </ReactFlow>
    </div>
  );
}

/** The first place at or below `at` where a new node does not overlap another. */
function freeSpot(nodes: Array<{ position?: { x: number; y: number } }>, at: { x: number; y: number }): { x: number; y: number } {
  const spot = { ...at };
  for (let i = 0; i < 50; i++) {
    const hit = nodes.some((n) => n.position && Math.abs(n.position.x - spot.x) < 220 && Math.abs(n.position.y - spot.y) < 90);
    if (!hit) return spot;
    spot.y += 100;
  }
  return spot;
}
