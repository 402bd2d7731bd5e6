/**
 * How TPM 2.0 command bytes reach a TPM: the kernel's character device (`/dev/tpmrm0`, one
 * command per write, the whole response per read; the resource manager flushes this file's
 * transient objects when it is closed), or swtpm's `socket` data channel (the same raw command
 * and response bytes over a unix or TCP stream; tests and a host-side development TPM). One
 * command is in flight at a time per transport.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { CocoletError, ErrorCode } from '../../../shared/errors/index.js';

/** Largest TPM response cocolet reads (TPM2_Quote with an RSA-4096 signature is < 1 KiB). */
const MAX_RESPONSE = 8192;
const HEADER = 10;

export interface TpmTransport extends AsyncDisposable {
  /** Sends one command, resolves with the whole response (header included). */
  transmit(command: Uint8Array): Promise<Buffer>;
  close(): Promise<void>;
}

/** Serialises transmit() calls: a TPM (and its device file) takes one command at a time. */
abstract class SerialTransport implements TpmTransport {
  private tail: Promise<unknown> = Promise.resolve();

  transmit(command: Uint8Array): Promise<Buffer> {
    const run = this.tail.then(() => this.exchange(command));
    this.tail = run.catch(() => undefined);
    return run;
  }

  protected abstract exchange(command: Uint8Array): Promise<Buffer>;
  abstract close(): Promise<void>;

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function transportError(where: string, what: string, cause?: unknown): CocoletError {
  return new CocoletError(ErrorCode.Unavailable, `TPM ${where}: ${what}`, { cause, context: { tpm: where } });
}

/** The kernel TPM device; the file stays open so transient objects live as long as the transport. */
export class DeviceTransport extends SerialTransport {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
  ) {
    super();
  }

  static async open(path: string): Promise<DeviceTransport> {
    try {
      return new DeviceTransport(path, await open(path, 'r+'));
    } catch (e) {
      throw transportError(path, `cannot open (${(e as NodeJS.ErrnoException).code ?? 'error'})`, e);
    }
  }

  protected async exchange(command: Uint8Array): Promise<Buffer> {
    try {
      await this.fh.write(command, 0, command.length, null);
      const buf = Buffer.alloc(MAX_RESPONSE);
      const { bytesRead } = await this.fh.read(buf, 0, buf.length, null);
      return buf.subarray(0, bytesRead);
    } catch (e) {
      throw transportError(this.path, `command failed (${(e as NodeJS.ErrnoException).code ?? 'error'})`, e);
    }
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}

export type SocketAddress = { path: string } | { host: string; port: number };

/** swtpm's socket-mode data channel (`swtpm socket --server type=unixio,path=…` or `port=…`). */
export class SocketTransport extends SerialTransport {
  private buffered = Buffer.alloc(0);
  private waiting: ((b: Buffer | Error) => void) | undefined;
  private closed = false;

  private constructor(
    readonly name: string,
    private readonly sock: Socket,
  ) {
    super();
    sock.on('data', (d: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, d]);
      this.deliver();
    });
    const gone = (e?: Error): void => {
      this.closed = true;
      this.waiting?.(transportError(name, 'connection closed', e));
      this.waiting = undefined;
    };
    sock.on('error', gone);
    sock.on('close', () => gone());
  }

  static connect(addr: SocketAddress): Promise<SocketTransport> {
    const name = 'path' in addr ? addr.path : `${addr.host}:${addr.port}`;
    return new Promise((resolve, reject) => {
      const sock = 'path' in addr ? connect(addr.path) : connect(addr.port, addr.host);
      sock.once('connect', () => {
        sock.removeAllListeners('error');
        resolve(new SocketTransport(name, sock));
      });
      sock.once('error', (e) => reject(transportError(name, `cannot connect (${(e as NodeJS.ErrnoException).code ?? 'error'})`, e)));
    });
  }

  private deliver(): void {
    if (!this.waiting || this.buffered.length < HEADER) return;
    const size = this.buffered.readUInt32BE(2);
    if (size < HEADER || size > MAX_RESPONSE) {
      const w = this.waiting;
      this.waiting = undefined;
      w(transportError(this.name, `response size ${size} is out of range`));
      this.sock.destroy();
      return;
    }
    if (this.buffered.length < size) return;
    const r = this.buffered.subarray(0, size);
    this.buffered = this.buffered.subarray(size);
    const w = this.waiting;
    this.waiting = undefined;
    w(Buffer.from(r));
  }

  protected exchange(command: Uint8Array): Promise<Buffer> {
    if (this.closed) return Promise.reject(transportError(this.name, 'connection closed'));
    return new Promise((resolve, reject) => {
      this.waiting = (b) => (b instanceof Error ? reject(b) : resolve(b));
      this.sock.write(command);
      this.deliver();
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.sock.once('close', () => resolve());
      this.sock.end();
      this.sock.destroy();
    });
  }
}
