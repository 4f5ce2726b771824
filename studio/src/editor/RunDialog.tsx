// The run dialog: an input form generated from the flow's `inputs` schema (or raw JSON), then
// `POST /flows/{id}/execute`; the live run opens in the editor's run panel.
import { useMemo, useState } from 'react';
import Form from '@rjsf/core';
import validator from '@rjsf/validator-ajv8';
import type { RJSFSchema } from '@rjsf/utils';
import { ApiError, api, errorMessage } from '../api/client';
import { Dialog, ErrorBox, Spinner } from '../components/ui';
import { useEditor } from './store';

export default function RunDialog({ onClose, onStarted }: { onClose: () => void; onStarted: (runId: string) => void }) {
  const doc = useEditor((s) => s.doc);
  const flowId = useEditor((s) => s.flowId);
  const schema = useMemo(() => {
    const inputs = structuredClone((doc.inputs ?? { type: 'object', properties: {} }) as Record<string, unknown>);
    delete inputs.$schema;
    return inputs as RJSFSchema;
  }, [doc.inputs]);
  const hasFields = Object.keys((schema.properties as object) ?? {}).length > 0;
  const [mode, setMode] = useState<'form' | 'json'>(hasFields ? 'form' : 'json');
  const [data, setData] = useState<Record<string, unknown>>(() => {
    try {
      return JSON.parse(localStorage.getItem(`aion.input.${flowId}`) ?? '{}');
    } catch {
      return {};
    }
  });
  const [json, setJson] = useState(() => JSON.stringify(data, null, 2));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const run = async () => {
    let input: unknown = data;
    if (mode === 'json') {
      try {
        input = json.trim() ? JSON.parse(json) : {};
      } catch (e) {
        setError(`The input is not JSON: ${errorMessage(e)}`);
        return;
      }
    }
    setBusy(true);
    setError(null);
    try {
      localStorage.setItem(`aion.input.${flowId}`, JSON.stringify(input));
      const out = await api.execute(flowId, input);
      onStarted(out.id);
    } catch (e) {
      setError(e instanceof ApiError && e.status === 422 ? `The input does not fit the flow's inputs: ${errorMessage(e)}` : errorMessage(e));
      setBusy(false);
    }
  };

  return (
    <Dialog
      title={`Run ${doc.name || flowId}`}
      description="Runs the latest saved version with this input."
      onClose={onClose}
      wide
      footer={
        <>
          <button className="btn" onClick={onClose}>Cancel</button>
          <button className="btn btn-primary" onClick={run} disabled={busy} data-testid="run-confirm">{busy && <Spinner className="size-4 text-white" />}Run</button>
        </>
      }
    >
      <div className="mb-3 flex gap-1 text-xs">
        {hasFields && <button className={`btn btn-sm ${mode === 'form' ? 'btn-primary' : ''}`} onClick={() => setMode('form')}>Form</button>}
        <button className={`btn btn-sm ${mode === 'json' ? 'btn-primary' : ''}`} onClick={() => { setJson(JSON.stringify(data, null, 2)); setMode('json'); }}>JSON</button>
      </div>
      {mode === 'form' ? (
        <Form className="rjsf" schema={schema} formData={data} validator={validator} noHtml5Validate showErrorList={false} uiSchema={{ 'ui:submitButtonOptions': { norender: true } }} onChange={(e) => setData(e.formData as Record<string, unknown>)} />
      ) : (
        <textarea aria-label="Input (JSON)" className="input h-40 py-2 font-mono text-xs" value={json} onChange={(e) => setJson(e.target.value)} spellCheck={false} />
      )}
      {!hasFields && <p className="muted mt-2 text-xs">This flow declares no inputs; send any JSON object or leave it empty.</p>}
      {error && <div className="mt-3"><ErrorBox title="Not started">{error}</ErrorBox></div>}
    </Dialog>
  );
}
