/**
 * Runtime options on the shim's stdin at `start`: a marshalled google.protobuf.Any; for non-runc
 * runtimes containerd's CRI sends `runtimeoptions.v1.Options{type_url, config_path}` (type URL
 * without the `type.googleapis.com/` prefix). `ctr run` sends nothing (/dev/null).
 */
import { fromBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { OptionsSchema } from '../../shared/gen/containerd/runtimeoptions/v1/api_pb.js';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';

export interface RuntimeOptions {
  /** Path of the shim config file ('' = none given). */
  configPath: string;
}

export const OPTIONS_TYPE = 'runtimeoptions.v1.Options';

/** Decodes the stdin bytes; empty input means no options. */
export function decodeRuntimeOptions(bytes: Uint8Array): RuntimeOptions {
  if (bytes.length === 0) return { configPath: '' };
  let any;
  try {
    any = fromBinary(AnySchema, bytes);
  } catch (e) {
    throw new CocoletError(ErrorCode.InvalidArgument, `runtime options on stdin are not a protobuf Any: ${(e as Error).message}`, { cause: e });
  }
  const type = any.typeUrl.replace(/^.*\//, '');
  if (type !== OPTIONS_TYPE) throw new CocoletError(ErrorCode.InvalidArgument, `unsupported runtime options type ${JSON.stringify(any.typeUrl)} (want ${OPTIONS_TYPE})`);
  const opts = fromBinary(OptionsSchema, any.value);
  return { configPath: opts.configPath };
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
