import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as fx from '../machine/fixtures.js';
import { CpuSet } from '../../../../shared/cpuset/cpuset.js';
import type { MachineTopology } from '../types.js';
import { explainCpus } from './cpus.js';

const input = (m: () => MachineTopology, available: string, count: number, policyOptions?: Record<string, string>, extra: Record<string, unknown> = {}): unknown => ({
  topology: { cpus: m().cpus },
  available: CpuSet.parse(available).toArray(),
  count,
  ...(policyOptions ? { policyOptions } : {}),
  ...extra,
});

// Expected answers are the upstream kubelet's (cpu_assignment_test.go / policy_static_test.go) for
// the option that selects each algorithm.
const decisions: { name: string; in: unknown; out: { cpus: string } | { error: string } }[] = [
  { name: 'packed: two CPUs are one whole core', in: input(fx.singleSocketHT, '0-7', 2), out: { cpus: '0,4' } },
  { name: 'packed: best fit fills the fuller NUMA node', in: input(fx.dualSocketMultiNumaPerSocketHT, '10-39,50-79', 20), out: { cpus: '10-19,50-59' } },
  { name: 'packed: 8-NUMA machine, one NUMA node', in: input(fx.dualSocketMultiNumaPerSocketHTLarge, '0-255', 32), out: { cpus: '0-15,128-143' } },
  { name: 'distribute-cpus-across-cores: one thread per core first', in: input(fx.dualSocketHT, '0-11', 8, { 'distribute-cpus-across-cores': 'true' }), out: { cpus: '0-4,6,8,10' } },
  { name: 'distribute-cpus-across-numa: 4 cores split over both nodes', in: input(fx.dualSocketHT, '0-11', 8, { 'distribute-cpus-across-numa': 'true' }), out: { cpus: '0-3,6-9' } },
  {
    name: 'distribute-cpus-across-numa + full-pcpus-only: groups of 2 (whole cores)',
    in: input(fx.dualSocketMultiNumaPerSocketHT, '0-79', 26, { 'distribute-cpus-across-numa': 'true', 'full-pcpus-only': 'true' }),
    out: { cpus: '0-6,10-15,40-46,50-55' },
  },
  {
    name: 'distribute-cpus-across-numa on the 8-NUMA machine (upstream live-machine regression)',
    in: input(fx.dualSocketMultiNumaPerSocketHTLarge, '0,128,30,31,158,159,43-47,171-175,62,63,190,191,75-79,203-207,94,96,222,223,101-111,229-239,126,127,254,255', 28, { 'distribute-cpus-across-numa': 'true' }),
    out: { cpus: '43-47,75-79,96,101-105,171-174,203-206,229-232' },
  },
  { name: 'full-pcpus-only: odd request', in: input(fx.singleSocketHT, '0-7', 3, { 'full-pcpus-only': 'true' }), out: { error: 'SMT Alignment Error: requested 3 cpus not multiple cpus per core = 2' } },
  {
    name: 'full-pcpus-only: more than the free CPUs',
    in: input(fx.singleSocketHT, '0-3', 6, { 'full-pcpus-only': 'true' }),
    out: { error: 'SMT Alignment Error: not enough free physical CPUs: available physical CPUs = 4, requested CPUs = 6, CPUs per core = 2' },
  },
  { name: 'full-pcpus-only: whole cores', in: input(fx.dualSocketHT, '0-11', 4, { 'full-pcpus-only': 'true' }), out: { cpus: '0,2,6,8' } },
  { name: 'not enough CPUs', in: input(fx.singleSocketHT, '0,2,4,6', 5), out: { error: 'not enough cpus available to satisfy request: requested=5, available=4' } },
  { name: 'numaAffinity: take from the hinted node first', in: input(fx.dualSocketHT, '0-11', 2, undefined, { numaAffinity: [1] }), out: { cpus: '1,7' } },
  {
    name: 'numaAffinity: the hinted node cannot hold it all, the rest comes from anywhere',
    in: input(fx.dualSocketHT, '0-11', 8, undefined, { numaAffinity: [1] }),
    out: { cpus: '0-1,3,5-7,9,11' },
  },
  {
    name: 'align-by-socket widens the hint to the whole socket',
    in: input(fx.dualSocketMultiNumaPerSocketHT, '0-79', 24, { 'align-by-socket': 'true' }, { numaAffinity: [1] }),
    out: { cpus: '0-11,40-51' },
  },
  {
    name: 'without align-by-socket the same hint takes its NUMA node, then the fullest elsewhere',
    in: input(fx.dualSocketMultiNumaPerSocketHT, '0-79', 24, undefined, { numaAffinity: [1] }),
    out: { cpus: '0-1,10-19,40-41,50-59' },
  },
  { name: 'zero CPUs', in: input(fx.singleSocketHT, '0-7', 0), out: { cpus: '' } },
];
for (const tc of decisions) {
  test(`explain cpus: ${tc.name}`, () => {
    const got = explainCpus(tc.in);
    if ('error' in tc.out) assert.deepEqual(got, tc.out);
    else assert.deepEqual(got, { cpus: CpuSet.parse(tc.out.cpus).toArray() });
  });
}

const invalid: { name: string; in: unknown; error: RegExp }[] = [
  { name: 'not an object', in: [], error: /input: must be an object/ },
  { name: 'an unknown field', in: { ...(input(fx.singleSocketHT, '0-7', 1) as object), extra: 1 }, error: /unknown field "extra"/ },
  { name: 'no topology', in: { available: [0], count: 1 }, error: /topology: must be an object/ },
  { name: 'a CPU without core', in: { topology: { cpus: [{ cpu: 0, socket: 0, numa: 0 }] }, available: [0], count: 1 }, error: /cpus\[0\] lacks "core"/ },
  { name: 'a core on two sockets', in: { topology: { cpus: [{ cpu: 0, core: 0, socket: 0, numa: 0 }, { cpu: 1, core: 0, socket: 1, numa: 1 }] }, available: [0], count: 1 }, error: /share core 0 .* core ids must be unique/ },
  { name: 'an available CPU not in the topology', in: input(fx.singleSocketHT, '0-7', 1, undefined, { available: [0, 9] }), error: /available: cpus 9 are not in the topology/ },
  { name: 'a negative count', in: input(fx.singleSocketHT, '0-7', -1), error: /count: must be a non-negative integer/ },
  { name: 'an unknown option', in: input(fx.singleSocketHT, '0-7', 1, { 'pack-tightly': 'true' }), error: /unknown CPU Manager Policy option: "pack-tightly"/ },
  { name: 'a bad option value', in: input(fx.singleSocketHT, '0-7', 1, { 'full-pcpus-only': 'yes' }), error: /bad value for option "full-pcpus-only": strconv.ParseBool: parsing "yes": invalid syntax/ },
  {
    name: 'incompatible options',
    in: input(fx.singleSocketHT, '0-7', 2, { 'full-pcpus-only': 'true', 'distribute-cpus-across-cores': 'true' }),
    error: /static policy options full-pcpus-only and distribute-cpus-across-cores can not be used at the same time/,
  },
  { name: 'align-by-socket with more sockets than NUMA nodes', in: input(fx.multiSocketDualSocketPerNumaHT, '0-79', 2, { 'align-by-socket': 'true' }), error: /Align by socket is not compatible/ },
  { name: 'an unsupported option', in: input(fx.singleSocketHT, '0-7', 2, { 'prefer-align-cpus-by-uncorecache': 'true' }), error: /not supported by cocolet/ },
  { name: 'a NUMA affinity naming no node', in: input(fx.singleSocketHT, '0-7', 2, undefined, { numaAffinity: [3] }), error: /numaAffinity: must list NUMA node ids of the topology \(0\)/ },
];
for (const tc of invalid) {
  test(`explain cpus refuses ${tc.name}`, () => {
    assert.throws(() => explainCpus(tc.in), tc.error);
  });
}

test('`cocolet explain cpus` reads stdin and prints the answer (exit 0 for decisions, 1 for bad input)', (t) => {
  const bin = join(process.env.COCOLET_ROOT ?? process.cwd(), 'dist/host/cmd/cocolet.js');
  if (!existsSync(bin)) return t.skip('dist/host/cmd/cocolet.js is not built');
  const run = (stdin: string): { status: number | null; out: unknown } => {
    const r = spawnSync(process.execPath, [bin, 'explain', 'cpus'], { input: stdin, encoding: 'utf8' });
    return { status: r.status, out: JSON.parse(r.stdout) };
  };
  assert.deepEqual(run(JSON.stringify(input(fx.dualSocketHT, '0-11', 6))), { status: 0, out: { cpus: [0, 2, 4, 6, 8, 10] } });
  assert.deepEqual(run(JSON.stringify(input(fx.singleSocketHT, '0-1', 4))), { status: 0, out: { error: 'not enough cpus available to satisfy request: requested=4, available=2' } });
  const bad = run('{"count": 1}');
  assert.equal(bad.status, 1);
  assert.match((bad.out as { error: string }).error, /topology: must be an object/);
});
