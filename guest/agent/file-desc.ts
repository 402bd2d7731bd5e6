/**
 * Runtime half of the guest bundle's precomputed descriptors (build half: image/descriptors.ts).
 * The generated `*_pb` files call protobuf-es's `fileDesc(base64, imports)`, which decodes an
 * embedded FileDescriptorProto with the reflection decoder, after bootstrapping descriptor.proto
 * itself. In the bundle those calls become `hydrateFileDesc(json, imports)`: the same
 * FileDescriptorProto, decoded at build time and shipped as JSON, is rebuilt here as the same
 * objects (own properties for the fields the binary set, defaults on a shared prototype per
 * message type, as protobuf-es creates them) and handed to the same registry builder. Neither the
 * reflection decoder nor descriptor.proto's descriptor is built at start.
 */
import { createFileRegistry, type DescFile } from '@bufbuild/protobuf';
import type { FileDescriptorProto } from '@bufbuild/protobuf/wkt';

/** The JSON form: `d` default values per message type name (the prototypes), `f` the file. */
export interface PackedFileDescriptor {
  d: Record<string, Record<string, unknown>>;
  f: PackedMessage;
}

/** A message: `$typeName` plus the fields set on it (nested messages packed the same way). */
export interface PackedMessage {
  $typeName: string;
  [field: string]: unknown;
}

/** Rebuilds the FileDescriptorProto of a packed descriptor (prototype per message type, as protobuf-es's create). */
export function unpackFileDescriptor(packed: PackedFileDescriptor): FileDescriptorProto {
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
    for (const k of Object.keys(m)) out[k] = value(m[k]);
    return out;
  };
  return value(packed.f) as FileDescriptorProto;
}

/** Drop-in for codegenv2's `fileDesc` taking the packed JSON instead of the binary descriptor. */
export function hydrateFileDesc(json: string, imports?: readonly DescFile[]): DescFile {
  const root = unpackFileDescriptor(JSON.parse(json) as PackedFileDescriptor);
  root.dependency = imports?.map((f) => f.proto.name) ?? [];
  const reg = createFileRegistry(root, (name) => imports?.find((f) => f.proto.name === name));
  const file = reg.getFile(root.name);
  if (!file) throw new Error(`descriptor ${root.name} missing from its own registry`);
  return file;
}
