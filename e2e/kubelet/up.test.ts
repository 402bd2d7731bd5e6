// `cocolet up --once` as a user runs it: a real process that starts its own containerd, imports
// the images, runs the example static pods to Running, then stops everything it started.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Harness } from '../../shared/testing/harness.js';
import { containerdSkipReason } from '../support/containerd.js';
import { mountsUnder } from '../../host/containerd/launcher.js';

const h = new Harness();
after(() => h.dispose());
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'host', 'cmd', 'cocolet.js');

test('cocolet up --once brings the example pods to Running and cleans up', { timeout: 240_000 }, async (t) => {
  const why = containerdSkipReason();
  if (why) return t.skip(why);
  const state = h.tempDir('ccu-');
  const p = h.start(process.execPath, [cli, 'up', '--once', '--no-confidential', '--state-dir', state, '--timeout', '120'], {
    env: { ...process.env, COCOLET_LOG_LEVEL: 'error' },
  });
  const code = await p.exited;
  const out = p.output();
  assert.equal(code, 0, out);
  assert.match(out, /busybox-[\w.-]+: Running/);
  assert.match(out, /all 1 pods Running/);
  assert.match(out, /stopped/);
  // Everything it started is gone: containerd, the shims, mounts, the bridge.
  assert.deepEqual(mountsUnder(state), []);
  assert.equal(existsSync(join(state, 'containerd', 'containerd.sock')), false);
  const cfg = readFileSync(join(state, 'containerd', 'cni', 'net.d', '10-cocolet.conflist'), 'utf8');
  const bridge = (JSON.parse(cfg) as { plugins: { bridge: string }[] }).plugins[0]!.bridge;
  assert.notEqual(spawnSync('ip', ['link', 'show', bridge]).status, 0, 'bridge removed');
  // status works offline from the file it left behind
  const st = spawnSync(process.execPath, [cli, 'status', '--state-dir', state], { encoding: 'utf8' });
  assert.equal(st.status, 0, st.stdout);
});

test('cocolet up stops everything on SIGINT', { timeout: 240_000 }, async (t) => {
  const why = containerdSkipReason();
  if (why) return t.skip(why);
  const state = h.tempDir('ccu-');
  const p = h.start(process.execPath, [cli, 'up', '--no-confidential', '--state-dir', state, '--timeout', '120'], { env: { ...process.env, COCOLET_LOG_LEVEL: 'error' } });
  await p.waitForOutput(/Ctrl-C to stop/, { timeoutMs: 120_000 });
  p.child.kill('SIGINT');
  const code = await p.exited;
  assert.equal(code, 0, p.output());
  assert.match(p.output(), /stopped/);
  assert.deepEqual(mountsUnder(state), []);
});
