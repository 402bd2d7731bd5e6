/**
 * `cocolet cluster up --once` (what `npm run cluster` runs): a local control plane from the built
 * binaries, this machine joined as a node, the RuntimeClass created, the kubectl command printed,
 * and everything stopped afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Harness, processesMatching } from '../../shared/testing/harness.js';
import { clusterSkipReason } from '../support/cluster.js';
import { containerdSkipReason } from '../support/containerd.js';

const skip = clusterSkipReason() ?? containerdSkipReason();
const root = process.env.COCOLET_ROOT ?? process.cwd();

test('cocolet cluster up --once: control plane, node registered, kubectl hint, clean stop', { skip }, async () => {
  const h = new Harness();
  try {
    const state = h.tempDir('ccl-');
    const p = h.start(process.execPath, [join(root, 'dist', 'host', 'cmd', 'cocolet.js'), 'cluster', 'up', '--once', '--no-confidential', '--node-name', 'cli-node'], {
      env: { ...process.env, COCOLET_STATE_DIR: state },
    });
    const code = await p.exited;
    const out = p.output();
    assert.equal(code, 0, out);
    assert.match(out, /control plane ready at https:\/\/127\.0\.0\.1:\d+/);
    assert.match(out, /RuntimeClass cocolet \(handler cocolet\) created/);
    assert.match(out, /node cli-node registered/);
    assert.match(out, new RegExp(`use it: export KUBECONFIG=${state}/cluster/admin\\.kubeconfig`));
    assert.ok(out.indexOf('node cli-node registered') < out.indexOf('use it:'), 'the hint comes once the node is there');
    assert.deepEqual(processesMatching(state), [], 'no process of this state dir left');
  } finally {
    await h.dispose();
  }
});
