/**
 * A small JSON client for the few API calls of the node lifecycle (Node, Lease, CSR), on the
 * kubeconfig's TLS settings and credentials (client certificate or token; @kubernetes/client-node
 * applies them). Objects go over the wire exactly as written (the generated typed clients would
 * rename or drop fields such as `daemonEndpoints.kubeletEndpoint.Port`).
 *
 * A non-2xx answer is an `ApiError` with the HTTP code and the API's Status message (never the
 * request body, which may hold a key or a certificate).
 */
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
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

export interface RestClient {
  readonly server: string;
  get<T>(path: string): Promise<T>;
  create<T>(path: string, body: unknown): Promise<T>;
  update<T>(path: string, body: unknown): Promise<T>;
  patch<T>(path: string, body: unknown, type?: PatchType): Promise<T>;
}

export function restClient(kc: KubeConfig, timeoutMs = 30_000): RestClient {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const server = cluster.server.replace(/\/+$/, '');
  const call = async <T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> => {
    const opts: Parameters<typeof request>[1] = { method, headers: { Accept: 'application/json' }, timeout: timeoutMs };
    await kc.applyToHTTPSOptions(opts);
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    if (data) opts.headers = { ...opts.headers, 'Content-Type': contentType, 'Content-Length': String(data.length) };
    return new Promise<T>((resolve, reject) => {
      const url = new URL(server + path);
      const req = (url.protocol === 'http:' ? httpRequest : request)(url, opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const code = res.statusCode ?? 0;
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          if (code >= 200 && code < 300) return resolve(parsed as T);
          const st = (parsed ?? {}) as { message?: string; reason?: string };
          reject(new ApiError(code, st.reason ?? '', `${method} ${path}: ${code} ${st.message ?? text.slice(0, 200)}`));
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer after ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(data);
    });
  };
  return {
    server,
    get: (path) => call('GET', path),
    create: (path, body) => call('POST', path, body),
    update: (path, body) => call('PUT', path, body),
    patch: (path, body, type = 'merge') => call('PATCH', path, body, PATCH_TYPES[type]),
  };
}
