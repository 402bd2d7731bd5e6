import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeCri } from '../cri/fake.js';
import { FakeClock } from './clock.js';
import { ImageGc, type ImageGcPolicy } from './imagegc.js';

const policy: ImageGcPolicy = { highThresholdPercent: 85, lowThresholdPercent: 80, minAgeMs: 120_000, maxAgeMs: 0 };

async function setup(sizes: Record<string, number>, inUse: string[]): Promise<{ cri: FakeCri; clock: FakeClock }> {
  const clock = new FakeClock();
  const cri = new FakeCri({ clock, images: Object.keys(sizes) });
  for (const [k, v] of Object.entries(sizes)) cri.imageSizes.set(k, v);
  const sb = await cri.runPodSandbox({ metadata: { name: 'p', uid: 'u' } }, '');
  for (const img of inUse) await cri.createContainer(sb, { metadata: { name: img }, image: { image: img } });
  return { cri, clock };
}

const cases: { name: string; sizes: Record<string, number>; inUse: string[]; capacity: number; age: number; pol?: Partial<ImageGcPolicy>; removed: string[] }[] = [
  { name: 'below the high threshold nothing is removed', sizes: { a: 40, b: 40 }, inUse: [], capacity: 100, age: 600_000, removed: [] },
  { name: 'above high: frees down to low, unused only', sizes: { a: 30, b: 30, c: 30 }, inUse: ['b'], capacity: 100, age: 600_000, removed: ['sha256:a'] },
  { name: 'images younger than imageMinimumGCAge are kept', sizes: { a: 50, b: 45 }, inUse: [], capacity: 100, age: 60_000, removed: [] },
  { name: 'pinned images are kept', sizes: { pause: 50, b: 45 }, inUse: ['b'], capacity: 100, age: 600_000, removed: [] },
  { name: 'imageMaximumGCAge removes old unused images at any usage', sizes: { a: 1, b: 1 }, inUse: ['b'], capacity: 100, age: 600_000, pol: { maxAgeMs: 300_000 }, removed: ['sha256:a'] },
];
for (const tc of cases) {
  test(`image gc: ${tc.name}`, async () => {
    const { cri, clock } = await setup(tc.sizes, tc.inUse);
    const gc = new ImageGc({ images: cri, runtime: cri, clock, policy: { ...policy, ...tc.pol }, pinned: ['pause'], capacityOf: () => tc.capacity });
    await gc.collect(); // first detection
    await clock.advance(tc.age);
    const r = await gc.collect();
    assert.deepEqual(r.removed, tc.removed);
  });
}

test('image gc for eviction (all): every unused image old enough goes, whatever the usage; pinned and young ones stay', async () => {
  const { cri, clock } = await setup({ a: 1, b: 1, c: 1, pause: 1 }, ['b']);
  const gc = new ImageGc({ images: cri, runtime: cri, clock, policy, pinned: ['pause'], capacityOf: () => 1000 });
  await gc.collect();
  assert.deepEqual((await gc.collect({ all: true })).removed, [], 'younger than imageMinimumGCAge');
  await clock.advance(600_000);
  assert.deepEqual((await gc.collect()).removed, [], 'usage far below the high threshold');
  assert.deepEqual((await gc.collect({ all: true })).removed.sort(), ['sha256:a', 'sha256:c']);
});
