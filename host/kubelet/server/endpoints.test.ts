import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { ContainerStatsSchema } from '../../../shared/gen/cri/runtime/v1/api_pb.js';
import { Labels } from '../api/types.js';
import type { PodRecord } from '../status/manager.js';
import { HttpError, parseLogQuery, parseLogsPath, podList, procNodeStats, renderLogs, summary } from './endpoints.js';

const q = (s: string): URLSearchParams => new URLSearchParams(s);

test('containerLogs path: namespace, pod, container (URL-decoded); anything else is a 404', () => {
  assert.deepEqual(parseLogsPath('/containerLogs/default/web-n1/app'), { namespace: 'default', pod: 'web-n1', container: 'app' });
  assert.deepEqual(parseLogsPath('/containerLogs/kube%2Dsystem/p/c'), { namespace: 'kube-system', pod: 'p', container: 'c' });
  for (const p of ['/containerLogs/default/p', '/containerLogs/default/p/c/extra', '/containerLogs//p/c']) {
    assert.throws(() => parseLogsPath(p), (e: unknown) => e instanceof HttpError && e.status === 404 && e.message.includes(p));
  }
});

test('log query: defaults, valid values, and errors naming the parameter', () => {
  assert.deepEqual(parseLogQuery(q('')), { timestamps: false, previous: false });
  assert.deepEqual(parseLogQuery(q('tailLines=3&limitBytes=10&timestamps=true&previous=1')), { tailLines: 3, limitBytes: 10, timestamps: true, previous: true });
  assert.deepEqual(parseLogQuery(q('tailLines=0&timestamps')), { tailLines: 0, timestamps: true, previous: false });
  const bad: [string, RegExp][] = [
    ['tailLines=-1', /tailLines: must be zero or more/],
    ['tailLines=x', /tailLines: must be an integer/],
    ['limitBytes=0', /limitBytes: must be at least 1/],
    ['previous=maybe', /previous: must be true or false/],
    ['follow=perhaps', /follow: must be true or false/],
    ['sinceSeconds=0', /sinceSeconds: must be at least 1/],
    ['sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z', /sinceSeconds and sinceTime: at most one/],
    ['sinceTime=yesterday', /sinceTime: must be an RFC 3339 time/],
    ['sinceTime=2026-01-01', /sinceTime: must be an RFC 3339 time/],
  ];
  for (const [s, re] of bad) assert.throws(() => parseLogQuery(q(s)), (e: unknown) => e instanceof HttpError && e.status === 400 && re.test(e.message), s);
});

test('log query: follow, and since as an absolute time from sinceSeconds or sinceTime', () => {
  assert.deepEqual(parseLogQuery(q('follow=true'), 0), { timestamps: false, previous: false, follow: true });
  assert.deepEqual(parseLogQuery(q('sinceSeconds=10'), 100_000), { timestamps: false, previous: false, sinceMs: 90_000 });
  assert.equal(parseLogQuery(q('sinceTime=2026-01-01T00:00:01.5%2B01:00')).sinceMs, Date.parse('2026-01-01T00:00:01.500+01:00'));
});

test('renderLogs: since keeps entries at or after the time, then the tail applies', () => {
  const entries = ['one', 'two', 'three', 'four'].map((text, i) => ({ time: `2026-01-01T00:00:0${i}.000000001Z`, stream: 'stdout' as const, text }));
  const since = (t: string, extra = ''): string => renderLogs(entries, parseLogQuery(q(`sinceTime=${t}${extra}`))).toString();
  assert.equal(since('2026-01-01T00:00:02Z'), 'three\nfour\n');
  assert.equal(since('2026-01-01T00:00:01Z', '&tailLines=1'), 'four\n');
  assert.equal(since('2026-01-01T00:00:09Z'), '');
  assert.equal(renderLogs(entries, parseLogQuery(q('sinceSeconds=2'), Date.parse('2026-01-01T00:00:03Z'))).toString(), 'two\nthree\nfour\n');
});

test('renderLogs: tail, timestamps, then the byte limit', () => {
  const entries = ['one', 'two', 'three', 'four'].map((text, i) => ({ time: `2026-01-01T00:00:0${i}Z`, stream: 'stdout' as const, text }));
  const r = (s: string): string => renderLogs(entries, parseLogQuery(q(s))).toString();
  assert.equal(r(''), 'one\ntwo\nthree\nfour\n');
  assert.equal(r('tailLines=2'), 'three\nfour\n');
  assert.equal(r('tailLines=0'), '');
  assert.equal(r('tailLines=10'), 'one\ntwo\nthree\nfour\n');
  assert.equal(r('tailLines=1&timestamps=true'), '2026-01-01T00:00:03Z four\n');
  assert.equal(r('limitBytes=6'), 'one\ntw');
  assert.equal(r('tailLines=2&limitBytes=100'), 'three\nfour\n');
  assert.equal(renderLogs([{ time: 't', stream: 'stdout', text: 'héllo' }], { limitBytes: 2, timestamps: false, previous: false }).length, 2, 'the limit counts bytes');
});

const rec = (name: string, uid: string, containers: { name: string; id: string }[]): PodRecord => ({
  pod: { metadata: { name, namespace: 'default', uid }, spec: { containers: containers.map((c) => ({ name: c.name, image: 'busybox' })) } } as PodRecord['pod'],
  status: {
    phase: 'Running',
    conditions: [],
    startTime: '2026-01-01T00:00:00Z',
    containerStatuses: containers.map((c) => ({ name: c.name, containerID: `containerd://${c.id}`, state: { running: { startedAt: '2026-01-01T00:00:01Z' } }, lastState: {}, ready: true, restartCount: 0, image: 'busybox', imageID: '' })),
  },
});

test('podList: a v1 PodList of the records with their status, sorted', () => {
  const l = podList([rec('b', 'u2', []), rec('a', 'u1', [{ name: 'c', id: 'x' }])]);
  assert.equal(l.kind, 'PodList');
  assert.equal(l.apiVersion, 'v1');
  assert.deepEqual(l.items.map((p) => [p.kind, p.apiVersion, p.metadata.name, p.status?.phase]), [['Pod', 'v1', 'a', 'Running'], ['Pod', 'v1', 'b', 'Running']]);
  assert.equal(l.items[0]!.status?.containerStatuses?.[0]?.containerID, 'containerd://x');
});

function fakeProc(busy: number, idle: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'ccl-proc-'));
  writeFileSync(join(dir, 'stat'), `cpu  ${busy} 0 0 ${idle} 50 0 0 0 0 0\ncpu0 1 2 3 4\nbtime 1700000000\n`);
  writeFileSync(join(dir, 'meminfo'), 'MemTotal:       1000 kB\nMemFree:         200 kB\nMemAvailable:    600 kB\n');
  return dir;
}

test('procNodeStats: busy jiffies as nanoseconds, memory in bytes, boot time', (t) => {
  const dir = fakeProc(300, 1000);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const s = procNodeStats(dir, 5000);
  assert.equal(s.usageCoreNanoSeconds, 300 * 1e7);
  assert.equal(s.memTotal, 1000 * 1024);
  assert.equal(s.memAvailable, 600 * 1024);
  assert.equal(s.time, 5000 * 1e6);
  assert.equal(s.bootTime, new Date(1700000000 * 1000).toISOString());
});

test('summary: node rates from two samples, running containers grouped by pod UID (an exited instance left out), pod totals', () => {
  const stat = (id: string, uid: string, name: string, cpu: bigint, ws: bigint) =>
    create(ContainerStatsSchema, {
      attributes: { id, metadata: { name }, labels: { [Labels.podUid]: uid, [Labels.containerName]: name } },
      cpu: { timestamp: 2_000_000_000n, usageCoreNanoSeconds: { value: cpu } },
      memory: { timestamp: 2_000_000_000n, workingSetBytes: { value: ws } },
    });
  const node = { time: 2e9, usageCoreNanoSeconds: 3e9, memTotal: 1000, memAvailable: 600, memFree: 200, bootTime: 'b' };
  const prevNode = { ...node, time: 1e9, usageCoreNanoSeconds: 2.5e9 };
  const s = summary({
    nodeName: 'n1',
    node,
    prevNode,
    pods: [rec('web', 'u1', [{ name: 'app', id: 'c1' }, { name: 'side', id: 'c2' }]), rec('idle', 'u2', [])],
    stats: [stat('c1', 'u1', 'app', 700n, 10n), stat('c2', 'u1', 'side', 300n, 5n), stat('c0', 'u1', 'app', 0n, 0n), stat('c9', 'other', 'x', 1n, 1n)],
  });
  assert.equal(s.node.nodeName, 'n1');
  assert.equal(s.node.cpu.usageNanoCores, 0.5e9, 'half a core over the last second');
  assert.equal(s.node.memory.workingSetBytes, 400);
  assert.equal(s.node.memory.availableBytes, 600);
  assert.deepEqual(s.pods.map((p) => p.podRef.name), ['idle', 'web']);
  const web = s.pods[1]!;
  assert.deepEqual(web.containers.map((c) => [c.name, c.cpu.usageCoreNanoSeconds, c.memory.workingSetBytes, c.startTime]), [['app', 700, 10, '2026-01-01T00:00:01Z'], ['side', 300, 5, '2026-01-01T00:00:01Z']]);
  assert.equal(web.cpu.usageCoreNanoSeconds, 1000);
  assert.equal(web.memory.workingSetBytes, 15);
  assert.equal(web.containers[0]!.cpu.time, new Date(2000).toISOString());
  assert.deepEqual(s.pods[0]!.containers, []);
  assert.equal(summary({ nodeName: 'n1', node, pods: [], stats: [] }).node.cpu.usageNanoCores, undefined, 'no rate from one sample');
});
