import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeCri } from '../../cri/fake.js';
import { FakeClock } from '../clock.js';
import { PodCache } from './cache.js';
import { Pleg, type PlegEvent } from './pleg.js';
import { emptyPodStatus } from '../runtime/status.js';

async function setup(): Promise<{ cri: FakeCri; clock: FakeClock; cache: PodCache; pleg: Pleg; events: PlegEvent[]; cid: () => string }> {
  const clock = new FakeClock();
  const cri = new FakeCri({ clock, images: ['i'] });
  const cache = new PodCache();
  const events: PlegEvent[] = [];
  const pleg = new Pleg({ cri, cache, clock, onEvent: (e) => events.push(e) });
  const sb = await cri.runPodSandbox({ metadata: { name: 'p', uid: 'u1' }, labels: { 'io.kubernetes.pod.uid': 'u1' } }, '');
  const id = await cri.createContainer(sb, { metadata: { name: 'c' }, image: { image: 'i' }, labels: { 'io.kubernetes.pod.uid': 'u1' } });
  return { cri, clock, cache, pleg, events, cid: () => id };
}

test('generic relist: started, died, removed — each reported once, pod re-inspected', async () => {
  const { cri, clock, cache, pleg, events, cid } = await setup();
  await pleg.relist();
  assert.deepEqual(events.map((e) => e.type).sort(), ['ContainerStarted', 'PodSync'], 'sandbox ready → started; created container → PodSync');
  events.length = 0;
  await cri.startContainer(cid());
  await clock.advance(1000);
  await pleg.relist();
  assert.deepEqual(events.map((e) => [e.type, e.data]), [['ContainerStarted', cid()]]);
  assert.equal(cache.get('u1').status.containers[0]!.state, 'running');
  events.length = 0;
  await pleg.relist();
  assert.equal(events.length, 0, 'no change → no event');
  cri.exit(cid(), 2);
  await pleg.relist();
  assert.deepEqual(events.map((e) => e.type), ['ContainerDied']);
  assert.equal(cache.get('u1').status.containers[0]!.exitCode, 2);
  events.length = 0;
  await cri.removeContainer(cid());
  await pleg.relist();
  assert.deepEqual(events.map((e) => e.type), ['ContainerRemoved'], 'an exited container that vanishes is only Removed');
});

test('onFirstRelist: called once, after the first relist that succeeded (healthy from then on)', async () => {
  const clock = new FakeClock();
  const cri = new FakeCri({ clock, images: ['i'] });
  let firsts = 0;
  let healthyThen: boolean | undefined;
  const pleg = new Pleg({ cri, cache: new PodCache(), clock, onEvent: () => undefined, onFirstRelist: () => ((healthyThen = pleg.healthy().ok), firsts++) });
  const list = cri.listPodSandbox.bind(cri);
  cri.listPodSandbox = () => Promise.reject(new Error('runtime down'));
  await pleg.relist();
  assert.equal(firsts, 0, 'a failed relist is not the first');
  assert.equal(pleg.healthy().ok, false);
  cri.listPodSandbox = list;
  await pleg.relist();
  await pleg.relist();
  assert.deepEqual([firsts, healthyThen], [1, true]);
});

test('a running container that vanishes is reported Died then Removed', async () => {
  const { cri, pleg, events, cid } = await setup();
  await cri.startContainer(cid());
  await pleg.relist();
  events.length = 0;
  cri.containers.delete(cid());
  await pleg.relist();
  assert.deepEqual(events.map((e) => e.type), ['ContainerDied', 'ContainerRemoved']);
});

test('pod cache: getNewerThan waits for a newer entry or a newer global time', async () => {
  const cache = new PodCache();
  let resolved = 0;
  void cache.getNewerThan('a', 100).then(() => resolved++);
  void cache.getNewerThan('b', 100).then(() => resolved++);
  await Promise.resolve();
  assert.equal(resolved, 0);
  cache.set('a', emptyPodStatus('a'), undefined, 150);
  await Promise.resolve();
  assert.equal(resolved, 1, 'entry newer than t');
  cache.updateTime(99);
  await Promise.resolve();
  assert.equal(resolved, 1, 'global time still older');
  cache.updateTime(100);
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(resolved, 2, 'global time reached t');
  cache.set('a', emptyPodStatus('a'), undefined, 120);
  assert.equal(cache.get('a').modified, 150, 'never goes back in time');
});
