/**
 * Build half of the guest bundle's precomputed descriptors (runtime half: agent/file-desc.ts).
 * Every `fileDesc("<base64>", …)` call in a generated `*_pb.js` file (ours in shared/gen, and
 * protobuf-es's well-known types) is rewritten, in the bundle only, to `hydrateFileDesc("<json>", …)`:
 * the FileDescriptorProto and the descriptors protobuf-es's registry builds from it are computed
 * here, once, by importing the generated module, and shipped as JSON. Under TCG, decoding the
 * descriptor (plus bootstrapping descriptor.proto to run the decoder) and building the registry
 * were the largest part of the agent's own start. Same inputs, same JSON.
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Plugin } from 'esbuild';
import { fromBinary } from '@bufbuild/protobuf';
import { protoCamelCase } from '@bufbuild/protobuf/reflect';
import { base64Decode } from '@bufbuild/protobuf/wire';
import { FileDescriptorProtoSchema, type DescriptorProto, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import type { DescFile } from '@bufbuild/protobuf';
import type { Encoded, PackedFileDescriptor, PackedMessage } from '../agent/file-desc.js';

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

const KINDS = new Set(['file', 'enum', 'enum_value', 'message', 'field', 'oneof', 'service', 'rpc']);

type Desc = Record<string, unknown> & { kind: string; file?: Desc; parent?: Desc; proto: { name: string } };

function fileOf(d: Desc): Desc | undefined {
  if (d.kind === 'file') return d;
  if (d.kind === 'enum' || d.kind === 'message' || d.kind === 'service') return d.file;
  return d.parent ? fileOf(d.parent) : undefined;
}

/**
 * Precomputes the registry's work: the descriptors protobuf-es built for `file` (from its own
 * `fileDesc`), as nodes whose properties refer to each other, to the messages of the packed
 * FileDescriptorProto (`f`, pre-order) and to the imported files' types. Throws on anything the
 * runtime half would not rebuild exactly (extensions, explicit default values, other functions).
 */
export function packDescriptorGraph(file: DescFile, packed: PackedFileDescriptor): Pick<PackedFileDescriptor, 'g' | 'k'> {
  const messages = new Map<object, number>();
  const number = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(number);
    else if (v !== null && typeof v === 'object') {
      messages.set(v, messages.size);
      for (const k of Object.keys(v)) number((v as Record<string, unknown>)[k]);
    }
  };
  number(file.proto);
  const ids = new Map<Desc, number>();
  const nodes: [number, ...Encoded[]][] = [];
  const shapes: string[][] = [];
  const shapeIds = new Map<string, number>();
  const queue: Desc[] = [];
  const idOf = (d: Desc): number => {
    let id = ids.get(d);
    if (id === undefined) {
      id = ids.size;
      ids.set(d, id);
      queue.push(d);
    }
    return id;
  };
  const encode = (v: unknown, key: string, at: string): Encoded => {
    if (v === undefined) return { u: 1 };
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new Error(`descriptor ${at}: ${v} does not survive JSON`);
      return v;
    }
    if (typeof v === 'function') {
      if (key === 'toString') return { s: 1 };
      if (key === 'getDefaultValue' && (v as () => unknown)() === undefined) return { z: 1 };
      throw new Error(`descriptor ${at}: function ${key} cannot be precomputed`);
    }
    if (Array.isArray(v)) return v.map((x, i) => encode(x, key, `${at}[${i}]`));
    if (typeof v !== 'object') throw new Error(`descriptor ${at}: ${typeof v} cannot be precomputed`);
    const p = messages.get(v);
    if (p !== undefined) return { p };
    const d = v as Desc;
    if (typeof d.kind === 'string') {
      if (!KINDS.has(d.kind)) throw new Error(`descriptor ${at}: ${d.kind} descriptors are not precomputed`);
      if (fileOf(d) === (file as unknown as Desc)) return { r: idOf(d) };
      if (d.kind === 'file') return { f: d.proto.name };
      if (d.kind === 'message' || d.kind === 'enum') return { x: d.typeName as string };
      throw new Error(`descriptor ${at}: ${d.kind} of another file`);
    }
    if (Object.getPrototypeOf(v) !== Object.prototype) throw new Error(`descriptor ${at}: unexpected object`);
    const o: Record<string, Encoded> = {};
    for (const k of Object.keys(v)) o[k] = encode((v as Record<string, unknown>)[k], k, `${at}.${k}`);
    return { o };
  };
  idOf(file as unknown as Desc);
  for (let i = 0; i < queue.length; i++) {
    const d = queue[i]!;
    const at = `${file.proto.name}#${i}`;
    if (Object.getPrototypeOf(d) !== Object.prototype || Object.getOwnPropertyNames(d).length !== Object.keys(d).length) throw new Error(`descriptor ${at}: unexpected shape`);
    const keys = Object.keys(d);
    const shape = keys.join(',');
    let sid = shapeIds.get(shape);
    if (sid === undefined) {
      sid = shapes.length;
      shapeIds.set(shape, sid);
      shapes.push(keys);
    }
    nodes.push([sid, ...keys.map((k) => encode(d[k], k, `${at}.${k}`))]);
  }
  if (packed.f.name !== file.proto.name) throw new Error(`descriptor ${file.proto.name}: packed file differs`);
  return { g: nodes, k: shapes };
}

/**
 * The packed JSON of a generated file's descriptor: its FileDescriptorProto and, with `file` and
 * when the file has nothing packDescriptorGraph refuses, the registry's descriptors.
 */
export function packEmbedded(b64: string, file?: DescFile): PackedFileDescriptor {
  const root = decodeEmbedded(b64);
  if (!file) return packFileDescriptor(root);
  if (file.proto.name !== root.name) throw new Error(`descriptor ${root.name}: generated module exports ${file.proto.name}`);
  // the file's own proto (its dependency list is the imports', as fileDesc sets it)
  const packed = packFileDescriptor(file.proto);
  try {
    return { ...packed, ...packDescriptorGraph(file, packed) };
  } catch {
    // e.g. protobuf-es's own *_features files (extensions): the runtime builds those with the registry
    return packFileDescriptor(root);
  }
}

const FILE_DESC_CALL = /\bfileDesc\(\s*"([A-Za-z0-9+/=]*)"/g;

/**
 * Rewrites a generated module's `fileDesc("<base64>"` calls; undefined when it has none. `files`:
 * the module's exported file descriptors (as protobuf-es built them), for the precomputed graph.
 */
export function rewriteFileDescCalls(source: string, hydrateModule: string, files: readonly DescFile[] = []): string | undefined {
  let n = 0;
  const out = source.replace(FILE_DESC_CALL, (_, b64: string) => {
    n++;
    const name = decodeEmbedded(b64).name;
    return `__cocoletHydrateFileDesc(${JSON.stringify(JSON.stringify(packEmbedded(b64, files.find((f) => f.proto.name === name))))}`;
  });
  if (n === 0) return undefined;
  return `import { hydrateFileDesc as __cocoletHydrateFileDesc } from ${JSON.stringify(hydrateModule)};\n${out}`;
}

/** esbuild plugin: generated `*_pb.js` modules get precomputed descriptors (see above). */
export function precomputedDescriptors(hydrateModule: string): Plugin {
  return {
    name: 'precomputed-descriptors',
    setup(b) {
      b.onLoad({ filter: /_pb\.js$/ }, async (a) => {
        const source = readFileSync(a.path, 'utf8');
        if (!FILE_DESC_CALL.test(source)) return undefined;
        FILE_DESC_CALL.lastIndex = 0;
        // the module's descriptors as protobuf-es builds them (in this build process)
        const mod = (await import(pathToFileURL(a.path).href)) as Record<string, unknown>;
        const files = Object.values(mod).filter((v): v is DescFile => (v as { kind?: unknown } | null)?.kind === 'file');
        const contents = rewriteFileDescCalls(source, hydrateModule, files);
        return contents === undefined ? undefined : { contents, loader: 'js', resolveDir: dirname(a.path) };
      });
    },
  };
}
