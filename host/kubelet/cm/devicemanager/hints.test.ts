import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../../api/types.js';
import { generateDeviceHints, numaCombinations, podDeviceRequests, type DeviceInfo } from './hints.js';

function devices(numa: (number | undefined)[]): Map<string, DeviceInfo> {
  return new Map(numa.map((n, i) => [`d${i}`, { id: `d${i}`, healthy: true, numa: n === undefined ? [] : [n] }]));
}
const ids = (m: Map<string, DeviceInfo>, pick?: number[]): string[] => [...m.keys()].filter((_, i) => !pick || pick.includes(i));
const fmt = (h: { numaAffinity: number[] | null; preferred: boolean }[]): string[] => h.map((x) => `${x.numaAffinity?.join('') ?? '*'}${x.preferred ? '+' : '-'}`);

test('numaCombinations: by size, then lexicographic', () => {
  assert.deepEqual(numaCombinations([1, 0, 2]), [[0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]]);
});

const hintCases: { name: string; numa: (number | undefined)[]; available?: number[]; reusable?: number[]; request: number; want: string[] }[] = [
  { name: 'one device per node, request 1: each node preferred', numa: [0, 1], request: 1, want: ['0+', '1+', '01-'] },
  { name: 'request 2 with 2 per node: single nodes preferred', numa: [0, 0, 1, 1], request: 2, want: ['0+', '1+', '01-'] },
  { name: 'request 3 needs both nodes', numa: [0, 0, 1, 1], request: 3, want: ['01+'] },
  { name: 'node 0 busy: only node 1 or both', numa: [0, 0, 1, 1], available: [2, 3], request: 2, want: ['1+', '01-'] },
  { name: 'busy devices still set the narrowest size', numa: [0, 0, 1, 1], available: [0, 2], request: 2, want: ['01-'] },
  { name: 'device without NUMA belongs to every node', numa: [0, undefined], request: 2, want: ['0+', '01-'] },
  { name: 'devices without NUMA fit on any single node', numa: [0, undefined, undefined], available: [1, 2], request: 2, want: ['0+', '1+', '01-'] },
  { name: 'reusable device pins the node', numa: [0, 0, 1, 1], available: [2, 3], reusable: [0], request: 1, want: ['0+', '01-'] },
  { name: 'not enough anywhere: no hints', numa: [0, 1], request: 3, want: [] },
];

for (const tc of hintCases) {
  test(`device hints: ${tc.name}`, () => {
    const all = devices(tc.numa);
    const h = generateDeviceHints([0, 1], all, ids(all, tc.available), tc.reusable ? ids(all, tc.reusable) : [], tc.request);
    assert.deepEqual(fmt(h), tc.want);
  });
}

test('pod device requests: max of app sum (with sidecars) and each init container', () => {
  const isDev = (r: string): boolean => r === 'example.com/widget';
  const lim = (n: number) => ({ resources: { limits: { 'example.com/widget': n, cpu: '1' } } });
  const pod = {
    metadata: { name: 'p', uid: 'u' },
    spec: {
      initContainers: [
        { name: 'side', image: 'i', restartPolicy: 'Always', ...lim(1) },
        { name: 'init', image: 'i', ...lim(3) },
      ],
      containers: [
        { name: 'a', image: 'i', ...lim(1) },
        { name: 'b', image: 'i', ...lim(1) },
      ],
    },
  } as unknown as Pod;
  assert.deepEqual([...podDeviceRequests(pod, isDev)], [['example.com/widget', 4]]);
});
