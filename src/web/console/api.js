// The console's only way to the service: the /v1 API, with the signed-in token. The token lives in this
// module's memory (never in storage or a cookie), so closing or reloading the tab signs out.

/** A problem+json answer (RFC 9457) as an Error: `code`, `status`, `detail` as the API gave them. */
export class ApiProblem extends Error {
  constructor(problem, status) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.code = problem.code;
    this.status = status;
    this.detail = problem.detail;
    this.problem = problem;
  }
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
export const isTerminal = (status) => TERMINAL.has(status);

async function problemOf(res) {
  try {
    return new ApiProblem(await res.json(), res.status);
  } catch {
    return new ApiProblem({ detail: `${res.status} ${res.statusText}` }, res.status);
  }
}

/** What the token says about its holder, read (not verified: the API verifies it on every call) for display. */
export function tokenClaims(token) {
  const part = token.split('.')[1];
  if (!part) throw new Error('this is not a JWT (three dot-separated parts)');
  const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
  const claims = JSON.parse(json);
  if (typeof claims.sub !== 'string' || typeof claims.role !== 'string') throw new Error('the token carries no sub and role');
  return claims;
}

export function createApi(token) {
  async function call(method, path, { query, json, form } = {}) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
    const url = path + (params.size ? `?${params}` : '');
    const headers = { Authorization: `Bearer ${token}` };
    let body;
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (form) body = form;
    const res = await fetch(url, { method, headers, body, cache: 'no-store' });
    if (!res.ok) throw await problemOf(res);
    return res;
  }
  const json = async (method, path, opts) => (await call(method, path, opts)).json();

  /**
   * Follows a job's events. EventSource cannot send the token, so each connection trades it for a
   * one-time ticket; when a connection breaks (the ticket is then spent, so EventSource's own retry
   * cannot work), a new one is opened with a new ticket and `lastEventId`, and the server replays what
   * was missed. Returns a function that stops following.
   */
  function follow(jobId, { onStatus = () => {}, onProgress = () => {}, onEnd = () => {}, onError = () => {} }) {
    let source;
    let lastId;
    let stopped = false;
    let failures = 0;
    const stop = () => {
      stopped = true;
      if (source) source.close();
    };
    const finish = (job) => {
      stop();
      onEnd(job);
    };
    const open = async () => {
      const { ticket } = await json('POST', '/v1/events/tickets');
      if (stopped) return;
      const q = new URLSearchParams({ ticket });
      if (lastId !== undefined) q.set('lastEventId', lastId);
      source = new EventSource(`/v1/jobs/${encodeURIComponent(jobId)}/events?${q}`);
      const seen = (e) => {
        if (e.lastEventId) lastId = e.lastEventId;
        failures = 0;
      };
      source.addEventListener('status', (e) => {
        seen(e);
        const job = JSON.parse(e.data);
        onStatus(job);
        if (isTerminal(job.status)) finish(job);
      });
      source.addEventListener('progress', (e) => {
        seen(e);
        onProgress(JSON.parse(e.data));
      });
      source.addEventListener('error', async () => {
        source.close();
        if (stopped) return;
        try {
          // Ended while we were away? Then the record says so, and there is nothing to reconnect to.
          const job = await json('GET', `/v1/jobs/${encodeURIComponent(jobId)}`);
          if (isTerminal(job.status)) return finish(job);
          if (++failures > 5) throw new Error('the event stream keeps breaking; reload the page to follow the job again');
          setTimeout(() => open().catch(onError), 500 * failures);
        } catch (err) {
          stop();
          onError(err);
        }
      });
    };
    open().catch((err) => {
      stop();
      onError(err);
    });
    return stop;
  }

  return {
    json,
    /** A file from the API, with the name the server gave it. */
    async download(path, query) {
      const res = await call('GET', path, { query });
      const disposition = res.headers.get('Content-Disposition') || '';
      const name = /filename="?([^";]+)"?/.exec(disposition)?.[1] || 'download';
      return { name, blob: await res.blob(), headers: res.headers };
    },
    follow,
  };
}
