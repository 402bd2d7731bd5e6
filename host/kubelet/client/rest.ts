/**
 * A small JSON client for the kubelet's API calls, on a kubeconfig's TLS settings and credentials
 * (kubeconfig.ts), with one keep-alive agent per client. Objects go over the wire exactly as
 * written and come back as the server's JSON (no typed model that would rename or drop fields,
 * such as `daemonEndpoints.kubeletEndpoint.Port`, or re-order a pod and change its hash).
 *
 * `watch(path, query, onEvent)` streams a watch (newline-delimited JSON events) until the server
 * ends it (`done` resolves), it fails (`done` rejects with the HTTP status as `code` when the
 * server answered one) or `abort()` (`done` resolves).
 *
 * A non-2xx answer is an `ApiError` with the HTTP code and the API's Status message (never the
 * request body, which may hold a key, a token or a certificate).
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import type { Kubeconfig } from './kubeconfig.js';

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get statusCode(): number {
    return this.code;
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof ApiError && e.code === 404;
export const isConflict = (e: unknown): boolean => e instanceof ApiError && e.code === 409;

export type PatchType = 'merge' | 'strategic' | 'json';
const PATCH_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
};

export interface WatchStream {
  /** Resolves when the watch ends cleanly or is aborted, rejects with the error that ended it. */
  done: Promise<void>;
  abort(): void;
}

export interface RestClient {
  readonly server: string;
  get<T>(path: string): Promise<T>;
  create<T>(path: string, body: unknown): Promise<T>;
  update<T>(path: string, body: unknown): Promise<T>;
  patch<T>(path: string, body: unknown, type?: PatchType): Promise<T>;
  delete<T>(path: string, body?: unknown): Promise<T>;
  /** A watch of `path` (`watch=1` is added to `query`); each event's type and object. */
  watch(path: string, query: Record<string, string | number | boolean>, onEvent: (type: string, obj: unknown) => void): WatchStream;
}

/** The query string of `q` (with its `?`), or '' when empty. */
export function queryString(q: Record<string, string | number | boolean | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

function statusError(method: string, path: string, code: number, text: string): ApiError {
  let st: { message?: string; reason?: string } = {};
  try {
    st = (text ? JSON.parse(text) : {}) as typeof st;
  } catch {
    // not a Status object
  }
  return new ApiError(code, st.reason ?? '', `${method} ${path.split('?')[0]}: ${code} ${st.message ?? text.slice(0, 200)}`);
}

export function restClient(kc: Kubeconfig, timeoutMs = 30_000): RestClient {
  const server = kc.cluster.server;
  const https = new URL(server).protocol === 'https:';
  const agent = https ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true });

  /** Starts a request; the TLS material is read per request (a rotated certificate is used at once). */
  const open = (method: string, path: string, headers: Record<string, string>, timeout: number | undefined, onResponse: (res: IncomingMessage) => void, onError: (e: Error) => void): ReturnType<typeof httpRequest> => {
    const c = kc.connection();
    const opts: RequestOptions = { method, agent, headers: { Accept: 'application/json', ...c.headers, ...headers }, rejectUnauthorized: c.rejectUnauthorized };
    if (timeout) opts.timeout = timeout;
    if (c.ca) opts.ca = c.ca;
    if (c.cert) opts.cert = c.cert;
    if (c.key) opts.key = c.key;
    if (c.servername) opts.servername = c.servername;
    const req = (https ? httpsRequest : httpRequest)(new URL(server + path), opts, onResponse);
    req.on('error', onError);
    return req;
  };

  const call = async <T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = data ? { 'Content-Type': contentType, 'Content-Length': String(data.length) } : {};
    return new Promise<T>((resolve, reject) => {
      const req = open(
        method,
        path,
        headers,
        timeoutMs,
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => chunks.push(d));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const code = res.statusCode ?? 0;
            if (code < 200 || code >= 300) return reject(statusError(method, path, code, text));
            try {
              resolve((text ? JSON.parse(text) : undefined) as T);
            } catch (e) {
              reject(new Error(`${method} ${path.split('?')[0]}: answer is not JSON: ${(e as Error).message}`));
            }
          });
        },
        reject,
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path.split('?')[0]}: no answer after ${timeoutMs} ms`)));
      req.end(data);
    });
  };

  const watch = (path: string, query: Record<string, string | number | boolean>, onEvent: (type: string, obj: unknown) => void): WatchStream => {
    let aborted = false;
    let req: ReturnType<typeof httpRequest> | undefined;
    const done = new Promise<void>((resolve, reject) => {
      const fail = (e: Error): void => (aborted ? resolve() : reject(e));
      try {
        req = open(
          'GET',
          path + queryString({ ...query, watch: true }),
          {},
          undefined,
          (res) => {
            const code = res.statusCode ?? 0;
            res.setEncoding('utf8');
            if (code !== 200) {
              let text = '';
              res.on('data', (d: string) => (text += d.length + text.length < 64 * 1024 ? d : ''));
              res.on('end', () => fail(statusError('WATCH', path, code, text)));
              res.on('error', fail);
              return;
            }
            let buf = '';
            res.on('data', (d: string) => {
              buf += d;
              let nl: number;
              while ((nl = buf.indexOf('\n')) >= 0) {
                const line = buf.slice(0, nl);
                buf = buf.slice(nl + 1);
                if (!line.trim() || aborted) continue;
                let ev: { type?: string; object?: unknown };
                try {
                  ev = JSON.parse(line) as typeof ev;
                } catch (e) {
                  req?.destroy(new Error(`WATCH ${path}: event is not JSON: ${(e as Error).message}`));
                  return;
                }
                if (ev.type) onEvent(ev.type, ev.object);
              }
            });
            res.on('end', () => (res.complete || aborted ? resolve() : fail(new Error(`WATCH ${path}: connection closed mid-stream`))));
            res.on('error', fail);
            res.on('aborted', () => fail(new Error(`WATCH ${path}: connection aborted`)));
          },
          fail,
        );
        req.end();
      } catch (e) {
        reject(e as Error);
      }
    });
    return {
      done,
      abort: () => {
        aborted = true;
        req?.destroy();
      },
    };
  };

  return {
    server,
    get: (path) => call('GET', path),
    create: (path, body) => call('POST', path, body),
    update: (path, body) => call('PUT', path, body),
    patch: (path, body, type = 'merge') => call('PATCH', path, body, PATCH_TYPES[type]),
    delete: (path, body) => call('DELETE', path, body),
    watch,
  };
}
