/**
 * The broker's persistent state: resources, the resource policy and the reference-value sets,
 * in one checksummed JSON file (`state.json`) replaced atomically (write a temp file, fsync,
 * rename, fsync the directory), so a crash leaves the old or the new state, never a mix. Memory
 * changes only after the file is written. A file that does not parse or whose checksum does not
 * match stops the broker with an error naming it; it is never overwritten. The token signing key
 * lives beside it (`token-key.pem`, mode 0600), so tokens outlive a restart.
 *
 * Resource values are stored in the clear (like trustee's LocalFs backend): protect the directory.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { parseReferenceValues, type ReferenceValues } from '../attest/reference-values.js';
import { parseResourcePolicyText, DEFAULT_POLICY, type ResourcePolicy } from '../attest/resource-policy.js';

export const STATE_FILE = 'state.json';
export const TOKEN_KEY_FILE = 'token-key.pem';
const STATE_VERSION = 1;

interface StateData {
  /** path -> base64 value */
  resources: Record<string, string>;
  /** The policy text as the admin gave it (JSON or a recognised Rego sample); absent = default. */
  resourcePolicy?: string;
  referenceValues: Record<string, ReferenceValues>;
}

interface StateFile {
  version: number;
  sha256: string;
  data: StateData;
}

export class StateCorruptError extends CocoletError {
  constructor(
    readonly file: string,
    why: string,
  ) {
    super(ErrorCode.CheckpointCorrupt, `broker state file ${file} is unusable (${why}); it was left untouched: restore it from a backup, or move it away to start with an empty state`, { context: { file } });
    this.name = 'StateCorruptError';
  }
}

function checksum(data: StateData): string {
  return createHash('sha256').update(JSON.stringify(data)).digest('hex');
}

/** Writes `content` to `path` atomically and durably. */
export function atomicWrite(path: string, content: string | Uint8Array, mode = 0o600): void {
  const dir = join(path, '..');
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    const buf = typeof content === 'string' ? Buffer.from(content) : content;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

export class BrokerState {
  private data: StateData;
  private policy: ResourcePolicy;
  readonly file: string;

  private constructor(
    readonly dir: string,
    data: StateData,
  ) {
    this.file = join(dir, STATE_FILE);
    this.data = data;
    this.policy = data.resourcePolicy === undefined ? DEFAULT_POLICY : parseResourcePolicyText(data.resourcePolicy);
  }

  /** Loads `<dir>/state.json` (an absent file is an empty state); throws StateCorruptError. */
  static load(dir: string): BrokerState {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const n of readdirSync(dir)) if (n.startsWith(`${STATE_FILE}.tmp-`)) rmSync(join(dir, n), { force: true }); // an interrupted write
    const file = join(dir, STATE_FILE);
    if (!existsSync(file)) return new BrokerState(dir, { resources: {}, referenceValues: {} });
    let parsed: StateFile;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8')) as StateFile;
    } catch (e) {
      throw new StateCorruptError(file, `not JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (typeof parsed !== 'object' || parsed === null || parsed.version !== STATE_VERSION) throw new StateCorruptError(file, `version ${String((parsed as { version?: unknown } | null)?.version)} is not ${STATE_VERSION}`);
    const d = parsed.data;
    if (typeof d !== 'object' || d === null || typeof d.resources !== 'object' || typeof d.referenceValues !== 'object') throw new StateCorruptError(file, 'data is missing resources or referenceValues');
    if (checksum(d) !== parsed.sha256) throw new StateCorruptError(file, 'checksum mismatch');
    try {
      for (const rv of Object.values(d.referenceValues)) parseReferenceValues(rv);
      return new BrokerState(dir, d);
    } catch (e) {
      throw new StateCorruptError(file, `invalid content: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private commit(next: StateData): void {
    const body: StateFile = { version: STATE_VERSION, sha256: checksum(next), data: next };
    atomicWrite(this.file, JSON.stringify(body, null, 1) + '\n');
    this.data = next;
  }

  resource(path: string): Uint8Array | undefined {
    const v = this.data.resources[path];
    return v === undefined ? undefined : new Uint8Array(Buffer.from(v, 'base64'));
  }

  setResource(path: string, value: Uint8Array): void {
    this.commit({ ...this.data, resources: { ...this.data.resources, [path]: Buffer.from(value).toString('base64') } });
  }

  get resourcePolicy(): ResourcePolicy {
    return this.policy;
  }

  get resourcePolicyText(): string | undefined {
    return this.data.resourcePolicy;
  }

  /** Parses (throws PolicyParseError) and stores the policy. */
  setResourcePolicy(text: string): void {
    const p = parseResourcePolicyText(text);
    this.commit({ ...this.data, resourcePolicy: text });
    this.policy = p;
  }

  get referenceValues(): Readonly<Record<string, ReferenceValues>> {
    return this.data.referenceValues;
  }

  setReferenceValues(id: string, rv: ReferenceValues): void {
    this.commit({ ...this.data, referenceValues: { ...this.data.referenceValues, [id]: rv } });
  }

  /** The token signing key PEM, created on first use. */
  tokenKeyPem(generate: () => string): string {
    const f = join(this.dir, TOKEN_KEY_FILE);
    if (existsSync(f)) return readFileSync(f, 'utf8');
    const pem = generate();
    atomicWrite(f, pem, 0o600);
    return pem;
  }
}
