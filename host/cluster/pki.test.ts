import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ensureClientCert, ensureClusterPki } from './pki.js';
import { kubeconfigText } from './kubeconfig.js';

test('cluster pki: every certificate chains to the CA, with the identities the control plane expects', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-pki-'));
  try {
    const pki = await ensureClusterPki(join(dir, 'pki'));
    const ca = new X509Certificate(readFileSync(pki.caFile));
    assert.equal(ca.ca, true);
    const cert = (f: string): X509Certificate => new X509Certificate(readFileSync(f));
    const cases: { name: string; file: string; subject: RegExp }[] = [
      { name: 'admin', file: pki.admin.certFile, subject: /O=system:masters\nCN=kubernetes-admin/ },
      { name: 'controller-manager', file: pki.controllerManager.certFile, subject: /CN=system:kube-controller-manager/ },
      { name: 'scheduler', file: pki.scheduler.certFile, subject: /CN=system:kube-scheduler/ },
      { name: 'kubelet client', file: pki.kubeletClient.certFile, subject: /CN=kube-apiserver-kubelet-client/ },
      { name: 'front proxy', file: pki.frontProxyClient.certFile, subject: /CN=front-proxy-client/ },
    ];
    for (const c of cases) {
      const x = cert(c.file);
      assert.match(x.subject, c.subject, c.name);
      assert.ok(x.verify(ca.publicKey), `${c.name} is signed by the CA`);
      assert.ok(x.keyUsage?.includes('1.3.6.1.5.5.7.3.2'), `${c.name} is a client certificate`);
    }
    const server = cert(pki.apiserver.certFile);
    assert.ok(server.checkIP('127.0.0.1') && server.checkIP('10.0.0.1') && server.checkHost('kubernetes.default.svc'));
    const node = await ensureClientCert(pki, 'node-n1', 'system:node:n1', ['system:nodes']);
    assert.match(cert(node.certFile).subject, /O=system:nodes\nCN=system:node:n1/);
    assert.equal(statSync(node.keyFile).mode & 0o777, 0o600);
    assert.equal(statSync(pki.caKeyFile).mode & 0o777, 0o600);
    // A second run keeps every identity.
    const again = await ensureClusterPki(join(dir, 'pki'));
    assert.equal(readFileSync(again.admin.certFile, 'utf8'), readFileSync(pki.admin.certFile, 'utf8'));
    await assert.rejects(async () => ensureClientCert(pki, '../evil', 'x'), /not a lowercase DNS-style name/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kubeconfig: certificate and token users', () => {
  const cert = parse(kubeconfigText({ server: 'https://127.0.0.1:1', caFile: '/ca', user: 'system:node:n1', credentials: { clientCertificate: '/c', clientKey: '/k' } })) as Record<string, unknown>;
  assert.deepEqual(cert.users, [{ name: 'system:node:n1', user: { 'client-certificate': '/c', 'client-key': '/k' } }]);
  assert.equal(cert['current-context'], 'system:node:n1@cocolet');
  const tok = parse(kubeconfigText({ server: 'https://127.0.0.1:1', caFile: '/ca', user: 'b', credentials: { token: 'abcdef.0123456789abcdef' } })) as { users: { user: unknown }[] };
  assert.deepEqual(tok.users[0]!.user, { token: 'abcdef.0123456789abcdef' });
});
