// Server-Sent Events over fetch (EventSource cannot send the workspace header): parses the
// stream, remembers the last event id, and reconnects with `Last-Event-ID` after a drop, so
// a server that goes away mid-run is caught up with when it comes back.
import { apiHeaders } from './client';

export interface SseMessage {
  event: string;
  data: string;
  id?: string;
}

export type StreamState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface StreamOptions {
  onMessage: (msg: SseMessage) => void;
  onState?: (state: StreamState, detail?: string) => void;
  /** Stop for good after this event (e.g. `run_finished`). */
  until?: (msg: SseMessage) => boolean;
  lastEventId?: string;
}

/** Splits SSE text into messages; returns the unparsed rest. Exported for tests. */
export function parseSse(buffer: string, emit: (m: SseMessage) => void): string {
  const normalized = buffer.replace(/\r\n?/g, '\n');
  const blocks = normalized.split('\n\n');
  const rest = blocks.pop() ?? '';
  for (const block of blocks) {
    let event = 'message';
    const data: string[] = [];
    let id: string | undefined;
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') id = value;
    }
    if (data.length || id !== undefined) emit({ event, data: data.join('\n'), id });
  }
  return rest;
}

/** Opens a stream; call the returned function to close it. */
export function openStream(path: string, opts: StreamOptions): () => void {
  let closed = false;
  let lastId = opts.lastEventId;
  let controller: AbortController | null = null;
  let attempt = 0;

  const run = async () => {
    while (!closed) {
      opts.onState?.(attempt === 0 ? 'connecting' : 'reconnecting');
      controller = new AbortController();
      try {
        const headers = apiHeaders('GET', { accept: 'text/event-stream' });
        if (lastId) headers['last-event-id'] = lastId;
        const response = await fetch(`/api/v1${path}`, { headers, credentials: 'same-origin', signal: controller.signal });
        if (!response.ok || !response.body) {
          if (response.status === 401 || response.status === 404 || response.status === 403) {
            opts.onState?.('closed', `the server answered ${response.status}`);
            return;
          }
          throw new Error(`HTTP ${response.status}`);
        }
        attempt = 0;
        opts.onState?.('open');
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        let done = false;
        while (!closed && !done) {
          const chunk = await reader.read();
          if (chunk.done) break;
          buffer = parseSse(buffer + chunk.value, (msg) => {
            if (msg.id) lastId = msg.id;
            if (done) return;
            opts.onMessage(msg);
            if (opts.until?.(msg)) done = true;
          });
        }
        if (done) {
          closed = true;
          controller.abort();
          opts.onState?.('closed');
          return;
        }
      } catch (e) {
        if (closed) return;
        void e;
      }
      if (closed) return;
      attempt++;
      opts.onState?.('reconnecting');
      await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** Math.min(attempt, 4), 5000)));
    }
  };
  void run();
  return () => {
    closed = true;
    controller?.abort();
  };
}
