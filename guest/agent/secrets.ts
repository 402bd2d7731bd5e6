/**
 * Secrets in CreateContainer: after the policy gate has passed the request as the host sent it
 * (sealed values, never the secret), the agent replaces what is sealed through the confidential
 * data hub (cdh/) before runc starts the container:
 *   - environment entries `NAME=sealed.…` get the broker's value (only in the runc config the
 *     guest builds in its own memory, never in a reply);
 *   - a bind mount of files the host copied in (`/run/kata-containers/shared/containers/…`) that
 *     holds sealed files is re-created on a per-container tmpfs with the values and bound
 *     read-only in its place.
 * The broker and its certificate come only from the measured init-data (cdh.toml / aa.toml), so
 * the host cannot redirect the guest. Logs name variables and files, never values. Errors carry
 * the data hub's check and the broker's non-secret reason, which the shim passes to the kubelet
 * as the CreateContainer error.
 */
import { execFile } from 'node:child_process';
import { constants, promises as fsp } from 'node:fs';
import { join, sep } from 'node:path';
import type { Logger } from 'pino';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { SHARED_CONTAINERS_DIR } from '../policy/inspect.js';
import type { RuncConfig } from '../runtime/spec.js';

/** What the data hub offers the agent (ConfidentialDataHub). */
export interface Unsealer {
  unsealSecret(sealed: string): Promise<Buffer>;
}

export interface ContainerSecretsOptions {
  /** The data hub, made on first use (rejects when init-data names no broker). */
  hub: () => Promise<Unsealer>;
  logger: Logger;
  /** Mounts a guest-memory file system at `dir` (default: tmpfs, mode 0700, 4 MiB). */
  mountTmpfs?: (dir: string) => Promise<void>;
  unmount?: (dir: string) => Promise<void>;
}

const SEALED = 'sealed.';
/** Bytes read from each file of a candidate volume to tell whether it is sealed. */
const PEEK = 4096;

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, _o, stderr) => (err ? reject(new CocoletError(ErrorCode.RuntimeFailed, `${cmd} failed: ${stderr.trim().slice(0, 300) || err.message}`)) : resolve()));
  });
}

function envValue(e: string): string {
  const eq = e.indexOf('=');
  return eq < 0 ? '' : e.slice(eq + 1);
}

/** True when some regular file directly in `dir` (links followed only inside it) starts with `sealed.`. */
export async function holdsSealedFiles(dir: string): Promise<boolean> {
  let root: string;
  try {
    root = await fsp.realpath(dir);
    if (!(await fsp.stat(root)).isDirectory()) return false;
  } catch {
    return false;
  }
  for (const name of await fsp.readdir(root)) {
    if (name.startsWith('..')) continue;
    const real = await fsp.realpath(join(root, name)).catch(() => undefined);
    if (!real || !real.startsWith(root + sep)) continue;
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      continue;
    }
    try {
      if (!(await fh.stat()).isFile()) continue;
      const buf = Buffer.alloc(PEEK);
      const { bytesRead } = await fh.read(buf, 0, PEEK, 0);
      if (buf.subarray(0, bytesRead).toString('utf8').trimStart().startsWith(SEALED)) return true;
    } finally {
      await fh.close();
    }
  }
  return false;
}

export class ContainerSecrets {
  constructor(private readonly o: ContainerSecretsOptions) {}

  private secretsDir(containerDir: string): string {
    return join(containerDir, 'secrets');
  }

  /**
   * Unseals what `config` carries sealed, in place. `containerDir` is the container's directory
   * in guest memory; a tmpfs is mounted under it when a volume needs one (released by `release`).
   */
  async prepare(containerId: string, config: RuncConfig, containerDir: string): Promise<void> {
    const ctx = { container: containerId };
    // The message reaches the kubelet (pod status): it names the check and quotes the broker's non-secret reason.
    const fail = (e: unknown): never => {
      const err = e instanceof CocoletError ? e : new CocoletError(ErrorCode.Internal, (e as Error).message, { cause: e });
      const check = typeof err.context.check === 'string' ? ` [${err.context.check}]` : '';
      throw new CocoletError(err.code, `container ${containerId}: sealed secret not delivered${check}: ${err.message}`, { cause: err, context: { ...err.context, ...ctx } });
    };
    const sealedEnv = config.process.env.filter((e) => envValue(e).startsWith(SEALED)).map((e) => e.slice(0, Math.max(0, e.indexOf('='))));
    const volumes: number[] = [];
    for (const [i, m] of config.mounts.entries()) {
      if (m.type === 'bind' && m.source.includes(SHARED_CONTAINERS_DIR + '/') && (await holdsSealedFiles(m.source))) volumes.push(i);
    }
    if (sealedEnv.length === 0 && volumes.length === 0) return;
    const { unsealEnv, unsealVolume } = await import('../cdh/delivery.js');
    const hub = await this.o.hub().catch(fail);
    if (sealedEnv.length > 0) {
      config.process.env = await unsealEnv(config.process.env, hub).catch(fail);
      this.o.logger.info({ container: containerId, env: sealedEnv }, 'sealed environment values unsealed');
    }
    if (volumes.length > 0) {
      const dir = this.secretsDir(containerDir);
      await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
      await (this.o.mountTmpfs ?? ((d: string) => run('mount', ['-t', 'tmpfs', '-o', 'mode=0700,size=4m,nosuid,nodev,noexec', 'tmpfs', d])))(dir).catch(fail);
      for (const i of volumes) {
        const m = config.mounts[i]!;
        const dst = join(dir, String(i));
        await fsp.mkdir(dst, { mode: 0o755 });
        const files = await unsealVolume(m.source, dst, hub).catch((e: unknown) => fail(e instanceof CocoletError ? e.withContext({ mount: m.destination }) : e));
        config.mounts[i] = { ...m, source: dst, options: [...m.options.filter((o) => o !== 'rw'), ...(m.options.includes('ro') ? [] : ['ro'])] };
        this.o.logger.info({ container: containerId, mount: m.destination, files }, 'sealed secret volume unsealed onto guest memory');
      }
    }
  }

  /** Unmounts the container's secret tmpfs, if any (before its directory is removed). */
  async release(containerDir: string): Promise<void> {
    const dir = this.secretsDir(containerDir);
    try {
      await fsp.access(dir);
    } catch {
      return;
    }
    await (this.o.unmount ?? ((d: string) => run('umount', ['-l', d])))(dir).catch(() => undefined);
  }
}

/**
 * The data hub for this pod's init-data, made once on first use (cdh/ and attester/ load only
 * then). Without init-data, or when it names no broker, sealed secrets are refused with
 * `cdh.no-broker`. Retries of an unreachable broker are logged (console) with their reason.
 */
export function dataHubFactory(initdata: () => { raw: Buffer; data: Record<string, string> } | undefined, logger: Logger): () => Promise<Unsealer> {
  let hub: Promise<Unsealer> | undefined;
  return () =>
    (hub ??= (async () => {
      const [{ ConfidentialDataHub }, { detectAttester }] = await Promise.all([import('../cdh/hub.js'), import('../attester/detect.js')]);
      const id = initdata() ?? { raw: Buffer.alloc(0), data: {} };
      const log = logger.child({ component: 'cdh' });
      return new ConfidentialDataHub({
        initdata: { raw: id.raw, data: id.data },
        attester: () => detectAttester(),
        logger: log,
        client: { onRetry: (e) => log.warn({ what: e.what, attempt: e.attempt, delayMs: e.delayMs, reason: e.reason }, 'key broker unavailable; retrying') },
      });
    })().catch((e: unknown) => {
      hub = undefined;
      throw e;
    }));
}
