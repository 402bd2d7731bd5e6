/**
 * `cocolet cluster up --once` (what `npm run cluster` runs): a local control plane from the built
 * binaries, this machine joined as a node, the RuntimeClass created, the kubectl command printed,
 * and everything stopped afterwards; and `cocolet up --kubeconfig` with TLS bootstrapping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Harness, processesMatching } from '../../shared/testing/harness.js';
import { clusterSkipReason, kubectl, kubectlJson, startCluster } from '../support/cluster.js';
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
    assert.match(out, /RuntimeClass cocolet \(handler cocolet[,)].*created/);
    assert.match(out, /node cli-node registered/);
    assert.match(out, new RegExp(`use it: export KUBECONFIG=${state}/cluster/admin\\.kubeconfig`));
    assert.ok(out.indexOf('node cli-node registered') < out.indexOf('use it:'), 'the hint comes once the node is there');
    assert.deepEqual(processesMatching(state), [], 'no process of this state dir left');
  } finally {
    await h.dispose();
  }
});

test('cocolet up --kubeconfig --bootstrap-kubeconfig --once: TLS bootstrap from the command line, then the node registers', { skip }, async () => {
  const h = new Harness();
  try {
    const cp = (await startCluster(h))!;
    const state = h.tempDir('ccu-');
    const kubeconfig = join(state, 'node.kubeconfig');
    const p = h.start(
      process.execPath,
      [join(root, 'dist', 'host', 'cmd', 'cocolet.js'), 'up', '--once', '--no-confidential', '--kubeconfig', kubeconfig, '--bootstrap-kubeconfig', await cp.bootstrapKubeconfig(), '--node-name', 'cli-boot', '--node-ip', '127.0.0.1'],
      { env: { ...process.env, COCOLET_STATE_DIR: state } },
    );
    const code = await p.exited;
    assert.equal(code, 0, p.output());
    assert.match(p.output(), /node cli-boot registered/);
    assert.equal((await kubectl(cp, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], { kubeconfig })).trim(), 'system:node:cli-boot');
    const n = await kubectlJson<{ metadata: { labels: Record<string, string> }; status: { addresses: { type: string; address: string }[] } }>(cp, ['node', 'cli-boot']);
    assert.equal(n.metadata.labels['cocolet.io/confidential'], 'true');
    assert.deepEqual(n.status.addresses[0], { type: 'InternalIP', address: '127.0.0.1' });
    assert.deepEqual(processesMatching(state), [], 'no process of this state dir left');
  } finally {
    await h.dispose();
  }
});
