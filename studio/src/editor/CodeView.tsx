// The document as text (YAML or JSON), with CodeMirror: edits reach the canvas as soon as the
// text parses; a syntax error is shown at its line and the canvas keeps the last good
// document, so nothing typed is lost. Loaded on demand (its own chunk).
import { useMemo } from 'react';
import CodeMirror, { EditorView } from '@uiw/react-codemirror';
import { yaml } from '@codemirror/lang-yaml';
import { json } from '@codemirror/lang-json';
import { linter, lintGutter, type Diagnostic as CmDiagnostic } from '@codemirror/lint';
import { useEditor } from './store';
import { useTheme } from '../lib/theme';

function offsetOf(text: string, line?: number | null, column?: number | null): number {
  if (!line) return 0;
  let pos = 0;
  for (let l = 1; l < line; l++) {
    const next = text.indexOf('\n', pos);
    if (next < 0) return text.length;
    pos = next + 1;
  }
  return Math.min(pos + Math.max(0, (column ?? 1) - 1), text.length);
}

export default function CodeView() {
  const text = useEditor((s) => s.text);
  const format = useEditor((s) => s.format);
  const textError = useEditor((s) => s.textError);
  const diagnostics = useEditor((s) => s.diagnostics);
  const setText = useEditor((s) => s.setText);
  const [theme] = useTheme();

  const extensions = useMemo(() => {
    const lint = linter((view) => {
      const doc = view.state.doc.toString();
      const out: CmDiagnostic[] = [];
      const err = useEditor.getState().textError;
      if (err) {
        const from = offsetOf(doc, err.line, err.column);
        out.push({ from, to: Math.min(from + 1, doc.length), severity: 'error', message: err.message });
        return out;
      }
      for (const d of useEditor.getState().diagnostics) {
        if (!d.line) continue;
        const from = offsetOf(doc, d.line, d.column);
        const lineEnd = doc.indexOf('\n', from);
        out.push({ from, to: lineEnd < 0 ? doc.length : Math.max(lineEnd, from + 1), severity: d.severity === 'error' ? 'error' : 'warning', message: `${d.code}: ${d.message}${d.hint ? `\n${d.hint}` : ''}` });
      }
      return out;
    }, { delay: 300 });
    return [format === 'json' ? json() : yaml(), lint, lintGutter(), EditorView.lineWrapping];
  }, [format]);
  // Diagnostics arrive after the text changed; the linter re-reads them on its next pass.
  void diagnostics;

  return (
    <div className="flex h-full min-h-0 flex-col">
      {textError && (
        <div role="alert" data-testid="code-error" className="border-b border-red-200 bg-red-50 px-4 py-2 text-[13px] text-red-800 dark:border-red-900/60 dark:bg-red-950/50 dark:text-red-200">
          <span className="font-medium">Invalid {format.toUpperCase()}{textError.line ? ` at line ${textError.line}, column ${textError.column}` : ''}:</span> {textError.message}.{' '}
          <span className="opacity-80">The canvas shows the last valid document; your text is kept.</span>
        </div>
      )}
      <CodeMirror
        value={text}
        onChange={setText}
        theme={theme}
        extensions={extensions}
        height="100%"
        className="min-h-0 flex-1 overflow-hidden text-[12.5px] [&_.cm-editor]:h-full"
        basicSetup={{ foldGutter: true, highlightActiveLine: true, autocompletion: false }}
        aria-label="Flow document"
      />
    </div>
  );
}
