// The editor's state: the document (source of truth), its text in the code view, undo/redo,
// the selection, the compiler's diagnostics, the saved version and the draft kept in
// localStorage so a reload, a lost session or a conflict never loses work.
import { create } from 'zustand';
import type { Diagnostic } from '../api/client';
import { parseDocument, printDocument, type FlowDoc, type Format, type ParseError } from '../lib/doc';

const HISTORY = 100;

export interface Conflict {
  theirVersion?: number;
}

export interface EditorState {
  flowId: string;
  doc: FlowDoc;
  format: Format;
  /** The code view's text; differs from the printed doc while it is being edited. */
  text: string;
  /** The code view's text does not parse: the canvas shows the last good document. */
  textError: ParseError | null;
  version: number;
  /** The printed document of the saved version, to tell unsaved changes. */
  savedText: string;
  past: FlowDoc[];
  future: FlowDoc[];
  selected: string[];
  /** A field to open in the side panel (from a diagnostic): the pointer inside the node. */
  focus: { nodeId: string; field?: string; nonce: number } | null;
  diagnostics: Diagnostic[];
  compiling: boolean;
  conflict: Conflict | null;
  runId: string | null;

  load(flowId: string, doc: FlowDoc, format: Format, version: number, savedText: string): void;
  /** Applies an edit; `record: false` for edits that should not be their own undo step. */
  setDoc(doc: FlowDoc, opts?: { record?: boolean; coalesce?: string }): void;
  setText(text: string): void;
  setFormat(format: Format): void;
  undo(): void;
  redo(): void;
  select(ids: string[]): void;
  focusField(nodeId: string, field?: string): void;
  setDiagnostics(d: Diagnostic[], compiling?: boolean): void;
  markSaved(version: number): void;
  setConflict(c: Conflict | null): void;
  setRunId(id: string | null): void;
  rebase(version: number): void;
}

export const draftKey = (flowId: string) => `aion.draft.${flowId}`;

export interface Draft {
  text: string;
  format: Format;
  baseVersion: number;
  savedMs: number;
}

function saveDraft(s: Pick<EditorState, 'flowId' | 'text' | 'format' | 'version' | 'savedText'>) {
  try {
    if (s.text === s.savedText) localStorage.removeItem(draftKey(s.flowId));
    else localStorage.setItem(draftKey(s.flowId), JSON.stringify({ text: s.text, format: s.format, baseVersion: s.version, savedMs: Date.now() } satisfies Draft));
  } catch {
    // A full localStorage only loses the draft copy, never the editor's state.
  }
}

let draftTimer: ReturnType<typeof setTimeout> | undefined;
let lastEdit: { key?: string; at: number } = { at: 0 };
function scheduleDraft(get: () => EditorState) {
  clearTimeout(draftTimer);
  draftTimer = setTimeout(() => saveDraft(get()), 400);
}

export const useEditor = create<EditorState>((set, get) => ({
  flowId: '',
  doc: { aion: 1, id: '', nodes: [] },
  format: 'yaml',
  text: '',
  textError: null,
  version: 0,
  savedText: '',
  past: [],
  future: [],
  selected: [],
  focus: null,
  diagnostics: [],
  compiling: false,
  conflict: null,
  runId: null,

  load(flowId, doc, format, version, savedText) {
    set({ flowId, doc, format, version, savedText, text: printDocument(doc, format), textError: null, past: [], future: [], selected: [], focus: null, diagnostics: [], conflict: null, runId: null });
  },
  setDoc(doc, opts = {}) {
    const s = get();
    // Typing in one field makes one undo step, not one per key.
    const now = Date.now();
    const merge = !!opts.coalesce && opts.coalesce === lastEdit.key && now - lastEdit.at < 1500 && s.past.length > 0;
    lastEdit = { key: opts.coalesce, at: now };
    const record = (opts.record ?? true) && !merge;
    set({
      doc,
      text: printDocument(doc, s.format),
      textError: null,
      past: record ? [...s.past, s.doc].slice(-HISTORY) : s.past,
      future: record || merge ? [] : s.future,
    });
    scheduleDraft(get);
  },
  setText(text) {
    const s = get();
    const parsed = parseDocument(text, s.format);
    if (parsed.ok) {
      set({ text, textError: null, doc: parsed.doc, past: [...s.past, s.doc].slice(-HISTORY), future: [] });
    } else {
      set({ text, textError: parsed.error });
    }
    scheduleDraft(get);
  },
  setFormat(format) {
    const s = get();
    if (s.textError) return;
    set({ format, text: printDocument(s.doc, format), savedText: printDocument(parseOr(s.savedText, s.format, s.doc), format) });
  },
  undo() {
    const s = get();
    const prev = s.past.at(-1);
    if (!prev) return;
    set({ doc: prev, past: s.past.slice(0, -1), future: [s.doc, ...s.future], text: printDocument(prev, s.format), textError: null });
    scheduleDraft(get);
  },
  redo() {
    const s = get();
    const next = s.future[0];
    if (!next) return;
    set({ doc: next, future: s.future.slice(1), past: [...s.past, s.doc], text: printDocument(next, s.format), textError: null });
    scheduleDraft(get);
  },
  select(ids) {
    const cur = get().selected;
    if (cur.length === ids.length && cur.every((id, i) => id === ids[i])) return;
    set({ selected: ids });
  },
  focusField(nodeId, field) {
    set({ selected: [nodeId], focus: { nodeId, field, nonce: Date.now() } });
  },
  setDiagnostics(diagnostics, compiling = false) {
    set({ diagnostics, compiling });
  },
  markSaved(version) {
    const s = get();
    set({ version, savedText: s.text, conflict: null });
    saveDraft(get());
  },
  setConflict(conflict) {
    set({ conflict });
  },
  setRunId(runId) {
    set({ runId });
  },
  /** Keeps the local document but bases the next save on `version` (overwrite after a conflict). */
  rebase(version) {
    set({ version, conflict: null });
    scheduleDraft(get);
  },
}));

function parseOr(text: string, format: Format, fallback: FlowDoc): FlowDoc {
  const p = parseDocument(text, format);
  return p.ok ? p.doc : fallback;
}

export const isDirty = (s: EditorState) => s.text !== s.savedText;
