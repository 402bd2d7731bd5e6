/**
 * The TPM attester against a real swtpm (socket mode): its evidence verifies with the project's
 * strict TPM verifier (shared/attestation/tpm) with the AK pinned, binds the report data, carries
 * PCR 8 as init-data measurement leaves it, and keeps the same AK across attesters and restarts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Harness } from '../../../shared/testing/harness.js';
import { verifyTpm, type VerifyOptions } from '../../../shared/attestation/index.js';
import { evictControl, pcrExtend } from './commands.js';
import { DEFAULT_AK_HANDLE, TPM_REPORT_DATA_SIZE, TpmAttester, type TpmEvidenceJson } from './attester.js';
import { haveSwtpm, startTestSwtpm, type TestSwtpm } from './swtpm-testing.js';

function verifierInput(ev: TpmEvidenceJson) {
  return {
    quote: new Uint8Array(Buffer.from(ev.tpm_quote.message, 'base64')),
    signature: new Uint8Array(Buffer.from(ev.tpm_quote.signature, 'base64')),
    ak: new Uint8Array(Buffer.from(ev.ak_public, 'base64')),
    pcrs: { hash: 'sha256' as const, pcrs: Object.fromEntries(ev.tpm_quote.pcrs.map((v, i) => [String(i), v])) },
  };
}

function qualifying(reportData: Buffer): Uint8Array {
  const q = Buffer.alloc(TPM_REPORT_DATA_SIZE);
  reportData.copy(q, 0, 0, TPM_REPORT_DATA_SIZE);
  return new Uint8Array(q);
}

describe('TPM attester on swtpm', { skip: haveSwtpm() ? false : 'swtpm is not installed' }, () => {
  const h = new Harness();
  let tpm: TestSwtpm;
  before(async () => {
    tpm = await startTestSwtpm(h);
  });
  after(() => h.dispose());

  const reportData = createHash('sha384').update('binding').digest();

  test('evidence verifies with the AK pinned, over the binding digest as qualifying data', async () => {
    await using att = new TpmAttester(await tpm.connect());
    const ev = await att.evidence(reportData);
    assert.deepEqual(Object.keys(ev).sort(), ['ak_public', 'tpm_quote']);
    assert.equal(ev.tpm_quote.pcrs.length, 24);
    const pin = await att.akPin();
    assert.equal(pin, createHash('sha256').update(Buffer.from(ev.ak_public, 'base64')).digest('hex'));
    const opts = { nonce: qualifying(reportData), akPins: [pin], allowUntrustedAk: false };
    const r = verifyTpm(verifierInput(ev), opts as VerifyOptions);
    assert.equal(r.verified, true, r.reason);
    assert.equal((r.claims.signature as { scheme: string }).scheme, 'rsassa');
  });

  const negatives: { name: string; change: (ev: TpmEvidenceJson) => void; nonce?: Uint8Array; reason: RegExp }[] = [
    { name: 'another binding', change: () => {}, nonce: qualifying(createHash('sha384').update('other').digest()), reason: /nonce/ },
    { name: 'a PCR value changed', change: (ev) => (ev.tpm_quote.pcrs[8] = 'ff'.repeat(32)), reason: /pcr/i },
    {
      name: 'a flipped quote byte',
      change: (ev) => {
        const b = Buffer.from(ev.tpm_quote.message, 'base64');
        b[b.length - 1]! ^= 1;
        ev.tpm_quote.message = b.toString('base64');
      },
      reason: /signature|pcr/i,
    },
  ];
  for (const c of negatives) {
    test(`evidence is refused with ${c.name}`, async () => {
      await using att = new TpmAttester(await tpm.connect());
      const ev = await att.evidence(reportData);
      c.change(ev);
      const r = verifyTpm(verifierInput(ev), { nonce: c.nonce ?? qualifying(reportData), akPins: [await att.akPin()] } as VerifyOptions);
      assert.equal(r.verified, false);
      assert.match(r.reason ?? '', c.reason);
    });
  }

  test('PCR 8 carries the init-data digest extended into it', async () => {
    const digest = createHash('sha256').update('version = "0.1.0"\n').digest();
    await using att = new TpmAttester(await tpm.connect());
    const before8 = (await att.evidence(reportData)).tpm_quote.pcrs[8]!;
    // extend through the same transport (swtpm serves one connection at a time)
    await pcrExtend(att.transport, 8, digest);
    const ev = await att.evidence(reportData);
    const want = createHash('sha256').update(Buffer.from(before8, 'hex')).update(digest).digest('hex');
    assert.equal(ev.tpm_quote.pcrs[8], want);
    assert.equal(verifyTpm(verifierInput(ev), { nonce: qualifying(reportData), akPins: [await att.akPin()] } as VerifyOptions).verified, true);
  });

  test('the same TPM gives the same AK to every attester; an ECC AK is another key', async () => {
    let a: string;
    {
      await using att = new TpmAttester(await tpm.connect(), { akHandle: null });
      a = await att.akPin();
    }
    {
      await using att = new TpmAttester(await tpm.connect(), { akHandle: null });
      assert.equal(await att.akPin(), a);
    }
    await using ecc = new TpmAttester(await tpm.connect(), { akHandle: null, akAlgorithm: 'ecc' });
    assert.notEqual(await ecc.akPin(), a);
    const ev = await ecc.evidence(reportData);
    const r = verifyTpm(verifierInput(ev), { nonce: qualifying(reportData), akPins: [await ecc.akPin()] } as VerifyOptions);
    assert.equal(r.verified, true, r.reason);
    assert.equal((r.claims.signature as { scheme: string }).scheme, 'ecdsa');
  });

  test('a key persisted at the AK handle is used as the AK', async () => {
    let pin: string;
    {
      await using att = new TpmAttester(await tpm.connect(), { akHandle: null, akAlgorithm: 'ecc' });
      pin = await att.akPin();
      await evictControl(att.transport, await att.akHandle(), DEFAULT_AK_HANDLE);
    }
    await using att = new TpmAttester(await tpm.connect());
    assert.equal(await att.akPin(), pin);
  });
});
