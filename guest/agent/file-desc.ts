/**
 * Runtime half of the guest bundle's precomputed descriptors (build half: image/descriptors.ts).
 * The generated `*_pb` files call protobuf-es's `fileDesc(base64, imports)`, which decodes an
 * embedded FileDescriptorProto with the reflection decoder (after bootstrapping descriptor.proto
 * itself) and then builds the file's descriptors with its registry. In the bundle those calls
 * become `hydrateFileDesc(json, imports)`: the same FileDescriptorProto, decoded at build time and
 * shipped as JSON, is rebuilt here as the same objects (own properties for the fields the binary
 * set, defaults on a shared prototype per message type, as protobuf-es creates them), and the
 * descriptors the registry built from it at build time are rebuilt node by node, with their
 * references, toString and getDefaultValue as the registry defines them. A file without that
 * precomputed graph (protobuf-es's own files with extensions) goes through the registry as before.
 */
import { createFileRegistry, type DescFile } from '@bufbuild/protobuf';
import type { FileDescriptorProto } from '@bufbuild/protobuf/wkt';

/** The JSON form: `d` default values per message type name (the prototypes), `f` the file. */
export interface PackedFileDescriptor {
  d: Record<string, Record<string, unknown>>;
  f: PackedMessage;
  /**
   * The descriptors protobuf-es's registry builds from `f`, precomputed: node 0 is the file; each
   * node is `[shape, ...values]`, its property names `k[shape]` in order, values encoded as in `Encoded`.
   */
  g?: [number, ...Encoded[]][];
  k?: string[][];
}

/**
 * A property value of a descriptor node: JSON scalars as themselves, arrays of encodings, or
 * `{u}` undefined, `{r: n}` node n, `{p: n}` the n-th message of `f` (pre-order), `{x: name}` a
 * message or enum of an imported file, `{f: name}` an imported file, `{o: {...}}` a plain record,
 * `{s}` the descriptor's toString, `{z}` a getDefaultValue that answers undefined.
 */
export type Encoded = string | number | boolean | null | Encoded[] | { u: 1 } | { r: number } | { p: number } | { x: string } | { f: string } | { o: Record<string, Encoded> } | { s: 1 } | { z: 1 };

/** A message: `$typeName` plus the fields set on it (nested messages packed the same way). */
export interface PackedMessage {
  $typeName: string;
  [field: string]: unknown;
}

/** Rebuilds the FileDescriptorProto of a packed descriptor (prototype per message type, as protobuf-es's create). */
export function unpackFileDescriptor(packed: PackedFileDescriptor, messages: object[] = []): FileDescriptorProto {
  const prototypes = new Map<string, object | undefined>();
  const prototypeOf = (typeName: string): object | undefined => {
    if (!prototypes.has(typeName)) {
      const defaults = packed.d[typeName];
      prototypes.set(typeName, defaults ? { ...defaults } : undefined);
    }
    return prototypes.get(typeName);
  };
  const value = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(value);
    if (v === null || typeof v !== 'object') return v;
    const m = v as PackedMessage;
    const proto = prototypeOf(m.$typeName);
    const out = (proto ? Object.create(proto) : {}) as Record<string, unknown>;
    messages.push(out);
    for (const k of Object.keys(m)) out[k] = value(m[k]);
    return out;
  };
  return value(packed.f) as FileDescriptorProto;
}

interface Node {
  kind: string;
  name: string;
  typeName: string;
  proto: { name: string };
  parent: Node;
}

/** toString of a descriptor, as protobuf-es's registry defines it per kind. */
function toStringOf(d: Node): () => string {
  switch (d.kind) {
    case 'file': return () => `file ${d.proto.name}`;
    case 'enum_value': return () => `enum value ${d.parent.typeName}.${d.name}`;
    case 'field': return () => `field ${d.parent.typeName}.${d.proto.name}`;
    case 'rpc': return () => `rpc ${d.parent.typeName}.${d.name}`;
    case 'oneof': return function (this: Node) { return `oneof ${d.parent.typeName}.${this.name}`; };
    default: return function (this: Node) { return `${d.kind} ${this.typeName}`; };
  }
}

const answerUndefined = (): undefined => undefined;

/** Messages and enums of the imported files and their dependencies, by type name. */
function importedTypes(imports: readonly DescFile[]): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const seen = new Set<DescFile>();
  const addFile = (f: DescFile): void => {
    if (seen.has(f)) return;
    seen.add(f);
    const addMessage = (m: DescFile['messages'][number]): void => {
      out.set(m.typeName, m);
      m.nestedEnums.forEach((e) => out.set(e.typeName, e));
      m.nestedMessages.forEach(addMessage);
    };
    f.enums.forEach((e) => out.set(e.typeName, e));
    f.messages.forEach(addMessage);
    f.dependencies.forEach(addFile);
  };
  imports.forEach(addFile);
  return out;
}

/** Builds the precomputed descriptor graph of a packed file (see PackedFileDescriptor.g). */
function buildGraph(packed: PackedFileDescriptor, imports: readonly DescFile[]): DescFile {
  const messages: object[] = [];
  const root = unpackFileDescriptor(packed, messages);
  root.dependency = imports.map((f) => f.proto.name);
  const graph = packed.g!;
  const shapes = packed.k!;
  const nodes = graph.map(() => ({}) as Record<string, unknown>);
  let types: Map<string, unknown> | undefined;
  const decode = (e: Encoded): unknown => {
    if (e === null || typeof e !== 'object') return e;
    if (Array.isArray(e)) return e.map(decode);
    if ('r' in e) return nodes[e.r];
    if ('p' in e) return messages[e.p];
    if ('u' in e) return undefined;
    if ('z' in e) return answerUndefined;
    if ('x' in e) {
      const t = (types ??= importedTypes(imports)).get(e.x);
      if (!t) throw new Error(`descriptor ${root.name}: imported type ${e.x} not found`);
      return t;
    }
    if ('f' in e) {
      const f = imports.find((i) => i.proto.name === e.f);
      if (!f) throw new Error(`descriptor ${root.name}: import ${e.f} not given`);
      return f;
    }
    if ('o' in e) {
      const o: Record<string, unknown> = {};
      for (const k of Object.keys(e.o)) o[k] = decode(e.o[k]!);
      return o;
    }
    throw new Error(`descriptor ${root.name}: unknown encoding`);
  };
  graph.forEach((n, i) => {
    const d = nodes[i]!;
    const keys = shapes[n[0]]!;
    for (let j = 0; j < keys.length; j++) {
      const k = keys[j]!;
      const e = n[j + 1] as Encoded;
      // toString as the registry sets it (a plain assignment throws where built-in prototypes are frozen)
      if (typeof e === 'object' && e !== null && 's' in e) Object.defineProperty(d, k, { value: toStringOf(d as unknown as Node), writable: true, enumerable: true, configurable: true });
      else d[k] = decode(e);
    }
  });
  return nodes[0] as unknown as DescFile;
}

/** Drop-in for codegenv2's `fileDesc` taking the packed JSON instead of the binary descriptor. */
export function hydrateFileDesc(json: string, imports: readonly DescFile[] = []): DescFile {
  const packed = JSON.parse(json) as PackedFileDescriptor;
  if (packed.g) return buildGraph(packed, imports);
  const root = unpackFileDescriptor(packed);
  root.dependency = imports.map((f) => f.proto.name);
  const reg = createFileRegistry(root, (name) => imports.find((f) => f.proto.name === name));
  const file = reg.getFile(root.name);
  if (!file) throw new Error(`descriptor ${root.name} missing from its own registry`);
  return file;
}
