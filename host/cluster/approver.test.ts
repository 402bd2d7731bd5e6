import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import * as asn1js from 'asn1js';
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralName, SubjectAlternativeName } from '@peculiar/asn1-x509';
import { nodeCsr, KUBELET_SERVING_SIGNER } from '../kubelet/node/bootstrap.js';
import { judgeServingCsr, parseCsr, startServingCsrApprover, type CsrObject } from './approver.js';
import type { RestClient } from '../kubelet/client/rest.js';
import { ApiError } from '../kubelet/client/rest.js';

const node = { status: { addresses: [{ type: 'InternalIP', address: '10.0.0.5' }, { type: 'Hostname', address: 'n1' }] } };
const csrOf = (pem: string, over: Partial<CsrObject['spec']> = {}): CsrObject => ({
  metadata: { name: 'csr-x' },
  spec: { request: Buffer.from(pem).toString('base64'), signerName: KUBELET_SERVING_SIGNER, usages: ['digital signature', 'server auth'], username: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'], ...over },
});
const good = (): string => nodeCsr('n1', { dns: ['n1'], ips: ['10.0.0.5'] }).csrPem;

test('serving CSR: a node asking for its own names is approved; the request carries them as subjectAltName', async () => {
  assert.deepEqual(await judgeServingCsr(csrOf(good()), node), { verdict: 'approve' });
  assert.deepEqual(await judgeServingCsr(csrOf(nodeCsr('n1', { dns: [], ips: ['10.0.0.5'] }).csrPem, { usages: ['key encipherment', 'digital signature', 'server auth'] }), node), { verdict: 'approve' });
});

test('serving CSR: another node\'s name or address, no names, a foreign subject, other usages or requesters are denied with the reason', async () => {
  const cases: [CsrObject, RegExp][] = [
    [csrOf(nodeCsr('n1', { dns: ['n2'], ips: ['10.0.0.5'] }).csrPem), /DNS name n2 is not an address of Node n1/],
    [csrOf(nodeCsr('n1', { dns: ['n1'], ips: ['10.0.0.6', '127.0.0.1'] }).csrPem), /IP 10\.0\.0\.6, IP 127\.0\.0\.1 are not an address of Node n1/],
    [csrOf(nodeCsr('n1').csrPem), /names no DNS name or IP address/],
    [csrOf(nodeCsr('n2', { dns: ['n1'], ips: [] }).csrPem), /subject .* is not O=system:nodes, CN=system:node:n1/],
    [csrOf(good(), { usages: ['digital signature', 'server auth', 'client auth'] }), /usages "client auth" are not those of a serving certificate/],
    [csrOf(good(), { usages: ['digital signature'] }), /lack "server auth"/],
    [csrOf(good(), { username: 'system:serviceaccount:default:x', groups: ['system:serviceaccounts'] }), /is not a node/],
    [csrOf(good(), { groups: ['system:authenticated'] }), /is not a node/],
    [csrOf(good(), { signerName: 'kubernetes.io/kube-apiserver-client-kubelet' }), /signer .* is not kubernetes\.io\/kubelet-serving/],
    [csrOf('not a csr'), /not a PKCS#10 certificate request/],
  ];
  for (const [csr, reason] of cases) {
    const v = await judgeServingCsr(csr, node);
    assert.equal(v.verdict, 'deny', `${reason}: ${JSON.stringify(v)}`);
    assert.match((v as { reason: string }).reason, reason);
  }
});

test('serving CSR: a request whose signature does not verify is denied', async () => {
  const pem = good();
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  der[der.length - 5]! ^= 0x01; // inside the signature
  const bad = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
  const v = await judgeServingCsr(csrOf(bad), node);
  assert.equal(v.verdict, 'deny');
  assert.match((v as { reason: string }).reason, /self-signature does not verify|not a PKCS#10/);
});

/** A CSR for n1 with an e-mail name besides its DNS name (built by hand: nodeCsr makes only DNS / IP names). */
function csrWithEmail(): string {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rdn = (oid: string, value: string): asn1js.Set =>
    new asn1js.Set({ value: [new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: oid }), new asn1js.Utf8String({ value })] })] });
  const san = AsnConvert.serialize(new SubjectAlternativeName([new GeneralName({ dNSName: 'n1' }), new GeneralName({ rfc822Name: 'x@example.com' })]));
  const ext = new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: '2.5.29.17' }), new asn1js.OctetString({ valueHex: san })] });
  const attr = new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.9.14' }), new asn1js.Set({ value: [new asn1js.Sequence({ value: [ext] })] })] });
  const info = new asn1js.Sequence({
    value: [
      new asn1js.Integer({ value: 0 }),
      new asn1js.Sequence({ value: [rdn('2.5.4.10', 'system:nodes'), rdn('2.5.4.3', 'system:node:n1')] }),
      asn1js.fromBER(new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })).buffer).result,
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [attr] }),
    ],
  });
  const signature = sign('sha256', Buffer.from(info.toBER(false)), { key: privateKey, dsaEncoding: 'der' });
  const csr = new asn1js.Sequence({ value: [info, new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: '1.2.840.10045.4.3.2' })] }), new asn1js.BitString({ valueHex: new Uint8Array(signature).buffer })] });
  return `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(csr.toBER(false)).toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
}

test('serving CSR: an e-mail name is denied; a Node not registered yet makes it wait', async () => {
  const v = await judgeServingCsr(csrOf(csrWithEmail()), node);
  assert.equal(v.verdict, 'deny');
  assert.match((v as { reason: string }).reason, /of type email are not allowed/);
  assert.equal((await judgeServingCsr(csrOf(good()), undefined)).verdict, 'wait');
});

test('parseCsr: the subject, the names and a valid signature of nodeCsr\'s request', () => {
  const p = parseCsr(nodeCsr('n1', { dns: ['n1', 'n1.example'], ips: ['10.0.0.5', '::1'] }).csrPem);
  assert.deepEqual(p.subject, ['O=system:nodes', 'CN=system:node:n1']);
  assert.deepEqual(p.names, [{ type: 'dns', value: 'n1' }, { type: 'dns', value: 'n1.example' }, { type: 'ip', value: '10.0.0.5' }, { type: 'ip', value: '::1' }]);
  assert.equal(p.signatureValid, true);
  assert.throws(() => parseCsr('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----'), /not a DER SEQUENCE|CertificationRequest/);
});

test('approver pass: approves and denies through the approval subresource, leaves decided and other signers alone', async () => {
  const updates: { path: string; body: CsrObject }[] = [];
  const items: CsrObject[] = [
    { ...csrOf(good()), metadata: { name: 'ok' } },
    { ...csrOf(nodeCsr('n1', { dns: ['n2'], ips: [] }).csrPem), metadata: { name: 'foreign' } },
    { ...csrOf(good(), { signerName: 'kubernetes.io/kube-apiserver-client-kubelet', usages: ['client auth'] }), metadata: { name: 'client' } },
    { ...csrOf(good()), metadata: { name: 'done' }, status: { conditions: [{ type: 'Approved' }] } },
    { ...csrOf(nodeCsr('n9', { dns: ['n9'], ips: [] }).csrPem, { username: 'system:node:n9' }), metadata: { name: 'early' } },
  ];
  const api: RestClient = {
    server: 'https://fake',
    get: <T>(path: string) => {
      if (path.endsWith('certificatesigningrequests')) return Promise.resolve({ items } as T);
      if (path === '/api/v1/nodes/n1') return Promise.resolve(node as T);
      return Promise.reject(new ApiError(404, 'NotFound', 'not found'));
    },
    update: <T>(path: string, body: unknown) => {
      updates.push({ path, body: body as CsrObject });
      return Promise.resolve(body as T);
    },
    create: () => Promise.reject(new Error('unused')),
    patch: () => Promise.reject(new Error('unused')),
    delete: () => Promise.reject(new Error('unused')),
    watch: () => ({ done: Promise.resolve(), abort: () => undefined }),
  };
  const a = startServingCsrApprover({ api, intervalMs: 3_600_000 });
  await a.stop();
  assert.deepEqual(updates.map((u) => [u.path.split('/').slice(-2).join('/'), u.body.status?.conditions?.at(-1)?.type]), [['ok/approval', 'Approved'], ['foreign/approval', 'Denied']]);
  assert.match(updates[1]!.body.status!.conditions!.at(-1)!.message!, /DNS name n2 is not an address of Node n1/);
  assert.deepEqual(a.approved, ['ok']);
  assert.deepEqual([...a.denied.keys()], ['foreign']);
});
