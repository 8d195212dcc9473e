/** One Server-Sent Event as read off the wire. */
export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/**
 * Reads an SSE response with fetch, frame by frame (comments are returned as event ":" so that
 * heartbeats can be seen). Stops at the end of the stream or when `signal` aborts.
 */
export async function* readSse(url: string, init: RequestInit = {}): AsyncGenerator<SseEvent> {
  const res = await fetch(url, { ...init, headers: { accept: 'text/event-stream', ...(init.headers as Record<string, string>) } });
  if (!res.ok || !res.body) throw new Error(`SSE request failed: ${res.status} ${await res.text()}`);
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(bytes, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const frame: SseEvent = { event: 'message', data: '' };
        const data: string[] = [];
        let comment = false;
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) {
            comment = true;
            data.push(line.slice(1).trim());
            continue;
          }
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'id') frame.id = value;
          else if (field === 'event') frame.event = value;
          else if (field === 'data') data.push(value);
        }
        if (comment && frame.id === undefined && data.length > 0 && !block.includes('\ndata')) frame.event = ':';
        frame.data = data.join('\n');
        yield frame;
      }
    }
  } finally {
    await res.body.cancel().catch(() => {});
  }
}
