// The API status writer (patch only on change, uid precondition, nulls for dropped keys, hostIP,
// PodScheduled kept, final delete of gracefully deleted pods) and the event sink (aggregation,
// spam filter) against in-memory PodApi fakes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, PodStatus } from '../api/types.js';
import type { ObjectRef } from '../sources/apiclient.js';
import { ApiEventSink, EVENT_BURST } from './apievents.js';
import { ApiStatusWriter, apiStatus, statusPatch } from './apistatus.js';

const apiPod = (extra: Partial<Pod['metadata']> = {}, status?: Pod['status']): Pod => ({
  metadata: { name: 'web', namespace: 'ns', uid: 'u1', generation: 2, annotations: { 'kubernetes.io/config.source': 'api' }, ...extra },
  spec: { containers: [{ name: 'c', image: 'i' }] },
  ...(status ? { status } : {}),
});
const st = (phase: PodStatus['phase'], message?: string): PodStatus => ({
  phase,
  conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-01-01T00:00:01Z' }],
  containerStatuses: [],
  ...(message ? { message } : {}),
});

class FakePodApi {
  calls: { op: string; ref: ObjectRef; body: unknown }[] = [];
  fail: number | undefined;
  patchPodStatus(ref: ObjectRef, patch: object): Promise<void> {
    this.calls.push({ op: 'patch', ref, body: patch });
    return this.fail ? Promise.reject(Object.assign(new Error('x'), { code: this.fail })) : Promise.resolve();
  }
  deletePod(ref: ObjectRef, o: { gracePeriodSeconds: number; uid: string }): Promise<void> {
    this.calls.push({ op: 'delete', ref, body: o });
    return Promise.resolve();
  }
}

test('apiStatus: hostIP(s), hostNetwork podIP, the scheduler PodScheduled condition, observedGeneration', () => {
  const sched = { type: 'PodScheduled', status: 'True' as const, lastTransitionTime: '2020-01-01T00:00:00Z' };
  const p = apiPod({}, { ...st('Pending'), conditions: [sched] });
  p.spec.hostNetwork = true;
  const out = apiStatus(p, st('Running'), ['10.0.0.5']);
  assert.equal(out.hostIP, '10.0.0.5');
  assert.deepEqual(out.hostIPs, [{ ip: '10.0.0.5' }]);
  assert.equal(out.podIP, '10.0.0.5');
  assert.deepEqual((out.conditions as unknown[])[0], sched);
  assert.equal(out.observedGeneration, 2);
});

test('statusPatch: carries the uid and nulls keys that disappeared', () => {
  assert.deepEqual(statusPatch('u1', { phase: 'Running', message: 'm' }, { phase: 'Running' }), { metadata: { uid: 'u1' }, status: { phase: 'Running', message: null } });
});

test('status writer: writes only changes; a deleted pod gets its final status, then DELETE grace 0 with a uid precondition', async () => {
  const api = new FakePodApi();
  const w = new ApiStatusWriter({ api, hostIPs: () => ['127.0.0.1'] });
  try {
    const p = apiPod();
    w.update('u1', { pod: p, status: st('Running', 'hi') });
    await w.idle();
    w.update('u1', { pod: p, status: st('Running', 'hi') });
    await w.idle();
    assert.equal(api.calls.length, 1, 'unchanged status not written twice');
    w.update('u1', { pod: p, status: st('Running') });
    await w.idle();
    assert.deepEqual((api.calls[1]!.body as { status: { message: unknown } }).status.message, null);
    const deleting = apiPod({ deletionTimestamp: '2026-01-01T00:00:00Z', deletionGracePeriodSeconds: 5 });
    w.update('u1', { pod: deleting, status: st('Failed') });
    w.terminated(deleting);
    await w.idle();
    await w.idle();
    const ops = api.calls.map((c) => c.op);
    assert.deepEqual(ops, ['patch', 'patch', 'patch', 'delete']);
    assert.equal((api.calls[2]!.body as { status: { phase: string } }).status.phase, 'Failed', 'final status before the delete');
    assert.deepEqual(api.calls[3]!.body, { gracePeriodSeconds: 0, uid: 'u1' });
    assert.deepEqual(api.calls[3]!.ref, { namespace: 'ns', name: 'web', uid: 'u1' });
  } finally {
    w.stop();
  }
});

test('status writer: a pod that is gone (404) is dropped, not retried', async () => {
  const api = new FakePodApi();
  api.fail = 404;
  const w = new ApiStatusWriter({ api });
  try {
    w.update('u1', { pod: apiPod(), status: st('Running') });
    await w.idle();
    w.kick();
    await w.idle();
    assert.equal(api.calls.length, 1);
  } finally {
    w.stop();
  }
});

test('status writer: a failed write (500) is retried on kick', async () => {
  const api = new FakePodApi();
  api.fail = 500;
  const w = new ApiStatusWriter({ api });
  try {
    w.update('u1', { pod: apiPod(), status: st('Running') });
    await w.idle();
    api.fail = undefined;
    w.kick();
    await w.idle();
    assert.equal(api.calls.length, 2);
  } finally {
    w.stop();
  }
});

test('status writer: a static pod waits for its mirror, then patches it with the mirror uid', async () => {
  const api = new FakePodApi();
  let mirror: (ObjectRef & { uid: string }) | undefined;
  const w = new ApiStatusWriter({ api, mirrorOf: () => mirror });
  try {
    const s = apiPod({ name: 'st-node', uid: 'h1', annotations: { 'kubernetes.io/config.source': 'file' } });
    w.update('h1', { pod: s, status: st('Running') });
    await w.idle();
    assert.equal(api.calls.length, 0);
    mirror = { namespace: 'ns', name: 'st-node', uid: 'm1' };
    w.kick('h1');
    await w.idle();
    assert.deepEqual((api.calls[0]!.body as { metadata: unknown }).metadata, { uid: 'm1' });
    // The mirror is deleted and re-created: the same status goes to the new one.
    mirror = { namespace: 'ns', name: 'st-node', uid: 'm2' };
    w.kick('h1');
    await w.idle();
    assert.equal(api.calls.length, 2);
    assert.deepEqual((api.calls[1]!.body as { metadata: unknown }).metadata, { uid: 'm2' });
  } finally {
    w.stop();
  }
});

test('event sink: core/v1 Event shape, repeats aggregated into count, floods dropped', async () => {
  const created: { ns: string; ev: Record<string, unknown> }[] = [];
  const patched: { ref: ObjectRef; body: Record<string, unknown> }[] = [];
  const now = 1_700_000_000_000;
  const sink = new ApiEventSink({
    api: {
      createEvent: (ns, ev) => (created.push({ ns, ev: ev as Record<string, unknown> }), Promise.resolve()),
      patchEvent: (ref, body) => (patched.push({ ref, body: body as Record<string, unknown> }), Promise.resolve()),
    },
    nodeName: 'n1',
    now: () => now,
  });
  const ev = { time: new Date(now).toISOString(), type: 'Normal' as const, reason: 'Pulled', message: 'Container image "x" already present on machine', object: 'ns/web', uid: 'u1' };
  sink.record(ev);
  sink.record(ev);
  sink.record({ ...ev, object: '/etc/manifests/bad.yaml', uid: undefined as unknown as string });
  await sink.idle();
  assert.equal(created.length, 1);
  const e = created[0]!.ev;
  assert.equal(created[0]!.ns, 'ns');
  assert.deepEqual(e.involvedObject, { apiVersion: 'v1', kind: 'Pod', namespace: 'ns', name: 'web', uid: 'u1' });
  assert.deepEqual(e.source, { component: 'kubelet', host: 'n1' });
  assert.equal(e.reportingComponent, 'kubelet');
  assert.equal(e.count, 1);
  assert.match((e.metadata as { name: string }).name, /^web\.[0-9a-f]+$/);
  assert.equal(patched.length, 1);
  assert.equal(patched[0]!.body.count, 2);
  for (let i = 0; i < EVENT_BURST + 5; i++) sink.record({ ...ev, reason: `R${i}` });
  await sink.idle();
  assert.equal(created.length + patched.length, EVENT_BURST, 'a burst of 25 per object');
  assert.equal(sink.dropped, 5 + 2);
});
