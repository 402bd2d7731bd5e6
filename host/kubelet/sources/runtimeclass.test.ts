import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../api/types.js';
import { DEFAULT_RUNTIME_CLASSES } from '../config/flags.js';
import { admitRuntimeClassOverhead, defaultRuntimeClassOverhead } from './runtimeclass.js';

const pod = (runtimeClassName?: string, overhead?: Record<string, string>): Pod => ({
  metadata: { name: 'p', namespace: 'ns', uid: 'u' },
  spec: { ...(runtimeClassName ? { runtimeClassName } : {}), ...(overhead ? { overhead } : {}), containers: [{ name: 'c', image: 'x' }] },
});

test('the confidential RuntimeClasses (handler cocolet) carry the VM\'s overhead; runc none', () => {
  const d = defaultRuntimeClassOverhead(DEFAULT_RUNTIME_CLASSES, { memory: '1120Mi', cpu: '150m' });
  assert.deepEqual(Object.keys(d).sort(), ['cocolet', 'kata-cc', 'kata-qemu-coco-dev']);
  assert.deepEqual(d.cocolet, { memory: '1120Mi', cpu: '150m' });
});

const classes = { cocolet: { memory: '1120Mi', cpu: '150m' } };
const cases: { name: string; pod: Pod; want: Record<string, string> | undefined | 'error' }[] = [
  { name: 'a cocolet pod without overhead gets the class\'s podFixed', pod: pod('cocolet'), want: { memory: '1120Mi', cpu: '150m' } },
  { name: 'a pod whose overhead equals the class\'s (other spelling) keeps it', pod: pod('cocolet', { memory: '1174405120', cpu: '0.15' }), want: { memory: '1174405120', cpu: '0.15' } },
  { name: 'a pod whose overhead differs is refused, as RuntimeClass admission does', pod: pod('cocolet', { memory: '1Mi' }), want: 'error' },
  { name: 'a pod without a RuntimeClass is left alone', pod: pod(), want: undefined },
  { name: 'a class without an overhead leaves the pod\'s own', pod: pod('runc', { cpu: '1' }), want: { cpu: '1' } },
];
for (const tc of cases) {
  test(`runtime class overhead: ${tc.name}`, () => {
    const r = admitRuntimeClassOverhead(tc.pod, classes);
    if (tc.want === 'error') {
      assert.ok('error' in r);
      assert.match(r.error, /^pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead \(RuntimeClass cocolet: /);
      return;
    }
    assert.ok('pod' in r);
    assert.deepEqual(r.pod.spec.overhead, tc.want);
  });
}
