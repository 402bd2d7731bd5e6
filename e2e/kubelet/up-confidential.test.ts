// `cocolet up --once` on embedded defaults runs the standard pod AND the confidential pod (one
// QEMU microVM with swtpm; its image pulled inside the guest from the node's loopback registry),
// shows both reaching Running, then stops everything it started: no containerd, shim, QEMU,
// swtpm or registry process, no mount, no bridge, no registry files, no rendered manifest.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Harness, processesMatching } from '../../shared/testing/harness.js';
import { containerdSkipReason } from '../support/containerd.js';
import { mountsUnder } from '../../host/containerd/launcher.js';
import { checkConfidentialPrerequisites } from '../../host/node/confidential.js';
import { DEMO_POLICY } from '../../host/node/policy.js';
import { guestImageDir } from '../../host/vmm/image.js';
import { CONFIDENTIAL_DEFAULT_POLICY } from '../../guest/policy/defaults.js';

const h = new Harness();
after(() => h.dispose());
const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '..', '..', 'host', 'cmd', 'cocolet.js');
const shim = join(here, '..', '..', 'host', 'cmd', 'containerd-shim-cocolet-v2.cjs');

function skipReason(): string | undefined {
  const why = containerdSkipReason();
  if (why) return why;
  const pre = checkConfidentialPrerequisites({ shimBinary: shim });
  if (!pre.ok) return `confidential pod prerequisite missing: ${pre.missing}`;
  // `cocolet up` builds a missing guest image itself; the test does not spend minutes on that.
  if (!existsSync(join(guestImageDir(), 'manifest.json'))) return 'the guest image is not built (npm run guest-image)';
  return undefined;
}

test('the demo policy is the confidential default with only ReadStdout/ReadStderr opened', () => {
  const { name: _a, rules: demoRules, ...demo } = DEMO_POLICY;
  const { name: _b, rules: defRules, ...def } = CONFIDENTIAL_DEFAULT_POLICY;
  assert.deepEqual(demo, def);
  const changed = Object.keys({ ...defRules, ...demoRules }).filter(
    (k) => JSON.stringify((demoRules as Record<string, unknown>)[k]) !== JSON.stringify((defRules as Record<string, unknown>)[k]),
  );
  assert.deepEqual(changed.sort(), ['ReadStderr', 'ReadStdout']);
});

test('cocolet up --once runs a standard and a confidential pod to Running and leaves nothing behind', { timeout: 420_000 }, async (t) => {
  const why = skipReason();
  if (why) return t.skip(why);
  const state = h.tempDir('ccq-');
  const p = h.start(process.execPath, [cli, 'up', '--once', '--state-dir', state, '--timeout', '300'], {
    env: { ...process.env, COCOLET_LOG_LEVEL: 'error' },
  });
  // On a failure mid-run, let `up` stop what it started before the harness kills its group.
  h.defer('cocolet up', async () => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return;
    p.child.kill('SIGINT');
    await Promise.race([p.exited, new Promise((r) => setTimeout(r, 60_000).unref())]);
  });
  const code = await p.exited;
  const out = p.output();
  assert.equal(code, 0, out);
  assert.doesNotMatch(out, /confidential pod: (skipped|cannot run)/);
  assert.match(out, /confidential pod: image 10\.0\.2\.2:\d+\/cocolet\/busybox:1/);
  assert.match(out, /default\/busybox-[\w.-]+: Running ready 1\/1/);
  assert.match(out, /default\/busybox-coco-[\w.-]+: Running ready 1\/1/);
  assert.match(out, /all 2 pods Running/);
  // Honest labels: the confidential pod runs on the development TEE and says so (event and pod
  // line, from the shim's report); the runc pod claims no TEE at all.
  assert.match(out, /default\/busybox-coco-[\w.-]+: NotConfidential: tee: dev \(not confidential\): QEMU without SEV-SNP\/TDX and a host-run swtpm/);
  assert.match(out, /default\/busybox-coco-[\w.-]+: Running ready 1\/1 .*tee dev \(not confidential\)/);
  assert.doesNotMatch(out, /default\/busybox-(?!coco-)[\w.-]+: .*tee /);
  assert.match(out, /stopped/);

  // The TEE's output reached the CRI log (the demo policy allows ReadStdout).
  const logs = join(state, 'pods-logs');
  const coco = readdirSync(logs).find((d) => d.includes('_busybox-coco-'));
  assert.ok(coco, `no log dir for the confidential pod in ${readdirSync(logs).join(', ')}`);
  assert.match(readFileSync(join(logs, coco, 'main', '0.log'), 'utf8'), /stdout F hello from the TEE/);

  // Nothing it started is left: containerd, shims (-address under state), QEMU and swtpm (their
  // files under <state>/shim), the registry (config under <state>/registry).
  assert.deepEqual(processesMatching(state), [], 'no process of this node is left');
  assert.deepEqual(mountsUnder(state), []);
  assert.equal(existsSync(join(state, 'containerd', 'containerd.sock')), false);
  assert.equal(existsSync(join(state, 'registry')), false, 'registry files removed');
  assert.equal(existsSync(join(state, 'shim.toml')), false, 'shim config removed');
  assert.deepEqual(existsSync(join(state, 'shim')) ? readdirSync(join(state, 'shim')) : [], [], 'no sandbox work dir left');
  assert.deepEqual(readdirSync(join(state, 'manifests')).filter((f) => f.includes('coco')), [], 'rendered manifest removed');
  const cfg = readFileSync(join(state, 'containerd', 'cni', 'net.d', '10-cocolet.conflist'), 'utf8');
  const bridge = (JSON.parse(cfg) as { plugins: { bridge: string }[] }).plugins[0]!.bridge;
  assert.notEqual(spawnSync('ip', ['link', 'show', bridge]).status, 0, 'bridge removed');
});
