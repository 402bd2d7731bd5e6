/**
 * HTTP manifest source (`staticPodURL`, polled every `httpCheckFrequency`): the body is one Pod
 * or a v1 PodList, YAML or JSON. A failed fetch keeps the previous snapshot (it is not reported
 * as "no pods"); a body that does not decode is reported and ignored.
 *
 * API: `new HttpSource({ url, headers, nodeName, periodMs, onSnapshot, onError }).start()`;
 * `await poll()`; `stop()`.
 */
import { stringify } from 'yaml';
import { parse as parseYaml } from 'yaml';
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';
import { CocoletError, ErrorCode, toCocoletError } from '../../../shared/errors/errors.js';
import type { Pod } from '../api/types.js';
import { decodeStaticPod } from '../config/manifest.js';

export interface HttpSourceOptions {
  url: string;
  headers?: Record<string, string[]>;
  nodeName: string;
  periodMs: number;
  onSnapshot: (pods: Pod[]) => void;
  onError?: (url: string, err: CocoletError) => void;
  logger?: Logger;
  timeoutMs?: number;
}

export class HttpSource {
  private timer: NodeJS.Timeout | undefined;
  private lastBody: string | undefined;
  private readonly log: Logger;

  constructor(private readonly opts: HttpSourceOptions) {
    this.log = opts.logger ?? silentLogger();
  }

  start(): void {
    void this.poll();
    this.timer = setInterval(() => void this.poll(), this.opts.periodMs);
    this.timer.unref();
  }

  async poll(): Promise<void> {
    let body: string;
    try {
      const headers = new Headers();
      for (const [k, vs] of Object.entries(this.opts.headers ?? {})) for (const v of vs) headers.append(k, v);
      const res = await fetch(this.opts.url, { headers, signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000) });
      if (!res.ok) throw new CocoletError(ErrorCode.Unavailable, `manifest URL answered ${res.status}`, { context: { manifest: this.opts.url } });
      body = await res.text();
    } catch (e) {
      this.log.warn({ manifest: this.opts.url, err: e }, 'manifest URL unreachable; keeping the previous pods');
      return;
    }
    if (body === this.lastBody) return;
    try {
      const pods = decodeBody(body, this.opts.url, this.opts.nodeName);
      this.lastBody = body;
      this.opts.onSnapshot(pods);
    } catch (e) {
      const err = toCocoletError(e, ErrorCode.ManifestInvalid, { manifest: this.opts.url });
      this.log.warn({ manifest: this.opts.url, code: err.code, reason: err.message }, 'manifest URL body skipped');
      this.opts.onError?.(this.opts.url, err);
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/** One Pod or a PodList. Each list item is decoded (and validated) on its own text. */
export function decodeBody(body: string, url: string, nodeName: string): Pod[] {
  let obj: unknown;
  try {
    obj = parseYaml(body);
  } catch (e) {
    throw new CocoletError(ErrorCode.ManifestInvalid, `not YAML or JSON: ${(e as Error).message}`, { context: { manifest: url } });
  }
  if (obj && typeof obj === 'object' && (obj as { kind?: string }).kind === 'PodList') {
    const items = (obj as { items?: unknown[] }).items ?? [];
    return items.map((it, i) => decodeStaticPod(stringify(it), { source: 'http', origin: `${url}#${i}`, nodeName }));
  }
  return [decodeStaticPod(body, { source: 'http', origin: url, nodeName })];
}
