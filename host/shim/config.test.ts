import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseShimConfig, sandboxSettings, defaultShimConfig, INIT_DATA_ANNOTATION, NUMA_NODES_ANNOTATION } from './config.js';
import { isCocoletError, ErrorCode } from '../../shared/errors/errors.js';

test('config: empty file gives the defaults', () => {
  assert.deepEqual(parseShimConfig(''), defaultShimConfig());
});

test('config: full example parses', () => {
  const c = parseShimConfig(`
[hypervisor]
kind = "process"
image_dir = "/k/guest"
default_vcpus = 2
default_memory = 1024
enable_annotations = ["default_memory"]
[agent]
dial_timeout = 30
command = ["node", "/x/agent.js"]
[runtime]
socket_dir = "/tmp/s"
`);
  assert.equal(c.hypervisor.kind, 'process');
  assert.equal(c.hypervisor.imageDir, '/k/guest');
  assert.equal(c.hypervisor.defaultVcpus, 2);
  assert.equal(c.hypervisor.defaultMemoryMiB, 1024);
  assert.deepEqual(c.agent.command, ['node', '/x/agent.js']);
  assert.equal(c.agent.dialTimeoutS, 30);
  assert.equal(c.runtime.socketDir, '/tmp/s');
});

test('config: a hardware-TEE launch (SNP with its firmware and CPU model); the default is the development TEE', () => {
  assert.equal(defaultShimConfig().hypervisor.confidentialGuest, 'none');
  const c = parseShimConfig('[hypervisor]\nconfidential_guest = "snp"\nfirmware = "/usr/share/ovmf/OVMF.amdsev.fd"\nsnp_cpu = "EPYC-Milan"\n');
  assert.equal(c.hypervisor.confidentialGuest, 'snp');
  assert.equal(c.hypervisor.firmware, '/usr/share/ovmf/OVMF.amdsev.fd');
  assert.equal(c.hypervisor.snpCpu, 'EPYC-Milan');
  assert.equal(parseShimConfig('[hypervisor]\nconfidential_guest = "tdx"').hypervisor.confidentialGuest, 'tdx');
});

const invalid = [
  { name: 'bad TOML', text: '[hypervisor' },
  { name: 'unknown kind', text: '[hypervisor]\nkind = "firecracker"' },
  { name: 'unknown section', text: '[hypervisorr]\nkind = "qemu"' },
  { name: 'unknown key', text: '[hypervisor]\nvcpus = 2' },
  { name: 'vcpus zero', text: '[hypervisor]\ndefault_vcpus = 0' },
  { name: 'memory as string', text: '[hypervisor]\ndefault_memory = "1G"' },
  { name: 'relative image dir', text: '[hypervisor]\nimage_dir = "guest"' },
  { name: 'unknown confidential guest', text: '[hypervisor]\nconfidential_guest = "sev"' },
  { name: 'SNP on the process hypervisor', text: '[hypervisor]\nkind = "process"\nconfidential_guest = "snp"' },
  { name: 'relative firmware path', text: '[hypervisor]\nfirmware = "OVMF.fd"' },
  { name: 'kernel/initrd are not separate keys (the image dir holds them)', text: '[hypervisor]\nkernel = "/k/vmlinuz"' },
  { name: 'unknown annotation key', text: '[hypervisor]\nenable_annotations = ["path"]' },
];
for (const tc of invalid) {
  test(`config rejects: ${tc.name}`, () => {
    assert.throws(() => parseShimConfig(tc.text), (e) => isCocoletError(e, ErrorCode.ConfigInvalid));
  });
}

const overrides: { name: string; ann: Record<string, string>; want: Record<string, unknown> }[] = [
  { name: 'no annotations', ann: {}, want: { vcpus: 1, memoryMiB: 512 } },
  { name: 'allowed memory override', ann: { 'io.katacontainers.config.hypervisor.default_memory': '2048' }, want: { memoryMiB: 2048 } },
  { name: 'init-data passes untouched', ann: { [INIT_DATA_ANNOTATION]: 'H4sI  raw==' }, want: { initData: 'H4sI  raw==' } },
  { name: 'other prefixes ignored', ann: { 'io.kubernetes.cri.sandbox-id': 'x' }, want: { vcpus: 1 } },
];
for (const tc of overrides) {
  test(`config overrides: ${tc.name}`, () => {
    const s = sandboxSettings(defaultShimConfig(), tc.ann);
    for (const [k, v] of Object.entries(tc.want)) assert.equal((s as unknown as Record<string, unknown>)[k], v);
  });
}

test('config overrides: a key outside the allow-list is refused', () => {
  const c = parseShimConfig('[hypervisor]\nenable_annotations = ["default_vcpus"]');
  assert.throws(() => sandboxSettings(c, { 'io.katacontainers.config.hypervisor.default_memory': '4096' }), (e) => isCocoletError(e, ErrorCode.PermissionDenied));
});

test('NUMA nodes of the sandbox (io.cocolet.numa-nodes, set by the kubelet): parsed into the VM settings; absent or empty: none; malformed: refused naming the annotation', () => {
  const cfg = defaultShimConfig();
  assert.deepEqual(sandboxSettings(cfg, { [NUMA_NODES_ANNOTATION]: '1,0,3-4' }).numaNodes, [0, 1, 3, 4]);
  assert.equal(sandboxSettings(cfg, {}).numaNodes, undefined);
  assert.equal(sandboxSettings(cfg, { [NUMA_NODES_ANNOTATION]: ' ' }).numaNodes, undefined);
  assert.throws(() => sandboxSettings(cfg, { [NUMA_NODES_ANNOTATION]: '0,one' }), (e: unknown) => isCocoletError(e, ErrorCode.InvalidArgument) && /annotation io\.cocolet\.numa-nodes: element "one"/.test(e.message));
});

test('config overrides: malformed vcpus refused', () => {
  assert.throws(() => sandboxSettings(defaultShimConfig(), { 'io.katacontainers.config.hypervisor.default_vcpus': 'many' }), (e) => isCocoletError(e, ErrorCode.InvalidArgument));
});

test('init-data: base64(gzip(TOML)), base64(TOML) and plain TOML all give the same document bytes', async () => {
  const { gzipSync } = await import('node:zlib');
  const { decodeInitData } = await import('./initdata.js');
  const toml = 'version = "0.1.0"\nalgorithm = "sha256"\n[data]\n"policy.json" = \'{}\'\n';
  for (const enc of [gzipSync(Buffer.from(toml)).toString('base64'), Buffer.from(toml).toString('base64'), toml]) {
    assert.equal(Buffer.from(decodeInitData(enc)).toString('utf8'), toml);
  }
});

test('config: the example in examples/shim/configuration.toml is valid and says the defaults', async () => {
  const { readFileSync, existsSync } = await import('node:fs');
  const { dirname, join } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  let root = process.env.COCOLET_ROOT ?? dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8 && !existsSync(join(root, 'package.json')); i++) root = dirname(root);
  const c = parseShimConfig(readFileSync(join(root, 'examples', 'shim', 'configuration.toml'), 'utf8'));
  assert.deepEqual(c, defaultShimConfig());
});
