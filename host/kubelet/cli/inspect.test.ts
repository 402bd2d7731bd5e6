import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statusTable } from './inspect.js';
import type { StatusFile } from '../status/manager.js';

const pod = (name: string, extra: Partial<StatusFile['pods'][number]>): StatusFile['pods'][number] => ({
  metadata: { name, namespace: 'default' },
  spec: { containers: ['main'] },
  status: { phase: 'Running', conditions: [], containerStatuses: [{ name: 'main', ready: true, restartCount: 0, state: { running: { startedAt: '' } }, image: 'busybox', imageID: '', containerID: '' }] },
  ...extra,
} as StatusFile['pods'][number]);

test('cocolet status shows the TEE column: the shim\'s label for confidential pods, "-" for runc pods', () => {
  const out = statusTable({ version: 1, node: 'n', updatedAt: '', events: [], pods: [pod('web', {}), pod('coco', { runtimeHandler: 'cocolet', tee: 'dev (not confidential)' })] } as unknown as StatusFile);
  const [head, web, coco] = out.split('\n');
  assert.match(head!, /RUNTIME\s+TEE$/);
  assert.match(web!, /runc\s+-$/);
  assert.match(coco!, /cocolet\s+dev \(not confidential\)$/);
});
