// Auto-layout: a left-to-right layered layout of the document's nodes (dagre).
import { Graph, layout } from '@dagrejs/dagre';
import type { FlowDoc } from '../lib/doc';

export const NODE_WIDTH = 208;
export const NODE_HEIGHT = 72;

/** The document with every node placed; `onlyMissing` keeps nodes that have a position. */
export function autoLayout(doc: FlowDoc, onlyMissing = false): FlowDoc {
  if (onlyMissing && doc.nodes.every((n) => n.position)) return doc;
  const g = new Graph();
  g.setGraph({ rankdir: 'LR', nodesep: 40, ranksep: 70, marginx: 40, marginy: 40 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of doc.nodes) g.setNode(n.id, { width: NODE_WIDTH, height: NODE_HEIGHT + 16 * Math.max(0, portCountGuess(doc, n.id) - 1) });
  for (const e of doc.edges ?? []) if (g.hasNode(e.from) && g.hasNode(e.to)) g.setEdge(e.from, e.to);
  layout(g);
  return {
    ...doc,
    nodes: doc.nodes.map((n) => {
      if (onlyMissing && n.position) return n;
      const p = g.node(n.id) as { x: number; y: number; width: number; height: number };
      return { ...n, position: { x: Math.round(p.x - p.width / 2), y: Math.round(p.y - p.height / 2) } };
    }),
  };
}

function portCountGuess(doc: FlowDoc, id: string): number {
  return new Set((doc.edges ?? []).filter((e) => e.from === id).map((e) => e.port ?? 'out')).size || 1;
}
