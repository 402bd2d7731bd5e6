/**
 * The local control plane (host/cluster) against the real binaries: it becomes ready, enforces
 * Node,RBAC + NodeRestriction on node credentials, its admin set-up is idempotent, the API server
 * restarts in place, and stop leaves no process behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness } from '../../shared/testing/harness.js';
import type { ControlPlane } from '../../host/cluster/controlplane.js';
import { ensureRuntimeClass } from '../../host/cluster/admin.js';
import { vmOverheadFor } from '../../host/node/overhead.js';
import { clusterSkipReason, kubectl, kubectlJson, kubectlRun, startCluster } from '../support/cluster.js';

const skip = clusterSkipReason();
const h = new Harness();
let cp: ControlPlane | undefined;


const nodeJson = (name: string): string => JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name } });

describe('local control plane', { skip }, () => {
  before(async () => {
    cp = await startCluster(h, undefined, {});
  });
  after(() => h.dispose());

  test('the API server is ready and the controller-manager made the default ServiceAccount', async () => {
    const c = cp!;
    assert.equal((await kubectl(c, ['get', '--raw', '/readyz'])).trim(), 'ok');
    const sa = await kubectlJson<{ metadata: { name: string } }>(c, ['serviceaccount', 'default', '-n', 'default']);
    assert.equal(sa.metadata.name, 'default');
    const cm = await kubectlJson<{ data: Record<string, string> }>(c, ['configmap', 'kube-root-ca.crt', '-n', 'default']);
    assert.match(cm.data['ca.crt']!, /BEGIN CERTIFICATE/);
  });

  test('a node certificate may create its own Node and no other, and may not list nodes', async () => {
    const c = cp!;
    const kc = await c.nodeKubeconfig('cp-n1');
    assert.equal((await kubectl(c, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], { kubeconfig: kc })).trim(), 'system:node:cp-n1');
    await kubectl(c, ['create', '-f', '-'], { kubeconfig: kc, input: nodeJson('cp-n1') });
    const other = await kubectlRun(c, ['create', '-f', '-'], { kubeconfig: kc, input: nodeJson('cp-n2') });
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /forbidden/i);
    const list = await kubectlRun(c, ['get', 'nodes'], { kubeconfig: kc });
    assert.notEqual(list.code, 0);
    assert.match(list.stderr, /forbidden/i);
    const own = await kubectl(c, ['get', 'nodes', '--field-selector', 'metadata.name=cp-n1', '-o', 'name'], { kubeconfig: kc });
    assert.equal(own.trim(), 'node/cp-n1');
    await kubectl(c, ['delete', 'node', 'cp-n1']);
  });

  test('RuntimeClass (with the VM\'s overhead) and bootstrap set-up are idempotent; a cocolet pod gets spec.overhead from the RuntimeClass', async () => {
    const c = cp!;
    const overhead = vmOverheadFor();
    assert.equal(await ensureRuntimeClass(c.adminKubeconfig, { overhead }), true);
    assert.equal(await ensureRuntimeClass(c.adminKubeconfig, { overhead }), false);
    const rc = await kubectlJson<{ handler: string; overhead?: { podFixed?: Record<string, string> } }>(c, ['runtimeclass', 'cocolet']);
    assert.equal(rc.handler, 'cocolet');
    assert.deepEqual(rc.overhead?.podFixed, overhead);
    // the API server's RuntimeClass admission copies overhead.podFixed into the pod (no node needed: it stays Pending)
    await kubectl(c, ['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'overhead', namespace: 'default' }, spec: { runtimeClassName: 'cocolet', containers: [{ name: 'main', image: 'busybox' }] } }) });
    const pod = await kubectlJson<{ spec: { overhead?: Record<string, string> } }>(c, ['pod', 'overhead']);
    assert.deepEqual(pod.spec.overhead, overhead);
    // and refuses a pod that names another overhead, as the kubelet does for static pods
    const wrong = await kubectlRun(c, ['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'overhead-wrong', namespace: 'default' }, spec: { runtimeClassName: 'cocolet', overhead: { memory: '1Mi' }, containers: [{ name: 'main', image: 'busybox' }] } }) });
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /Overhead doesn't match RuntimeClass's defined Overhead/);
    await kubectl(c, ['delete', 'pod', 'overhead', '--wait=false']);
    const a = await c.bootstrapKubeconfig();
    const b = await c.bootstrapKubeconfig();
    assert.equal(a, b);
    const who = await kubectl(c, ['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.groups}'], { kubeconfig: a });
    assert.match(who, /system:bootstrappers:cocolet/);
    const can = await kubectl(c, ['auth', 'can-i', 'create', 'certificatesigningrequests'], { kubeconfig: a });
    assert.equal(can.trim(), 'yes');
  });

  test('the API server restarts in place (same port, same data)', async () => {
    const c = cp!;
    await kubectl(c, ['create', 'namespace', 'survives-restart']);
    const before = c.component('kube-apiserver')!.pid;
    await c.restart('kube-apiserver');
    assert.notEqual(c.component('kube-apiserver')!.pid, before);
    const ns = await kubectlJson<{ metadata: { name: string } }>(c, ['namespace', 'survives-restart']);
    assert.equal(ns.metadata.name, 'survives-restart');
  });

  test('stop ends every component', async () => {
    const c = cp!;
    const pids = (['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const).map((n) => c.component(n)!.pid);
    await c.stop();
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `pid ${pid} still alive`);
  });
});
