import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { INIT_DATA_ANNOTATION, parseShimConfig } from '../shim/config.js';
import { BUSYBOX_IMAGE } from '../images/oci.js';
import { checkConfidentialPrerequisites, initdataAnnotation, initdataToml, renderConfidentialManifests, renderShimConfig } from './confidential.js';
import { DEMO_POLICY } from './policy.js';

function repoRoot(): string {
  if (process.env.COCOLET_ROOT) return process.env.COCOLET_ROOT;
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 10 && !existsSync(join(d, 'package.json')); i++) d = dirname(d);
  return d;
}

test('the shim config is valid for the shim: qemu, the given image dir, sandbox files under the state dir', () => {
  const cfg = parseShimConfig(renderShimConfig({ stateDir: '/var/lib/x', imageDir: '/opt/guest' }));
  assert.equal(cfg.hypervisor.kind, 'qemu');
  assert.equal(cfg.hypervisor.imageDir, '/opt/guest');
  assert.equal(cfg.runtime.stateDir, '/var/lib/x/shim');
});

test('init-data: the demo policy and the insecure registry, as base64(gzip(TOML))', () => {
  const toml = initdataToml({ policy: DEMO_POLICY, insecureRegistries: ['10.0.2.2:5000'] });
  const back = parseToml(gunzipSync(Buffer.from(initdataAnnotation(toml), 'base64')).toString()) as { version: string; algorithm: string; data: Record<string, string> };
  assert.equal(back.algorithm, 'sha256');
  assert.deepEqual(JSON.parse(back.data['policy.json']!), DEMO_POLICY);
  assert.deepEqual(JSON.parse(back.data['cocolet-agent.json']!), { insecureRegistries: ['10.0.2.2:5000'] });
});

test('the confidential example renders with the guest-visible image, the init-data and the policy note', () => {
  const [m, ...rest] = renderConfidentialManifests({ examplesDir: join(repoRoot(), 'examples', 'pods-confidential'), image: '10.0.2.2:5000/cocolet/busybox:1', initdata: 'SU5JVA==' });
  assert.equal(rest.length, 0);
  assert.match(m!.text, /ReadStdout\/ReadStderr are allowed/);
  const pod = parseYaml(m!.text) as { spec: { runtimeClassName: string; containers: { image: string }[] }; metadata: { annotations: Record<string, string> } };
  assert.equal(pod.spec.runtimeClassName, 'cocolet');
  assert.deepEqual(pod.spec.containers.map((c) => c.image), ['10.0.2.2:5000/cocolet/busybox:1']);
  assert.equal(pod.metadata.annotations[INIT_DATA_ANNOTATION], 'SU5JVA==');
});

test('only the standard busybox image is replaced; other documents are skipped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ccn-'));
  try {
    writeFileSync(join(dir, 'a.yml'), `kind: ConfigMap\n---\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n    - {name: x, image: ${BUSYBOX_IMAGE}}\n    - {name: y, image: other:1}\n`);
    writeFileSync(join(dir, 'notes.txt'), 'ignored');
    const out = renderConfidentialManifests({ examplesDir: dir, image: 'img:2', initdata: 'x' });
    assert.deepEqual(out.map((o) => o.name), ['a.yaml']);
    const pod = parseYaml(out[0]!.text) as { spec: { containers: { image: string }[] } };
    assert.deepEqual(pod.spec.containers.map((c) => c.image), ['img:2', 'other:1']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const preCases: { name: string; root: boolean; missingCmd?: string; missingPath?: string; want: RegExp | 'ok' }[] = [
  { name: 'everything there', root: true, want: 'ok' },
  { name: 'not root', root: false, want: /^root/ },
  { name: 'no QEMU', root: true, missingCmd: 'qemu-system-x86_64', want: /^qemu-system-x86_64/ },
  { name: 'no swtpm', root: true, missingCmd: 'swtpm', want: /^swtpm/ },
  { name: 'no registry', root: true, missingCmd: 'docker-registry', want: /^docker-registry/ },
  { name: 'no skopeo', root: true, missingCmd: 'skopeo', want: /^skopeo/ },
  { name: 'shim not built', root: true, missingPath: '/shim.js', want: /compiled shim/ },
];
for (const tc of preCases) {
  test(`confidential prerequisites: ${tc.name}`, () => {
    const r = checkConfidentialPrerequisites({
      shimBinary: '/shim.js',
      isRoot: () => tc.root,
      have: (c) => c !== tc.missingCmd,
      exists: (p) => p !== tc.missingPath,
    });
    if (tc.want === 'ok') assert.deepEqual(r, { ok: true });
    else assert.match(r.ok ? '' : r.missing, tc.want);
  });
}
