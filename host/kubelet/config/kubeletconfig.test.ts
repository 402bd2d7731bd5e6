import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCocoletError, ErrorCode } from '../../../shared/errors/errors.js';
import { parseKubeletConfiguration, parseQuantity } from './kubeletconfig.js';
import { parseDuration } from './duration.js';
import { parseKubeletFlags, resolveSettings } from './flags.js';

test('defaults are the v1beta1 ones', () => {
  const c = parseKubeletConfiguration('apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n');
  assert.equal(c.syncFrequency, '1m');
  assert.equal(c.fileCheckFrequency, '20s');
  assert.equal(c.maxPods, 110);
  assert.equal(c.imageGCHighThresholdPercent, 85);
  assert.equal(c.imageGCLowThresholdPercent, 80);
  assert.equal(c.containerLogMaxSize, '10Mi');
  assert.equal(c.containerLogMaxFiles, 5);
  assert.equal(c.containerRuntimeEndpoint, 'unix:///run/containerd/containerd.sock');
  assert.deepEqual(c.evictionHard, {
    'memory.available': '100Mi',
    'nodefs.available': '10%',
    'nodefs.inodesFree': '5%',
    'imagefs.available': '15%',
    'imagefs.inodesFree': '5%',
  });
  assert.deepEqual(c.enforceNodeAllocatable, ['pods']);
});

test('setting evictionHard replaces the default map', () => {
  const c = parseKubeletConfiguration('evictionHard:\n  memory.available: 1Gi\n');
  assert.deepEqual(c.evictionHard, { 'memory.available': '1Gi' });
});

const invalid: { name: string; text: string; field: string }[] = [
  { name: 'unknown top-level field', text: 'staticPodPth: /x', field: 'staticPodPth' },
  { name: 'unknown nested field', text: 'authentication:\n  webhook:\n    enabld: true', field: 'authentication.webhook.enabld' },
  { name: 'bad duration', text: 'syncFrequency: soon', field: 'syncFrequency' },
  { name: 'nested bad duration', text: 'authentication:\n  webhook:\n    cacheTTL: 5', field: 'authentication.webhook.cacheTTL' },
  { name: 'wrong type', text: 'maxPods: "many"', field: 'maxPods' },
  { name: 'unknown eviction signal', text: 'evictionHard:\n  memory.avaliable: 1Gi', field: 'evictionHard.memory.avaliable' },
  { name: 'soft eviction without grace period', text: 'evictionSoft:\n  memory.available: 1Gi', field: 'evictionSoft.memory.available' },
  { name: 'eviction percentage over 100', text: 'evictionHard:\n  nodefs.available: 120%', field: 'evictionHard.nodefs.available' },
  { name: 'GC low above high', text: 'imageGCHighThresholdPercent: 50\nimageGCLowThresholdPercent: 60', field: 'imageGCLowThresholdPercent' },
  { name: 'wrong kind', text: 'kind: Pod', field: 'kind' },
  { name: 'bad log size', text: 'containerLogMaxSize: big', field: 'containerLogMaxSize' },
];
for (const tc of invalid) {
  test(`rejected: ${tc.name} (names ${tc.field})`, () => {
    assert.throws(
      () => parseKubeletConfiguration(tc.text),
      (e) => isCocoletError(e, ErrorCode.ConfigInvalid) && e.context.field === tc.field,
    );
  });
}

const durations: [string, number | undefined][] = [['1m', 60_000], ['10s', 10_000], ['2m0s', 120_000], ['100ms', 100], ['1h30m', 5_400_000], ['0', 0], ['5', undefined], ['1x', undefined]];
for (const [text, ms] of durations) test(`duration ${text}`, () => assert.equal(parseDuration(text), ms));

const quantities: [string, number | undefined][] = [['10Mi', 10 * 1024 * 1024], ['1G', 1e9], ['512', 512], ['1.5Ki', 1536], ['ten', undefined]];
for (const [q, n] of quantities) test(`quantity ${q}`, () => assert.equal(parseQuantity(q), n));

test('flags override the config file; both spellings of the node name work', () => {
  const { flags } = parseKubeletFlags([
    '--config=/etc/k.yaml', '--pod-manifest-path', '/m', '--container-runtime-endpoint=unix:///c.sock', '--root-dir', '/r',
    '--hostname-override', 'N1', '--runtime-class-handler', 'gpu=nvidia', '--max-pods=7',
  ]);
  const s = resolveSettings(flags, () => 'staticPodPath: /file\nmaxPods: 50\nsyncFrequency: 30s\n');
  assert.equal(s.config.staticPodPath, '/m');
  assert.equal(s.config.maxPods, 7);
  assert.equal(s.config.syncFrequency, '30s');
  assert.equal(s.config.containerRuntimeEndpoint, 'unix:///c.sock');
  assert.equal(s.rootDir, '/r');
  assert.equal(s.nodeName, 'n1');
  assert.equal(s.runtimeClassHandlers.gpu, 'nvidia');
  assert.equal(s.runtimeClassHandlers.cocolet, 'cocolet');
});

test('unknown and malformed flags are rejected naming the flag', () => {
  assert.throws(() => parseKubeletFlags(['--pod-manifest-pth=/x']), (e) => isCocoletError(e, ErrorCode.ConfigInvalid) && e.context.flag === 'pod-manifest-pth');
  assert.throws(() => parseKubeletFlags(['--max-pods=lots']), (e) => isCocoletError(e) && e.context.flag === 'max-pods');
  assert.throws(() => resolveSettings(parseKubeletFlags(['--sync-frequency=soon']).flags), (e) => isCocoletError(e) && e.context.field === 'syncFrequency');
});

test('eviction flags: --eviction-hard / --eviction-soft use signal<value, grace periods and reclaim signal=value', () => {
  const { flags } = parseKubeletFlags([
    '--config=/k.yaml',
    '--eviction-hard=memory.available<200Mi,nodefs.available<5%',
    '--eviction-soft',
    'memory.available<1Gi',
    '--eviction-minimum-reclaim=memory.available=100Mi',
    '--eviction-pressure-transition-period=1m',
    '--eviction-max-pod-grace-period=30',
    '--enforce-node-allocatable=pods,system-reserved',
  ]);
  const s = resolveSettings(flags, () => 'evictionSoftGracePeriod:\n  memory.available: 30s\n');
  assert.deepEqual(s.config.evictionHard, { 'memory.available': '200Mi', 'nodefs.available': '5%' });
  assert.deepEqual(s.config.evictionSoft, { 'memory.available': '1Gi' });
  assert.deepEqual(s.config.evictionSoftGracePeriod, { 'memory.available': '30s' });
  assert.deepEqual(s.config.evictionMinimumReclaim, { 'memory.available': '100Mi' });
  assert.equal(s.config.evictionPressureTransitionPeriod, '1m');
  assert.equal(s.config.evictionMaxPodGracePeriod, 30);
  assert.deepEqual(s.config.enforceNodeAllocatable, ['pods', 'system-reserved']);
  assert.throws(
    () => resolveSettings(parseKubeletFlags(['--eviction-soft=memory.available<1Gi']).flags),
    (e: unknown) => isCocoletError(e) && e.context.field === 'evictionSoft.memory.available',
  );
  assert.throws(() => parseKubeletFlags(['--eviction-hard=memory.available=1Gi']), /--eviction-hard: "memory.available=1Gi" is not signal<value/);
});
