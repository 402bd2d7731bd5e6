import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../../../shared/log/logger.js';
import { isCocoletError } from '../../../../shared/errors/errors.js';
import { FakeCri } from '../../../cri/fake.js';
import type { Pod } from '../../api/types.js';
import * as fx from '../machine/fixtures.js';
import { encodeCheckpoint } from './checkpoint.js';
import { criCpusetUpdater, criRunningContainers } from './cri.js';
import { CpuManager, reservedCpuCount, type CpuManagerOptions, type ReconcileSource } from './manager.js';
import { CpuSet } from '../../../../shared/cpuset/cpuset.js';
import { CpuState } from './state.js';
import { makePod } from './testing.js';

interface Harness {
  dir: string;
  logs: Record<string, unknown>[];
  make: (o?: Partial<CpuManagerOptions>) => CpuManager;
  file: () => Record<string, unknown>;
  done: () => void;
}

function harness(): Harness {
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-cpumgr-'));
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger({ component: 'cpumanager', level: 'info', destination: { write: (s: string) => void logs.push(JSON.parse(s) as Record<string, unknown>) } });
  return {
    dir,
    logs,
    make: (o = {}) =>
      new CpuManager({ policy: 'static', kubeReserved: { cpu: '500m' }, systemReserved: { cpu: '500m' }, topology: fx.dualSocketHT(), rootDir: dir, reconcilePeriodMs: 0, logger, now: () => new Date('2026-12-03T15:00:00Z'), ...o }),
    file: () => JSON.parse(readFileSync(join(dir, 'cpu_manager_state'), 'utf8')) as Record<string, unknown>,
    done: () => rmSync(dir, { recursive: true, force: true }),
  };
}

test('a fresh start writes the initial state; allocations are written through and survive a restart', () => {
  const h = harness();
  try {
    const m = h.make();
    m.start();
    assert.deepEqual(h.file().defaultCpuSet, '0-11');
    const pod = makePod('p1', 'c', '4', '4');
    m.allocate(pod, pod.spec.containers[0]!, null);
    assert.deepEqual(h.file().entries, { p1: { c: '2,4,8,10' } });
    assert.equal(h.file().defaultCpuSet, '0-1,3,5-7,9,11');
    assert.equal(m.cpusetFor('p1', 'c'), '2,4,8,10');
    assert.equal(m.cpusetFor('p1', 'other'), '0-1,3,5-7,9,11');

    const again = h.make();
    again.start();
    assert.equal(again.exclusiveCpus('p1', 'c')?.toString(), '2,4,8,10');
    again.removeContainer('p1', 'c');
    assert.equal(h.file().defaultCpuSet, '0-11');
    assert.equal('entries' in h.file(), false);
  } finally {
    h.done();
  }
});

const recoveries: { name: string; write: (h: Harness) => void; opts?: Partial<CpuManagerOptions>; expectDefault: string; expectKept: Record<string, string>; reason: RegExp }[] = [
  {
    name: 'garbage',
    write: (h) => writeFileSync(join(h.dir, 'cpu_manager_state'), '{"policyName": "sta'),
    expectDefault: '0-11',
    expectKept: {},
    reason: /^not JSON/,
  },
  {
    name: 'a checksum mismatch (hand-edited): entries that still fit are kept',
    write: (h) => {
      const text = encodeCheckpoint(new CpuState('static', S('0-1,3,5-7,9,11'), [{ podUid: 'p1', container: 'c', cpus: S('2,4,8,10') }]));
      writeFileSync(join(h.dir, 'cpu_manager_state'), text.replace('"0-1,3,5-7,9,11"', '"0-1,3,5-7,9"'));
    },
    expectDefault: '0-1,3,5-7,9,11',
    expectKept: { 'p1/c': '2,4,8,10' },
    reason: /checksum mismatch/,
  },
  {
    name: 'another policy',
    write: (h) => writeFileSync(join(h.dir, 'cpu_manager_state'), encodeCheckpoint(new CpuState('none'))),
    expectDefault: '0-11',
    expectKept: {},
    reason: /configured policy "static" differs from state checkpoint policy "none"/,
  },
  {
    name: 'more reserved CPUs than when it was written: the assignment on a now-reserved CPU is dropped',
    write: (h) => writeFileSync(join(h.dir, 'cpu_manager_state'), encodeCheckpoint(new CpuState('static', S('0,2-3,5,7-11'), [{ podUid: 'p1', container: 'a', cpus: S('6') }, { podUid: 'p2', container: 'b', cpus: S('1,4') }]))),
    opts: { kubeReserved: { cpu: '2' }, systemReserved: {} },
    expectDefault: '0,2-3,5-11',
    expectKept: { 'p2/b': '1,4' },
    reason: /not all reserved cpus: "0,6" are present in defaultCpuSet/,
  },
  {
    name: 'CPUs that went offline',
    write: (h) => writeFileSync(join(h.dir, 'cpu_manager_state'), encodeCheckpoint(new CpuState('static', S('0-11'), [{ podUid: 'p1', container: 'a', cpus: S('12-13') }]))),
    expectDefault: '0-11',
    expectKept: {},
    reason: /current set of available CPUs "0-11" doesn't match with CPUs in state "0-13"/,
  },
];
for (const tc of recoveries) {
  test(`a checkpoint with ${tc.name} does not stop the kubelet: set aside, logged, rebuilt`, () => {
    const h = harness();
    try {
      tc.write(h);
      const m = h.make(tc.opts);
      m.start();
      const s = m.currentState;
      assert.equal(s.defaultCpuSet.toString(), tc.expectDefault);
      assert.deepEqual(Object.fromEntries(s.assignments().map((a) => [`${a.podUid}/${a.container}`, a.cpus.toString()])), tc.expectKept);
      const aside = readdirSync(h.dir).filter((f) => f.startsWith('cpu_manager_state.corrupt-'));
      assert.deepEqual(aside, ['cpu_manager_state.corrupt-20261203T150000Z']);
      assert.equal(h.file().defaultCpuSet, tc.expectDefault, 'the rebuilt state is on disk');
      const err = h.logs.find((l) => l.msg === 'cpu manager checkpoint set aside; rebuilding the state');
      assert.ok(err, 'the recovery is logged');
      assert.match(String(err.reason), tc.reason);
      for (const key of Object.keys(tc.expectKept)) {
        const [pod, container] = key.split('/');
        assert.ok(h.logs.some((l) => l.msg === 'kept exclusive CPUs from the old checkpoint' && l.pod === pod && l.container === container));
      }
    } finally {
      h.done();
    }
  });
}

test('configuration errors are refused with the kubelet\'s messages', () => {
  const h = harness();
  try {
    assert.throws(() => h.make({ kubeReserved: {}, systemReserved: {} }), (e: unknown) => isCocoletError(e, 'COCOLET_CONFIG_INVALID') && /requires systemreserved.cpu \+ kubereserved.cpu to be greater than zero/.test(e.message));
    assert.throws(() => h.make({ policy: 'dynamic' }), /unknown policy: "dynamic"/);
    assert.throws(() => h.make({ policyOptions: { 'align-by-socket': 'true' } }), /CPU Manager Policy Alpha-level Options not enabled, but option "align-by-socket" provided/);
    assert.equal(h.make({ policyOptions: { 'align-by-socket': 'true' }, featureGates: { CPUManagerPolicyAlphaOptions: true } }).policy?.options.alignBySocket, true);
    assert.throws(() => h.make({ reservedSystemCPUs: '0-' }), /element "0-" is a range without an end/);
    assert.equal(h.make({ reservedSystemCPUs: '3,9', kubeReserved: {}, systemReserved: {} }).policy?.reserved.toString(), '3,9');
    assert.equal(reservedCpuCount({ cpu: '500m' }, { cpu: '1' }), 2);
    assert.equal(reservedCpuCount({ cpu: '100m' }, null), 1);
  } finally {
    h.done();
  }
});

test('the none policy hands out nothing and sets no cpuset', () => {
  const h = harness();
  try {
    const m = h.make({ policy: 'none' });
    m.start();
    const pod = makePod('p1', 'c', '2', '2');
    m.allocate(pod, pod.spec.containers[0]!, null);
    assert.equal(m.cpusetFor('p1', 'c'), undefined);
    assert.equal(m.getTopologyHints(pod, pod.spec.containers[0]!), null);
    assert.deepEqual(h.file(), JSON.parse(encodeCheckpoint(new CpuState('none'))));
  } finally {
    h.done();
  }
});

function fakeKubelet(cri: FakeCri, pods: Pod[]): ReconcileSource {
  return { activePods: () => pods, sourcesReady: () => true, runningContainers: () => criRunningContainers(cri) };
}

test('reconcile: every running container gets its cpuset once, and stale assignments are released', async () => {
  const h = harness();
  try {
    const cri = new FakeCri();
    cri.populate(3); // pods bulk-0..2, one running container c0 each
    const guaranteed = makePod('bulk-0', 'c0', '2', '2');
    const burstable = makePod('bulk-1', 'c0', '1', '2');
    const pods = [guaranteed, burstable];
    const m = h.make();
    m.start(fakeKubelet(cri, pods), criCpusetUpdater(cri));
    m.allocate(guaranteed, guaranteed.spec.containers[0]!, null);
    m.allocate(burstable, burstable.spec.containers[0]!, null);
    // an assignment left by a pod that is gone
    m.currentState.setCpuSet('gone', 'x', CpuSet.of(11));
    m.currentState.setDefaultCpuSet(m.currentState.defaultCpuSet.difference(CpuSet.of(11)));

    const r1 = await m.reconcile();
    assert.deepEqual(r1.released.map((a) => `${a.podUid}/${a.container}`), ['gone/x']);
    assert.ok(m.currentState.defaultCpuSet.has(11), 'released to the shared pool');
    const byPod = Object.fromEntries([...cri.resourceUpdates].map(([id, r]) => [cri.containers.get(id)!.config.labels!['io.kubernetes.pod.uid'], r.cpusetCpus]));
    assert.deepEqual(byPod, { 'bulk-0': '2,8', 'bulk-1': '0-1,3-7,9-11' });
    assert.equal(r1.updated.length, 2);

    const r2 = await m.reconcile();
    assert.equal(r2.updated.length, 0, 'unchanged cpusets are not sent again');

    // the guaranteed pod goes: its CPUs return, the shared container is widened
    pods.splice(0, 1);
    const r3 = await m.reconcile();
    assert.deepEqual(r3.released.map((a) => a.podUid), ['bulk-0']);
    assert.equal(m.currentState.defaultCpuSet.toString(), '0-11');
    const burstableId = cri.running('bulk-1', 'c0')!.id;
    assert.equal(cri.resourceUpdates.get(burstableId)?.cpusetCpus, '0-11');
    await m.stop();
  } finally {
    h.done();
  }
});

test('reconcile: a failed update is reported and retried next time; nothing is released before the sources are ready', async () => {
  const h = harness();
  try {
    const cri = new FakeCri();
    cri.populate(1);
    const pod = makePod('bulk-0', 'c0', '2', '2');
    let ready = false;
    const m = h.make();
    m.start({ activePods: () => (ready ? [pod] : []), sourcesReady: () => ready, runningContainers: () => criRunningContainers(cri) }, criCpusetUpdater(cri));
    m.allocate(pod, pod.spec.containers[0]!, null);
    const r0 = await m.reconcile();
    assert.equal(r0.released.length, 0, 'the pod is not known yet: its CPUs stay');
    ready = true;
    cri.failNext('UpdateContainerResources');
    const r1 = await m.reconcile();
    assert.equal(r1.failed.length, 1);
    assert.match(r1.failed[0]!.error, /injected UpdateContainerResources failure/);
    assert.ok(h.logs.some((l) => l.msg === 'cannot update the container cpuset' && l.pod === 'bulk-0' && l.container === 'c0'));
    const r2 = await m.reconcile();
    assert.equal(r2.updated.length, 1);
    assert.equal(cri.resourceUpdates.get(cri.running('bulk-0', 'c0')!.id)?.cpusetCpus, '2,8');
  } finally {
    h.done();
  }
});

test('the reconcile loop runs on its period and stops', async () => {
  const h = harness();
  try {
    const cri = new FakeCri();
    cri.populate(1);
    const pod = makePod('bulk-0', 'c0', '2', '2');
    const m = h.make({ reconcilePeriodMs: 5 });
    m.start(fakeKubelet(cri, [pod]), criCpusetUpdater(cri));
    m.allocate(pod, pod.spec.containers[0]!, null);
    const id = cri.running('bulk-0', 'c0')!.id;
    while (cri.resourceUpdates.get(id)?.cpusetCpus !== '2,8') await new Promise((r) => setTimeout(r, 5));
    await m.stop();
    assert.ok(existsSync(join(h.dir, 'cpu_manager_state')));
  } finally {
    h.done();
  }
});

const S = (s: string): CpuSet => CpuSet.parse(s);
