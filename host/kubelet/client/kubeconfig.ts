/**
 * A kubeconfig file, read without @kubernetes/client-node (whose load costs ~70 MiB of RSS and a
 * second of start-up): the current context's cluster (server, CA, `insecure-skip-tls-verify`,
 * `tls-server-name`) and user (client certificate + key as files or data, a bearer token or
 * `tokenFile`). Relative file names are resolved against the kubeconfig's folder, as kubectl does.
 * `exec` and `auth-provider` credentials are not supported: using them is an error naming the user.
 *
 * `connection()` re-reads the credential files when they changed (mtime), so a rotated client
 * certificate (`kubelet-client-current.pem` re-pointed) is used from the next request on.
 *
 * API: `loadKubeconfig(path)` / `parseKubeconfig(text, path?)` → `Kubeconfig`.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import { CocoletError, ErrorCode } from '../../../shared/errors/errors.js';

export interface KubeconfigCluster {
  server: string;
  caFile?: string;
  caData?: string;
  insecureSkipTlsVerify?: boolean;
  tlsServerName?: string;
}

export interface KubeconfigUser {
  name: string;
  token?: string;
  tokenFile?: string;
  certFile?: string;
  certData?: string;
  keyFile?: string;
  keyData?: string;
  /** Set when the user has `exec` or `auth-provider` credentials (not supported). */
  plugin?: 'exec' | 'auth-provider';
}

/** What one request needs: the server, TLS material and headers (a bearer token). */
export interface Connection {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
  servername?: string;
  headers: Record<string, string>;
}

type Named<T> = { name?: unknown } & T;
type Obj = Record<string, unknown>;

const str = (o: Obj | undefined, k: string): string | undefined => (typeof o?.[k] === 'string' && o[k] !== '' ? (o[k] as string) : undefined);

export class Kubeconfig {
  private cache = new Map<string, { mtimeMs: number; data: Buffer }>();

  constructor(
    readonly cluster: KubeconfigCluster,
    readonly user: KubeconfigUser,
    /** The file it came from (undefined when parsed from text). */
    readonly path?: string,
  ) {}

  /** A credential file's bytes, re-read only when its mtime changed. */
  private file(path: string): Buffer {
    const st = statSync(path);
    const hit = this.cache.get(path);
    if (hit && hit.mtimeMs === st.mtimeMs) return hit.data;
    const data = readFileSync(path);
    this.cache.set(path, { mtimeMs: st.mtimeMs, data });
    return data;
  }

  connection(): Connection {
    const c = this.cluster;
    const u = this.user;
    if (u.plugin) throw new CocoletError(ErrorCode.ConfigInvalid, `kubeconfig${this.path ? ` ${this.path}` : ''}: user ${u.name} uses ${u.plugin} credentials, which cocolet does not support (use a client certificate or a token)`);
    const conn: Connection = { server: c.server, rejectUnauthorized: !c.insecureSkipTlsVerify, headers: {} };
    if (c.caData) conn.ca = Buffer.from(c.caData, 'base64');
    else if (c.caFile) conn.ca = this.file(c.caFile);
    if (c.tlsServerName) conn.servername = c.tlsServerName;
    if (u.certData) conn.cert = Buffer.from(u.certData, 'base64');
    else if (u.certFile) conn.cert = this.file(u.certFile);
    if (u.keyData) conn.key = Buffer.from(u.keyData, 'base64');
    else if (u.keyFile) conn.key = this.file(u.keyFile);
    const token = u.token ?? (u.tokenFile ? this.file(u.tokenFile).toString('utf8').trim() : undefined);
    if (token) conn.headers.Authorization = `Bearer ${token}`;
    return conn;
  }
}

function pick<T extends Obj>(list: unknown, name: string | undefined, what: string, where: string): T {
  const items = Array.isArray(list) ? (list as Named<Obj>[]) : [];
  const it = items.find((x) => x?.name === name);
  const inner = it?.[what];
  if (!it || !inner || typeof inner !== 'object') throw new CocoletError(ErrorCode.ConfigInvalid, `kubeconfig${where}: ${what} ${name ?? '(none)'} of the current context not found`);
  return inner as T;
}

function parseYaml(text: string, path?: string): unknown {
  try {
    return parse(text);
  } catch (e) {
    throw new CocoletError(ErrorCode.ConfigInvalid, `kubeconfig${path ? ` ${path}` : ''}: not YAML: ${(e as Error).message}`);
  }
}

export function parseKubeconfig(text: string, path?: string): Kubeconfig {
  return fromDocument(parseYaml(text, path), path);
}

/** A Kubeconfig from its parsed document (only read: a cached document is shared). */
function fromDocument(parsed: unknown, path?: string): Kubeconfig {
  const where = path ? ` ${path}` : '';
  const doc = parsed as Obj;
  if (!doc || typeof doc !== 'object') throw new CocoletError(ErrorCode.ConfigInvalid, `kubeconfig${where}: not a mapping`);
  const ctxName = str(doc, 'current-context');
  if (!ctxName) throw new CocoletError(ErrorCode.ConfigInvalid, `kubeconfig${where}: no current-context`);
  const ctx = pick<Obj>(doc.contexts, ctxName, 'context', where);
  const clusterName = str(ctx, 'cluster');
  const userName = str(ctx, 'user');
  const cl = pick<Obj>(doc.clusters, clusterName, 'cluster', where);
  const us: Obj = userName ? pick<Obj>(doc.users, userName, 'user', where) : {};
  const server = str(cl, 'server');
  if (!server) throw new CocoletError(ErrorCode.ConfigInvalid, `kubeconfig${where}: cluster ${clusterName} has no server`);
  const base = path ? dirname(resolve(path)) : process.cwd();
  const abs = (p: string | undefined): string | undefined => (p === undefined ? undefined : isAbsolute(p) ? p : resolve(base, p));
  const cluster: KubeconfigCluster = { server: server.replace(/\/+$/, '') };
  const set = <T extends object, K extends keyof T>(o: T, k: K, v: T[K] | undefined): void => {
    if (v !== undefined) o[k] = v;
  };
  set(cluster, 'caFile', abs(str(cl, 'certificate-authority')));
  set(cluster, 'caData', str(cl, 'certificate-authority-data'));
  set(cluster, 'tlsServerName', str(cl, 'tls-server-name'));
  if (cl['insecure-skip-tls-verify'] === true) cluster.insecureSkipTlsVerify = true;
  const user: KubeconfigUser = { name: userName ?? '(none)' };
  set(user, 'token', str(us, 'token'));
  set(user, 'tokenFile', abs(str(us, 'tokenFile')));
  set(user, 'certFile', abs(str(us, 'client-certificate')));
  set(user, 'certData', str(us, 'client-certificate-data'));
  set(user, 'keyFile', abs(str(us, 'client-key')));
  set(user, 'keyData', str(us, 'client-key-data'));
  if (us.exec) user.plugin = 'exec';
  else if (us['auth-provider']) user.plugin = 'auth-provider';
  return new Kubeconfig(cluster, user, path);
}

/** The last YAML document parsed per kubeconfig file, reused while its text is the same. */
const parsedFiles = new Map<string, { text: string; doc: unknown }>();

/**
 * Reads and parses a kubeconfig file. The kubelet loads the same file several times as it starts (the
 * HTTPS API's CA, the API client, the Node); the YAML is parsed again only when the text changed.
 */
export function loadKubeconfig(path: string): Kubeconfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CocoletError(ErrorCode.ConfigInvalid, `kubeconfig ${path}: ${(e as Error).message}`);
  }
  const key = resolve(path);
  const hit = parsedFiles.get(key);
  if (hit?.text === text) return fromDocument(hit.doc, path);
  const doc = parseYaml(text, path);
  parsedFiles.set(key, { text, doc });
  return fromDocument(doc, path);
}
