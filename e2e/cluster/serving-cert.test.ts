// serverTLSBootstrap against a real kube-apiserver that verifies kubelets' serving certificates
// (--kubelet-certificate-authority): the kubelet asks for its certificate with a kubelet-serving
// CSR for its own names; until one is issued its HTTPS API refuses TLS and the API server cannot
// reach it; once host/cluster/approver.ts has approved (and kube-controller-manager signed) the
// API server's node proxy works over a verified connection. A CSR by the same node for an address
// that is not its own is denied with the reason.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { Harness, waitFor } from '../../shared/testing/harness.js';
import { startContainerd, containerdSkipReason } from '../support/containerd.js';
import { clusterSkipReason, kubectl, kubectlJson, startCluster } from '../support/cluster.js';
import type { ControlPlane } from '../../host/cluster/controlplane.js';
import { startServingCsrApprover, type ServingCsrApprover } from '../../host/cluster/approver.js';
import { CriClient } from '../../host/cri/client.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import type { Kubelet } from '../../host/kubelet/kubelet.js';
import { startKubelet } from '../support/kubelet.js';
import { loadKubeconfig } from '../../host/kubelet/client/kubeconfig.js';
import { restClient } from '../../host/kubelet/client/rest.js';
import { nodeCsr, requestNodeCertificate, SERVING_CERT, KUBELET_SERVING_SIGNER } from '../../host/kubelet/node/bootstrap.js';

const NODE = 'tls-node';
const POD = 'tls-logs';
const h = new Harness();
const skip = clusterSkipReason() ?? containerdSkipReason();
let cp: ControlPlane;
let kubelet: Kubelet;
let dir: string;
let approver: ServingCsrApprover | undefined;

before(async () => {
  if (skip) return;
  dir = h.tempDir('ccl-e2e-tls-');
  cp = (await startCluster(h, undefined, { verifyKubeletServing: true }))!;
  const ctd = (await startContainerd(h))!;
  const cri = new CriClient({ endpoint: ctd.address });
  h.defer('cri client', () => cri.close());
  kubelet = await startKubelet(h, {
    dir,
    containerd: ctd,
    cri,
    nodeName: NODE,
    config: { serverTLSBootstrap: true, authentication: { x509: { clientCAFile: cp.pki.caFile }, webhook: { enabled: true }, anonymous: { enabled: false } }, authorization: { mode: 'Webhook' } },
    settings: { kubeconfig: await cp.nodeKubeconfig(NODE), nodeIp: '127.0.0.1' },
  });
  h.defer('approver', () => approver?.stop());
});

after(() => h.dispose());

/** A TLS handshake with the kubelet's HTTPS API verified against the cluster CA: its certificate, or the error. */
function handshake(port: number): Promise<{ cert?: X509Certificate; error?: string }> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, ca: readFileSync(cp.pki.caFile) }, () => {
      const cert = s.getPeerX509Certificate();
      s.end();
      resolve(cert ? { cert } : { error: 'no certificate' });
    });
    s.on('error', (e) => resolve({ error: e.message }));
  });
}

interface CsrList {
  items: { metadata: { name: string }; spec: { signerName: string; username: string }; status: { conditions?: { type: string; message?: string }[]; certificate?: string } }[];
}

test('serverTLSBootstrap: no certificate and no kubectl logs until approved; then a cluster-signed certificate for the node\'s own names, verified by kube-apiserver', { skip, timeout: 180_000 }, async () => {
  const port = kubelet.apiServer!.port;
  // The kubelet asked: a pending kubelet-serving CSR from the node itself.
  const pending = await waitFor(
    async () => (await kubectlJson<CsrList>(cp, ['csr'])).items.find((c) => c.spec.signerName === KUBELET_SERVING_SIGNER && c.spec.username === `system:node:${NODE}`),
    { what: 'the kubelet-serving CSR', timeoutMs: 60_000, intervalMs: 250 },
  );
  assert.equal(pending.status.conditions?.length ?? 0, 0, 'nobody approved it yet');
  const before = await handshake(port);
  assert.ok(before.error, `no TLS before a certificate is issued (got ${before.cert?.subject})`);
  await kubectl(cp, ['create', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: POD, namespace: 'default' },
      spec: { nodeName: NODE, automountServiceAccountToken: false, terminationGracePeriodSeconds: 0, containers: [{ name: 'main', image: BUSYBOX_IMAGE, imagePullPolicy: 'Never', command: ['/bin/sh', '-c', 'echo hello-over-verified-tls && exec sleep 3600'] }] },
    }),
  });
  await waitFor(async () => (await kubectlJson<{ status: { phase?: string } }>(cp, ['pod', POD])).status.phase === 'Running', { what: `pod ${POD} Running`, timeoutMs: 120_000, intervalMs: 500 });
  const logs = await kubectl(cp, ['logs', POD]).then((o) => `ok: ${o}`, (e: unknown) => String(e));
  assert.match(logs, /tls|certificate|handshake|EOF|reset/i, `the API server cannot reach a kubelet that has no certificate: ${logs}`);

  approver = startServingCsrApprover({ adminKubeconfig: cp.adminKubeconfig, intervalMs: 250 });
  const current = join(dir, 'root', 'pki', 'kubelet-server-current.pem');
  await waitFor(() => existsSync(current), { what: 'kubelet-server-current.pem', timeoutMs: 60_000, intervalMs: 250 });
  assert.ok(approver.approved.includes(pending.metadata.name), 'the kubelet\'s CSR was approved by the approver');
  const after = await waitFor(async () => {
    const r = await handshake(port);
    return r.cert ? r : undefined;
  }, { what: 'a verified TLS handshake with the kubelet', timeoutMs: 30_000, intervalMs: 250 });
  const cert = after.cert!;
  assert.equal(cert.subject.split('\n').sort().join(','), `CN=system:node:${NODE},O=system:nodes`);
  assert.ok(cert.checkIssued(new X509Certificate(readFileSync(cp.pki.caFile))), 'signed by the cluster CA');
  assert.match(cert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  assert.match(cert.keyUsage?.join(',') ?? '', /1\.3\.6\.1\.5\.5\.7\.3\.1/, 'server auth');
  assert.equal(readFileSync(current, 'utf8').includes(cert.toString().trim()), true, 'the served certificate is the one on disk');
  // kube-apiserver now reaches the kubelet, verifying its certificate against the cluster CA.
  assert.equal((await kubectl(cp, ['logs', POD])).trim(), 'hello-over-verified-tls');
});

test('serving CSR for an address that is not the node\'s: denied, the reason names it', { skip, timeout: 120_000 }, async () => {
  approver ??= startServingCsrApprover({ adminKubeconfig: cp.adminKubeconfig, intervalMs: 250 });
  await waitFor(async () => (await kubectlJson<{ status?: { addresses?: unknown[] } }>(cp, ['node', NODE])).status?.addresses?.length, { what: `Node ${NODE} registered`, timeoutMs: 60_000, intervalMs: 250 });
  const api = restClient(loadKubeconfig(await cp.nodeKubeconfig(NODE)));
  const { csrPem } = nodeCsr(NODE, { dns: [], ips: ['10.9.9.9'] });
  await assert.rejects(requestNodeCertificate(api, NODE, csrPem, 60_000, SERVING_CERT), /denied: CocoletServingDenied IP 10\.9\.9\.9 is not an address of Node tls-node/);
});
