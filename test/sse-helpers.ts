/** Reading server-sent event streams in tests: the whole stream until the server ends it. */
import http from 'node:http';

export interface SseEvent {
  readonly id: string | undefined;
  readonly event: string;
  readonly data: Record<string, unknown>;
}

/** Parses an event stream's text into its events (comments and `retry:` fields skipped). */
export function parseSse(text: string): SseEvent[] {
  return text.split('\n\n').flatMap((block) => {
    const field = (name: string): string | undefined => block.split('\n').find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
    const event = field('event');
    const data = field('data');
    return event !== undefined && data !== undefined ? [{ id: field('id'), event, data: JSON.parse(data) as Record<string, unknown> }] : [];
  });
}

/** GETs `url` and reads the response to its end: status, content type, and the events it held. */
export function readSse(url: string, headers: Record<string, string> = {}): Promise<{ status: number; contentType: string; events: SseEvent[]; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), events: parseSse(body), body }));
    });
    req.on('error', reject);
  });
}

/** GETs `url` and calls `onEvent` with each event as it arrives; resolves with all of them when the server ends the stream. */
export function followSse(url: string, headers: Record<string, string>, onEvent: (e: SseEvent) => void): Promise<SseEvent[]> {
  return new Promise((resolve, reject) => {
    const seen: SseEvent[] = [];
    const req = http.get(url, { headers }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`event stream answered ${res.statusCode}`));
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buffered += d;
        const cut = buffered.lastIndexOf('\n\n');
        if (cut < 0) return;
        for (const e of parseSse(buffered.slice(0, cut + 2))) {
          seen.push(e);
          onEvent(e);
        }
        buffered = buffered.slice(cut + 2);
      });
      res.on('end', () => resolve(seen));
    });
    req.on('error', reject);
  });
}
