import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { create, fromBinary, toBinary, toJson, type DescFile, type DescMessage } from '@bufbuild/protobuf';
import { file_google_protobuf_empty, FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { file_kata_agent } from '../../shared/gen/kata/agent_pb.js';
import { file_kata_csi } from '../../shared/gen/kata/csi_pb.js';
import { file_kata_health } from '../../shared/gen/kata/health_pb.js';
import { file_kata_oci } from '../../shared/gen/kata/oci_pb.js';
import { file_kata_types } from '../../shared/gen/kata/types_pb.js';
import { hydrateFileDesc, unpackFileDescriptor } from '../agent/file-desc.js';
import { decodeEmbedded, packEmbedded, packFileDescriptor, rewriteFileDescCalls } from './descriptors.js';

/** Same own keys and values, same defaults on the prototype, recursively (what the registry reads). */
function assertSameShape(got: unknown, want: unknown, at: string): void {
  if (Array.isArray(want)) {
    assert.ok(Array.isArray(got), `${at} is an array`);
    assert.equal(got.length, want.length, `${at} length`);
    want.forEach((w, i) => assertSameShape(got[i], w, `${at}[${i}]`));
    return;
  }
  if (want === null || typeof want !== 'object') {
    assert.equal(got, want, at);
    return;
  }
  assert.ok(got !== null && typeof got === 'object', `${at} is an object`);
  assert.deepEqual(Object.keys(got), Object.keys(want), `${at} own keys`);
  const gp = Object.getPrototypeOf(got) as object;
  const wp = Object.getPrototypeOf(want) as object;
  assert.deepEqual(gp === Object.prototype ? {} : { ...gp }, wp === Object.prototype ? {} : { ...wp }, `${at} prototype defaults`);
  for (const k of Object.keys(want)) assertSameShape((got as Record<string, unknown>)[k], (want as Record<string, unknown>)[k], `${at}.${k}`);
}

/** The descriptor facts encoding, decoding and the ttrpc server read, per message of a file. */
function messageFacts(m: DescMessage): unknown {
  return {
    typeName: m.typeName,
    fields: m.fields.map((field) => {
      const f = field as unknown as Record<string, unknown> & { getDefaultValue?: () => unknown };
      return {
        name: field.name, number: field.number, kind: field.fieldKind, localName: field.localName, jsonName: field.jsonName, presence: field.presence,
        packed: f.packed, scalar: field.scalar, message: field.message?.typeName, enum: field.enum?.typeName, oneof: field.oneof?.localName,
        mapKey: f.mapKey, listKind: f.listKind, mapKind: f.mapKind, utf8: f.utf8Validation, default: f.getDefaultValue?.(),
      };
    }),
    nested: m.nestedMessages.map(messageFacts),
    enums: m.nestedEnums.map((e) => [e.typeName, e.open, e.values.map((v) => [v.name, v.number, v.localName])]),
  };
}

function fileFacts(f: DescFile): unknown {
  return {
    name: f.name, edition: f.edition, deps: f.dependencies.map((d) => d.name),
    messages: f.messages.map(messageFacts),
    enums: f.enums.map((e) => [e.typeName, e.open, e.values.map((v) => [v.name, v.number, v.localName])]),
    services: f.services.map((s) => [s.typeName, s.methods.map((m) => [m.name, m.localName, m.methodKind, m.input.typeName, m.output.typeName])]),
  };
}

/** The base64 argument of a compiled generated module's `fileDesc` call. */
function embeddedBase64(module: string): string {
  const src = readFileSync(fileURLToPath(new URL(module, import.meta.url)), 'utf8');
  const m = src.match(/\bfileDesc\(\s*"([A-Za-z0-9+/=]+)"/);
  assert.ok(m, `${module} embeds a descriptor`);
  return m[1]!;
}

const files: { name: string; file: DescFile; imports?: DescFile[] }[] = [
  { name: 'kata/health', file: file_kata_health },
  { name: 'kata/oci', file: file_kata_oci },
  { name: 'kata/csi', file: file_kata_csi },
  { name: 'kata/types', file: file_kata_types },
  { name: 'kata/agent', file: file_kata_agent, imports: [file_kata_oci, file_kata_csi, file_kata_types, file_google_protobuf_empty] },
  { name: 'google/protobuf/empty', file: file_google_protobuf_empty },
];

for (const tc of files) {
  test(`${tc.name}: the packed descriptor unpacks to what fileDesc decodes`, () => {
    const packed = JSON.parse(JSON.stringify(packFileDescriptor(tc.file.proto))) as ReturnType<typeof packFileDescriptor>;
    assertSameShape(unpackFileDescriptor(packed), tc.file.proto, tc.name);
  });
}

const generated: { name: string; module: string; file: DescFile; imports?: DescFile[] }[] = [
  { name: 'kata/health', module: '../../shared/gen/kata/health_pb.js', file: file_kata_health },
  { name: 'kata/oci', module: '../../shared/gen/kata/oci_pb.js', file: file_kata_oci },
  { name: 'kata/agent', module: '../../shared/gen/kata/agent_pb.js', file: file_kata_agent, imports: files.find((f) => f.name === 'kata/agent')!.imports },
];

test('the kata files get precomputed graphs; a file with extensions falls back to the registry', () => {
  for (const tc of generated) assert.ok(packEmbedded(embeddedBase64(tc.module), tc.file).g, tc.name);
  const ext = { ...file_kata_health, proto: file_kata_health.proto, extensions: [{ kind: 'extension' }] } as unknown as DescFile;
  assert.equal(packEmbedded(embeddedBase64(generated[0]!.module), ext).g, undefined);
});

for (const tc of generated) {
  test(`${tc.name}: hydrateFileDesc builds the same descriptors as the generated module`, () => {
    const json = JSON.stringify(packFileDescriptor(decodeEmbedded(embeddedBase64(tc.module))));
    const hydrated = hydrateFileDesc(json, tc.imports);
    assert.deepEqual(fileFacts(hydrated), fileFacts(tc.file));
    assertSameShape(hydrated.proto, tc.file.proto, tc.name);
  });
}

/**
 * The same descriptor graph: same keys in the same order, same values, toString and
 * getDefaultValue answering the same, descriptors of imported files identical (===).
 */
function assertSameGraph(got: unknown, want: unknown, at: string, outside: ReadonlySet<unknown>, seen = new Map<unknown, unknown>()): void {
  if (want === null || typeof want !== 'object') {
    assert.equal(got, want, at);
    return;
  }
  if (outside.has(want)) {
    assert.equal(got, want, `${at} is the imported descriptor`);
    return;
  }
  if (seen.has(want)) {
    assert.equal(seen.get(want), got, `${at} is the same node`);
    return;
  }
  seen.set(want, got);
  if (Array.isArray(want)) {
    assert.ok(Array.isArray(got) && got.length === want.length, `${at} array`);
    want.forEach((w, i) => assertSameGraph((got as unknown[])[i], w, `${at}[${i}]`, outside, seen));
    return;
  }
  assert.ok(got !== null && typeof got === 'object', `${at} is an object`);
  assert.deepEqual(Object.keys(got), Object.keys(want), `${at} keys`);
  if (Object.getPrototypeOf(want) === Object.prototype) assert.equal(Object.getPrototypeOf(got), Object.prototype, `${at} prototype`);
  else assert.deepEqual({ ...(Object.getPrototypeOf(got) as object) }, { ...(Object.getPrototypeOf(want) as object) }, `${at} prototype defaults`);
  for (const k of Object.keys(want)) {
    const w: unknown = (want as Record<string, unknown>)[k];
    const g: unknown = (got as Record<string, unknown>)[k];
    if (typeof w === 'function') {
      assert.equal(typeof g, 'function', `${at}.${k} is a function`);
      assert.deepEqual((g as () => unknown).call(got), (w as () => unknown).call(want), `${at}.${k}()`);
    } else {
      assertSameGraph(g, w, `${at}.${k}`, outside, seen);
    }
  }
}

/** Every descriptor and message of the given files (identity set), imports included. */
function reachable(files: readonly DescFile[]): Set<unknown> {
  const out = new Set<unknown>();
  const walk = (v: unknown): void => {
    if (v === null || typeof v !== 'object' || out.has(v)) return;
    out.add(v);
    for (const x of Array.isArray(v) ? v : Object.values(v)) walk(x);
  };
  files.forEach(walk);
  return out;
}

for (const tc of files) {
  test(`${tc.name}: the precomputed graph is the registry's graph`, () => {
    const packed = JSON.stringify(packEmbedded(Buffer.from(toBinary(FileDescriptorProtoSchema, tc.file.proto)).toString('base64'), tc.file));
    const got = hydrateFileDesc(packed, tc.imports);
    assertSameGraph(got, tc.file, tc.name, reachable(tc.imports ?? []));
    assert.deepEqual(fileFacts(got), fileFacts(tc.file));
  });
}

test('a hydrated schema encodes and decodes like the generated one', () => {
  const imports = generated[2]!.imports;
  const b64 = embeddedBase64('../../shared/gen/kata/agent_pb.js');
  for (const agent of [hydrateFileDesc(JSON.stringify(packFileDescriptor(file_kata_agent.proto)), imports), hydrateFileDesc(JSON.stringify(packEmbedded(b64, file_kata_agent)), imports)]) {
    const want = file_kata_agent.messages.find((m) => m.name === 'CreateContainerRequest')!;
    const got = agent.messages.find((m) => m.name === 'CreateContainerRequest')!;
    const init = {
      containerId: 'c1', execId: 'e1', sandboxPidns: true,
      storages: [{ driver: 'overlayfs', source: 'none', options: ['ro'], mountPoint: '/run/x' }],
      OCI: { Version: '1.1.0', Hostname: 'h', Annotations: { a: 'b' }, Process: { Args: ['/bin/sh'], Terminal: false } },
    };
    const bytes = toBinary(want, create(want, init as never));
    assert.deepEqual(toBinary(got, create(got, init as never)), bytes);
    assert.deepEqual(toJson(got, fromBinary(got, bytes)), toJson(want, fromBinary(want, bytes)));
  }
});

test('rewriteFileDescCalls replaces every embedded descriptor and leaves other modules alone', () => {
  const src = 'import { fileDesc } from "x";\nexport const a = /*@__PURE__*/ fileDesc("CgdhLnByb3Rv", [b]);\n';
  const out = rewriteFileDescCalls(src, '/abs/file-desc.js');
  assert.ok(out);
  assert.ok(out.startsWith('import { hydrateFileDesc as __cocoletHydrateFileDesc } from "/abs/file-desc.js";\n'));
  assert.doesNotMatch(out, /fileDesc\("/);
  assert.match(out, /__cocoletHydrateFileDesc\("\{.*a\.proto.*\}", \[b\]\)/);
  assert.equal(rewriteFileDescCalls('export const x = 1;\n', '/abs/file-desc.js'), undefined);
});
