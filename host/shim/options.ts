/**
 * Runtime options on the shim's stdin at `start`: a marshalled google.protobuf.Any; for non-runc
 * runtimes containerd's CRI sends `runtimeoptions.v1.Options{type_url, config_path}` (type URL
 * without the `type.googleapis.com/` prefix). `ctr run` sends nothing (/dev/null). containerd
 * 2.3+ sends `BootstrapParams` instead (options in its extensions).
 *
 * `start` runs once per task on containerd's critical path, so the common case (an Any holding
 * runtimeoptions.v1.Options) is read with a few lines of protobuf wire decoding; the generated
 * protobuf code is loaded only for anything else.
 */
import { fstatSync, readSync, statSync } from 'node:fs';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';

export interface RuntimeOptions {
  /** Path of the shim config file ('' = none given). */
  configPath: string;
  /** Set when containerd (2.3+) sent BootstrapParams instead of a bare Any. */
  bootstrap?: { ttrpcAddress: string; socketDir?: string };
}

export const OPTIONS_TYPE = 'runtimeoptions.v1.Options';

/** Length-delimited fields of a protobuf message (field number → last value); undefined if malformed. */
export function lengthDelimitedFields(b: Uint8Array): Map<number, Uint8Array> | undefined {
  const out = new Map<number, Uint8Array>();
  let i = 0;
  const varint = (): number | undefined => {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (i >= b.length) return undefined;
      const x = b[i++]!;
      v += (x & 0x7f) * 2 ** shift;
      if ((x & 0x80) === 0) return v;
    }
    return undefined;
  };
  while (i < b.length) {
    const tag = varint();
    if (tag === undefined || tag >>> 3 === 0) return undefined;
    const wire = tag & 7;
    if (wire === 0) {
      if (varint() === undefined) return undefined;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const n = varint();
      if (n === undefined || i + n > b.length) return undefined;
      out.set(tag >>> 3, b.subarray(i, i + n));
      i += n;
    } else return undefined;
    if (i > b.length) return undefined;
  }
  return out;
}

const STDIN_LIMIT = 1 << 20;

/** Reads fd 0 to its end into `chunks` when it is a pipe or a file; else (or on EAGAIN) the bytes read so far. */
function readStdinSync(chunks: Buffer[]): 'done' | number {
  let n = 0;
  try {
    const st = fstatSync(0);
    // /dev/null: what containerd gives when there are no options (a character device; a terminal is one too)
    if (st.isCharacterDevice()) return st.rdev === statSync('/dev/null').rdev ? 'done' : 0;
    if (!st.isFIFO() && !st.isFile()) return 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(64 * 1024);
      const got = readSync(0, buf, 0, buf.length, null);
      if (got === 0) return 'done';
      chunks.push(buf.subarray(0, got));
      n += got;
      if (n > STDIN_LIMIT) throw new CocoletError(ErrorCode.InvalidArgument, 'runtime options on stdin exceed 1 MiB');
    }
  } catch (e) {
    if (e instanceof CocoletError) throw e;
    return n; // EAGAIN (a non-blocking pipe), EBADF (closed): the stream way
  }
}

const text = (b: Uint8Array | undefined): string => (b ? Buffer.from(b).toString('utf8') : '');
const bareType = (url: string): string => url.replace(/^.*\//, '');

/** The config path in an Any holding runtimeoptions.v1.Options; undefined if it is not one. */
function fastOptions(bytes: Uint8Array): string | undefined {
  const any = lengthDelimitedFields(bytes);
  if (!any || bareType(text(any.get(1))) !== OPTIONS_TYPE) return undefined;
  const opts = lengthDelimitedFields(any.get(2) ?? new Uint8Array());
  if (!opts) throw new CocoletError(ErrorCode.InvalidArgument, 'runtime options on stdin are malformed');
  return text(opts.get(2));
}

/** Decodes the stdin bytes; empty input means no options. `ident` (the -id/-namespace flags) enables BootstrapParams detection. */
export async function decodeRuntimeOptions(bytes: Uint8Array, ident?: { id: string; namespace: string }): Promise<RuntimeOptions> {
  if (bytes.length === 0) return { configPath: '' };
  const fast = fastOptions(bytes);
  if (fast !== undefined) return { configPath: fast };
  const [{ fromBinary }, { AnySchema }, { BootstrapParamsSchema }] = await Promise.all([
    import('@bufbuild/protobuf'),
    import('@bufbuild/protobuf/wkt'),
    import('../../shared/gen/containerd/bootstrap/v1/bootstrap_pb.js'),
  ]);
  if (ident) {
    try {
      const p = fromBinary(BootstrapParamsSchema, bytes);
      if (p.instanceId === ident.id && p.namespace === ident.namespace) {
        let configPath = '';
        for (const ext of p.extensions) {
          if (ext.value && bareType(ext.value.typeUrl) === OPTIONS_TYPE) configPath = text(lengthDelimitedFields(ext.value.value)?.get(2));
        }
        return { configPath, bootstrap: { ttrpcAddress: p.containerdTtrpcAddress, ...(p.socketDir ? { socketDir: p.socketDir } : {}) } };
      }
    } catch {
      /* not bootstrap params */
    }
  }
  let any;
  try {
    any = fromBinary(AnySchema, bytes);
  } catch (e) {
    throw new CocoletError(ErrorCode.InvalidArgument, `runtime options on stdin are not a protobuf Any: ${(e as Error).message}`, { cause: e });
  }
  throw new CocoletError(ErrorCode.InvalidArgument, `unsupported runtime options type ${JSON.stringify(any.typeUrl)} (want ${OPTIONS_TYPE})`);
}

/** Reads all of fd 0 when it is not a terminal; bounded to 1 MiB. */
export async function readStdinBytes(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  // A pipe, file or /dev/null (what containerd gives) is read with plain read(2)s: process.stdin would
  // load the stream stack (~10 ms of `start`'s CPU). Anything else, or a pipe that says EAGAIN, goes the stream way.
  let n = readStdinSync(chunks);
  if (n === 'done') return new Uint8Array(Buffer.concat(chunks));
  if (process.stdin.isTTY) return new Uint8Array();
  for await (const c of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(c);
    n += c.length;
    if (n > STDIN_LIMIT) throw new CocoletError(ErrorCode.InvalidArgument, 'runtime options on stdin exceed 1 MiB');
  }
  return new Uint8Array(Buffer.concat(chunks));
}
