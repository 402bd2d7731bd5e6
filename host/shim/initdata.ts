/**
 * Which init-data document a sandbox gets: the pod's own (the `cc_init_data` annotation) wins;
 * otherwise the runtime handler's default (`hypervisor.default_init_data`, a file in the same
 * format the annotation carries: TOML, or base64 of gzip(TOML)); otherwise none, and the guest
 * applies its strict built-in policy. Only the host's choice of document is made here: the chosen
 * bytes reach the guest exactly as an annotation's would and are measured there the same way.
 *
 * What is logged is the source and the document's digest (its own `algorithm` over the decoded
 * TOML, the value the guest measures), never its content (it may hold secrets).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse } from 'smol-toml';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';
import { gunzipSync } from 'node:zlib';

/** containerd 1.7+ names the runtime handler on the sandbox spec; 1.6 does not. */
export const RUNTIME_HANDLER_ANNOTATION = 'io.containerd.cri.runtime-handler';
const ALGORITHMS = ['sha256', 'sha384', 'sha512'];
/** A default init-data file larger than this is refused (the guest's own bound is 4 MiB). */
const MAX_FILE_BYTES = 4 * 1024 * 1024;

export type InitDataSource = 'annotation' | 'handler-default' | 'built-in';

export interface InitDataChoice {
  /** The document in its transport form (as an annotation carries it); undefined: none (built-in policy). */
  initData?: string;
  source: InitDataSource;
  /** The default file, for `handler-default`. */
  path?: string;
  /** `<algorithm>:<hex>` of the decoded TOML; undefined when there is none or it cannot be read here. */
  digest?: string;
}

/**
 * Init-data as Kata carries it in the annotation: base64 of gzip(TOML) (or of the TOML), or plain
 * TOML. Only that transport encoding is undone; the document's bytes pass to the VM unchanged.
 */
export function decodeInitData(annotation: string): Uint8Array {
  if (/^\s*(version|algorithm|\[data\]|#)/.test(annotation)) return Buffer.from(annotation, 'utf8');
  if (!/^[A-Za-z0-9+/=\s]+$/.test(annotation)) throw new CocoletError(ErrorCode.InvalidArgument, 'init-data annotation is neither TOML nor base64');
  const raw = Buffer.from(annotation.replace(/\s+/g, ''), 'base64');
  if (raw.length < 2 || raw[0] !== 0x1f || raw[1] !== 0x8b) return raw;
  try {
    return gunzipSync(raw, { maxOutputLength: 1 << 20 });
  } catch (e) {
    throw new CocoletError(ErrorCode.InvalidArgument, `init-data annotation: gzip payload unreadable: ${(e as Error).message}`, { cause: e });
  }
}

/** `<algorithm>:<hex>` of a decoded init-data document; throws a plain Error naming what is wrong. */
export function initDataDigest(transport: string): string {
  const toml = decodeInitData(transport);
  let doc: Record<string, unknown>;
  try {
    doc = parse(Buffer.from(toml).toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`not TOML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (typeof doc.version !== 'string') throw new Error('no "version" string');
  const alg = doc.algorithm;
  if (typeof alg !== 'string' || !ALGORITHMS.includes(alg)) throw new Error(`"algorithm" must be one of ${ALGORITHMS.join(', ')} (got ${JSON.stringify(alg)})`);
  if (typeof doc.data !== 'object' || doc.data === null || Array.isArray(doc.data)) throw new Error('no [data] table');
  return `${alg}:${createHash(alg).update(toml).digest('hex')}`;
}

/** How an error names the handler: by name when containerd says it, else by its shim config file. */
export function handlerLabel(annotations: Record<string, string>, configPath: string | undefined): string {
  const name = annotations[RUNTIME_HANDLER_ANNOTATION];
  if (name) return `runtime handler ${JSON.stringify(name)}`;
  return configPath ? `the runtime handler configured by ${configPath}` : 'the runtime handler (built-in shim config)';
}

/**
 * Chooses the sandbox's init-data. `annotation` is the pod's value (already allowed by
 * enable_annotations); `defaultPath` the handler's default file ('' = none).
 */
export function chooseInitData(o: { annotation: string | undefined; defaultPath: string; handler: string }): InitDataChoice {
  if (o.annotation !== undefined) {
    let digest: string | undefined;
    try {
      digest = initDataDigest(o.annotation);
    } catch {
      // left to the hypervisor and the guest, which refuse it as before
    }
    return { initData: o.annotation, source: 'annotation', ...(digest ? { digest } : {}) };
  }
  if (!o.defaultPath) return { source: 'built-in' };
  const fail = (why: string, cause?: unknown): CocoletError =>
    new CocoletError(ErrorCode.ConfigInvalid, `${o.handler}: default init-data ${o.defaultPath} (hypervisor.default_init_data): ${why}`, { cause, context: { file: o.defaultPath } });
  let text: string;
  try {
    const buf = readFileSync(o.defaultPath);
    if (buf.length > MAX_FILE_BYTES) throw fail(`larger than ${MAX_FILE_BYTES} bytes`);
    text = buf.toString('utf8');
  } catch (e) {
    if (e instanceof CocoletError) throw e;
    throw fail(`cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, e);
  }
  let digest: string;
  try {
    digest = initDataDigest(text);
  } catch (e) {
    throw fail(`malformed: ${(e as Error).message}`, e);
  }
  return { initData: text, source: 'handler-default', path: o.defaultPath, digest };
}

/** Logs which init-data a sandbox got and its digest (never the document); `log` carries the `sandbox` key. */
export function logInitData(log: { info(o: object, msg: string): void }, s: { initDataSource: InitDataSource; initDataPath?: string; initDataDigest?: string }): void {
  log.info({ initData: { source: s.initDataSource, ...(s.initDataPath ? { path: s.initDataPath } : {}), ...(s.initDataDigest ? { digest: s.initDataDigest } : {}) } }, s.initDataSource === 'built-in' ? 'sandbox init-data: none (the guest applies its strict built-in policy)' : `sandbox init-data from the ${s.initDataSource === 'annotation' ? "pod's annotation" : "runtime handler's default"}`);
}
