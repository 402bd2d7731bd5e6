import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { cmdPolicy } from './generate-cmd.js';

const POD = `apiVersion: v1
kind: Pod
metadata: { name: web }
spec:
  containers:
    - name: app
      image: reg.example/app:1
      command: ["/app"]
`;
const DEPLOY = `kind: Deployment
metadata: { name: d }
spec: { template: { spec: { containers: [{ name: app, image: "reg.example/app@sha256:${'a'.repeat(64)}" }] } } }
`;

function run(args: string[], files: Record<string, string> = { 'pod.yaml': POD }): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = cmdPolicy(args, {
    out: (s) => void (out += `${s}\n`), err: (s) => void (err += `${s}\n`),
    readFile: (p) => {
      if (!(p in files)) throw new Error(`ENOENT: ${p}`);
      return files[p]!;
    },
  });
  return { code, out, err };
}

const cases: { name: string; args: string[]; files?: Record<string, string>; code: number; check?: (r: { out: string; err: string }) => void }[] = [
  {
    name: 'prints the policy, the init-data and the annotation; a tag is warned about',
    args: ['generate', 'pod.yaml'], code: 0,
    check: (r) => {
      assert.match(r.out, /# agent policy/);
      assert.match(r.out, /version = "0\.1\.0"/);
      const line = r.out.split('\n').find((l) => l.startsWith('io.katacontainers.config.hypervisor.cc_init_data: '))!;
      assert.match(gunzipSync(Buffer.from(line.split(': ')[1]!, 'base64')).toString(), /"policy\.json" = /);
      assert.match(r.err, /warning: container app: image reg\.example\/app:1 is pinned by name and tag only/);
    },
  },
  {
    name: '--json with agent settings',
    args: ['generate', '--json', '--insecure-registry', '10.0.2.2:5000', 'pod.yaml'], code: 0,
    check: (r) => {
      const j = JSON.parse(r.out) as { policy: { version: number }; initdata: string; annotation: Record<string, string> };
      assert.equal(j.policy.version, 2);
      assert.match(j.initdata, /insecureRegistries/);
      assert.ok(j.annotation['io.katacontainers.config.hypervisor.cc_init_data']);
    },
  },
  {
    name: '--annotate puts the annotation on a workload\'s pod template',
    args: ['generate', '--annotate', 'd.yaml'], files: { 'd.yaml': DEPLOY }, code: 0,
    check: (r) => {
      const d = parseYaml(r.out) as { spec: { template: { metadata: { annotations: Record<string, string> } } } };
      assert.ok(d.spec.template.metadata.annotations['io.katacontainers.config.hypervisor.cc_init_data']);
      assert.equal(r.err, '');
    },
  },
  { name: '--require-digest makes a tag an error', args: ['generate', '--require-digest', 'pod.yaml'], code: 1, check: (r) => assert.match(r.err, /given by tag only/) },
  { name: 'a missing file is an error naming it', args: ['generate', 'nope.yaml'], code: 1, check: (r) => assert.match(r.err, /nope\.yaml/) },
  { name: 'two pods in one file', args: ['generate', 'two.yaml'], files: { 'two.yaml': `${POD}---\n${POD}` }, code: 1, check: (r) => assert.match(r.err, /2 pods/) },
  { name: 'no file', args: ['generate'], code: 2 },
  { name: 'unknown subcommand', args: ['verify', 'pod.yaml'], code: 2 },
];
for (const tc of cases) {
  test(`cocolet policy: ${tc.name}`, () => {
    const r = run(tc.args, tc.files);
    assert.equal(r.code, tc.code, r.err);
    tc.check?.(r);
  });
}
