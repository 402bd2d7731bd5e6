import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../shared/log/logger.js';
import { convertResources } from './spec.js';
import { cpusOfResources, VcpuPinning } from './vcpu-pin.js';

function rig(vcpus: number): { p: VcpuPinning; calls: string[] } {
  const calls: string[] = [];
  const p = new VcpuPinning(silentLogger(), {
    threads: () => Array.from({ length: vcpus }, (_, index) => ({ index, tid: 100 + index })),
    setAffinity: (tid, cpus) => {
      calls.push(`${tid}:${cpus}`);
      return Promise.resolve();
    },
    onlineCpus: () => '0-15',
  });
  return { p, calls };
}

const cases: { name: string; vcpus: number; steps: [string, string | undefined][]; calls: string[][]; modes: (string | undefined)[] }[] = [
  { name: 'exclusive CPUs as many as vCPUs: one vCPU per CPU', vcpus: 2, steps: [['c1', '2,8']], calls: [['100:2', '101:8']], modes: ['1:1'] },
  { name: 'more CPUs than vCPUs: each vCPU may use the whole set', vcpus: 2, steps: [['c1', '0-1,3-7']], calls: [['100:0-1,3-7', '101:0-1,3-7']], modes: ['shared'] },
  {
    name: 'two containers: the union; one goes, the rest; all go, every online CPU back',
    vcpus: 2,
    steps: [['c1', '4'], ['c2', '5'], ['c2', undefined], ['c1', undefined]],
    calls: [['100:4', '101:4'], ['100:4', '101:5'], ['100:4', '101:4'], ['100:0-15', '101:0-15']],
    modes: ['shared', '1:1', 'shared', 'reset'],
  },
  { name: 'an unchanged set is not applied twice', vcpus: 1, steps: [['c1', '3'], ['c1', '3']], calls: [['100:3'], []], modes: ['1:1', undefined] },
  { name: 'no cpuset ever: the VM is left alone', vcpus: 1, steps: [['c1', undefined]], calls: [[]], modes: [undefined] },
  { name: 'a cpuset that is not a CPU list is ignored', vcpus: 1, steps: [['c1', '0-'], ['c2', '1']], calls: [[], ['100:1']], modes: [undefined, '1:1'] },
];
for (const tc of cases) {
  test(`vcpu pinning: ${tc.name}`, async () => {
    const { p, calls } = rig(tc.vcpus);
    for (const [i, [id, cpus]] of tc.steps.entries()) {
      calls.length = 0;
      p.record(id, cpus);
      const r = await p.apply(4242);
      assert.deepEqual(calls, tc.calls[i], `step ${i}`);
      assert.equal(r?.mode, tc.modes[i], `step ${i}`);
    }
  });
}

test('vcpu pinning: a VM without vCPU threads (process / fake hypervisor) is not touched', async () => {
  const calls: string[] = [];
  const p = new VcpuPinning(silentLogger(), { threads: () => [], setAffinity: (t, c) => void calls.push(`${t}:${c}`) as unknown as Promise<void> });
  p.record('c1', '1');
  assert.equal(await p.apply(1), undefined);
  assert.deepEqual(calls, []);
});

test('host cpusets and memory nodes never reach the guest', () => {
  const r = convertResources({ cpu: { shares: 1024, quota: 100000, period: 100000, cpus: '2,8', mems: '0' }, memory: { limit: 1 << 30 } });
  const cpu = r.CPU as Record<string, unknown>;
  assert.equal(cpu.Cpus, '');
  assert.equal(cpu.Mems, '');
  assert.equal(cpu.Shares, 1024n);
  assert.equal(cpusOfResources({ cpu: { cpus: ' 2,8 ' } }), '2,8');
  assert.equal(cpusOfResources({ cpu: { cpus: '' } }), undefined);
  assert.equal(cpusOfResources({ memory: {} }), undefined);
  assert.equal(cpusOfResources(undefined), undefined);
});
