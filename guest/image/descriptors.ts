/**
 * Build half of the guest bundle's precomputed descriptors (runtime half: agent/file-desc.ts).
 * Every `fileDesc("<base64>", …)` call in a generated `*_pb.js` file (ours in shared/gen, and
 * protobuf-es's well-known types) is rewritten, in the bundle only, to
 * `hydrateFileDesc("<json>", …)`: the FileDescriptorProto is decoded here, once, with
 * protobuf-es's own decoder, and shipped as JSON. Under TCG the decode (plus bootstrapping
 * descriptor.proto to run it) was a large part of the agent's start. Same inputs, same JSON.
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Plugin } from 'esbuild';
import { fromBinary } from '@bufbuild/protobuf';
import { protoCamelCase } from '@bufbuild/protobuf/reflect';
import { base64Decode } from '@bufbuild/protobuf/wire';
import { FileDescriptorProtoSchema, type DescriptorProto, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import type { PackedFileDescriptor, PackedMessage } from '../agent/file-desc.js';

/** The generator leaves out JSON names equal to the default; `fileDesc` puts them back (as here). */
function restoreJsonNames(m: DescriptorProto): void {
  for (const f of m.field) if (!(Object.prototype.hasOwnProperty.call(f, 'jsonName') && f.jsonName !== undefined)) f.jsonName = protoCamelCase(f.name);
  m.nestedType.forEach(restoreJsonNames);
}

/** FileDescriptorProto of an embedded descriptor, as codegenv2's `fileDesc` decodes it (JSON names restored). */
export function decodeEmbedded(b64: string): FileDescriptorProto {
  const root = fromBinary(FileDescriptorProtoSchema, base64Decode(b64));
  root.messageType.forEach(restoreJsonNames);
  return root;
}

/** Packs a decoded FileDescriptorProto: own fields per message, each message type's defaults once. */
export function packFileDescriptor(root: object): PackedFileDescriptor {
  const d: Record<string, Record<string, unknown>> = {};
  const value = (v: unknown, at: string): unknown => {
    if (Array.isArray(v)) return v.map((x, i) => value(x, `${at}[${i}]`));
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
    if (v === null || typeof v !== 'object' || v instanceof Uint8Array) throw new Error(`descriptor value at ${at} cannot be packed (${typeof v})`);
    const m = v as PackedMessage;
    if (typeof m.$typeName !== 'string') throw new Error(`descriptor value at ${at} is not a message`);
    if ('$unknown' in m) throw new Error(`descriptor ${at} has unknown fields`);
    const proto = Object.getPrototypeOf(m) as object;
    if (proto !== Object.prototype) {
      if (Object.getPrototypeOf(proto) !== Object.prototype) throw new Error(`descriptor ${at}: unexpected prototype chain`);
      const defaults = Object.fromEntries(Object.entries(proto));
      for (const [k, x] of Object.entries(defaults)) if (!['string', 'number', 'boolean'].includes(typeof x)) throw new Error(`descriptor ${at}: default ${k} is not a scalar`);
      const seen = d[m.$typeName];
      if (seen && JSON.stringify(seen) !== JSON.stringify(defaults)) throw new Error(`descriptor ${at}: defaults of ${m.$typeName} differ`);
      d[m.$typeName] = defaults;
    }
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(m)) out[k] = k === '$typeName' ? m[k] : value(m[k], `${at}.${k}`);
    return out;
  };
  const f = value(root, 'file') as PackedMessage;
  return { d, f };
}

const FILE_DESC_CALL = /\bfileDesc\(\s*"([A-Za-z0-9+/=]*)"/g;

/** Rewrites a generated module's `fileDesc("<base64>"` calls; undefined when it has none. */
export function rewriteFileDescCalls(source: string, hydrateModule: string): string | undefined {
  let n = 0;
  const out = source.replace(FILE_DESC_CALL, (_, b64: string) => {
    n++;
    return `__cocoletHydrateFileDesc(${JSON.stringify(JSON.stringify(packFileDescriptor(decodeEmbedded(b64))))}`;
  });
  if (n === 0) return undefined;
  return `import { hydrateFileDesc as __cocoletHydrateFileDesc } from ${JSON.stringify(hydrateModule)};\n${out}`;
}

/** esbuild plugin: generated `*_pb.js` modules get precomputed descriptors (see above). */
export function precomputedDescriptors(hydrateModule: string): Plugin {
  return {
    name: 'precomputed-descriptors',
    setup(b) {
      b.onLoad({ filter: /_pb\.js$/ }, (a) => {
        const contents = rewriteFileDescCalls(readFileSync(a.path, 'utf8'), hydrateModule);
        return contents === undefined ? undefined : { contents, loader: 'js', resolveDir: dirname(a.path) };
      });
    },
  };
}
