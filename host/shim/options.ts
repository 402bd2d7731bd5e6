/**
 * Runtime options on the shim's stdin at `start`: a marshalled google.protobuf.Any; for non-runc
 * runtimes containerd's CRI sends `runtimeoptions.v1.Options{type_url, config_path}` (type URL
 * without the `type.googleapis.com/` prefix). `ctr run` sends nothing (/dev/null).
 */
import { fromBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { OptionsSchema } from '../../shared/gen/containerd/runtimeoptions/v1/api_pb.js';
import { BootstrapParamsSchema } from '../../shared/gen/containerd/bootstrap/v1/bootstrap_pb.js';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';

export interface RuntimeOptions {
  /** Path of the shim config file ('' = none given). */
  configPath: string;
  /** Set when containerd (2.3+) sent BootstrapParams instead of a bare Any. */
  bootstrap?: { ttrpcAddress: string; socketDir?: string };
}

export const OPTIONS_TYPE = 'runtimeoptions.v1.Options';

function optionsFromAny(any: { typeUrl: string; value: Uint8Array }): string {
  const type = any.typeUrl.replace(/^.*\//, '');
  if (type !== OPTIONS_TYPE) throw new CocoletError(ErrorCode.InvalidArgument, `unsupported runtime options type ${JSON.stringify(any.typeUrl)} (want ${OPTIONS_TYPE})`);
  return fromBinary(OptionsSchema, any.value).configPath;
}

/**
 * containerd 2.3+ sends `BootstrapParams` on stdin; it is recognised (like containerd's own shims
 * do) by instance_id and namespace equal to the -id and -namespace flags.
 */
function tryBootstrap(bytes: Uint8Array, ident?: { id: string; namespace: string }): RuntimeOptions | undefined {
  if (!ident) return undefined;
  let p;
  try {
    p = fromBinary(BootstrapParamsSchema, bytes);
  } catch {
    return undefined;
  }
  if (p.instanceId !== ident.id || p.namespace !== ident.namespace) return undefined;
  let configPath = '';
  for (const ext of p.extensions) {
    if (ext.value && ext.value.typeUrl.replace(/^.*\//, '') === OPTIONS_TYPE) configPath = optionsFromAny(ext.value);
  }
  return { configPath, bootstrap: { ttrpcAddress: p.containerdTtrpcAddress, ...(p.socketDir ? { socketDir: p.socketDir } : {}) } };
}

/** Decodes the stdin bytes; empty input means no options. */
export function decodeRuntimeOptions(bytes: Uint8Array, ident?: { id: string; namespace: string }): RuntimeOptions {
  if (bytes.length === 0) return { configPath: '' };
  const boot = tryBootstrap(bytes, ident);
  if (boot) return boot;
  let any;
  try {
    any = fromBinary(AnySchema, bytes);
  } catch (e) {
    throw new CocoletError(ErrorCode.InvalidArgument, `runtime options on stdin are not a protobuf Any: ${(e as Error).message}`, { cause: e });
  }
  return { configPath: optionsFromAny(any) };
}

/** Reads all of fd 0 synchronously when it is not a terminal; bounded to 1 MiB. */
export async function readStdinBytes(): Promise<Uint8Array> {
  if (process.stdin.isTTY) return new Uint8Array();
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(c);
    n += c.length;
    if (n > 1 << 20) throw new CocoletError(ErrorCode.InvalidArgument, 'runtime options on stdin exceed 1 MiB');
  }
  return new Uint8Array(Buffer.concat(chunks));
}
