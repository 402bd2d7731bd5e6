import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSnpReport } from '../../shared/attestation/snp/report.js';
import { parseTdxQuote } from '../../shared/attestation/tdx/quote.js';
import { attestationFixtures, FIXTURES_ABSENT, fx } from '../../shared/attestation/testing/fixtures.js';
import { ErrorCode } from '../../shared/errors/index.js';
import { checkInitdataBinding, readTsmReport } from './bind.js';

const noFixtures = attestationFixtures() === null ? FIXTURES_ABSENT : false;

const cases: { name: string; provider: string; file: string; field: (b: Uint8Array) => Uint8Array }[] = [
  { name: 'SNP HOSTDATA', provider: 'sev_guest', file: 'snp/milan-v2-go-sev-guest/report.bin', field: (b) => parseSnpReport(b).hostData },
  { name: 'TDX MRCONFIGID', provider: 'tdx_guest', file: 'tdx/v4-gce-cos113-ccel-go-tdx-guest/quote.bin', field: (b) => parseTdxQuote(b).body.mrConfigId },
];

for (const tc of cases) {
  test(`${tc.name} from a real report binds the matching digest and refuses another`, { skip: noFixtures }, () => {
    const blob = fx(tc.file);
    const field = Buffer.from(tc.field(blob));
    // the host writes digest truncated/zero-padded: a digest equal to the field (sha384 for 48 bytes, first 32 for SNP) matches
    assert.equal(checkInitdataBinding(tc.provider, blob, Buffer.concat([field, Buffer.alloc(64 - field.length)]).subarray(0, Math.max(field.length, 32))).value.length, field.length);
    const other = Buffer.from(field);
    other[0] = other[0]! ^ 1;
    assert.throws(() => checkInitdataBinding(tc.provider, blob, other), (e: { code?: string }) => e.code === ErrorCode.EvidenceClaim);
  });
}

test('configfs-tsm: a report is read through inblob/provider/outblob; absent interface means none', () => {
  const root = mkdtempSync(join(tmpdir(), 'cocolet-tsm-'));
  try {
    assert.equal(readTsmReport(join(root, 'missing')), undefined);
    const entry = join(root, `cocolet-initdata-${process.pid}`);
    mkdirSync(entry);
    writeFileSync(join(entry, 'provider'), 'sev_guest\n');
    writeFileSync(join(entry, 'outblob'), Buffer.from([1, 2, 3]));
    const r = readTsmReport(root);
    assert.deepEqual(r, { provider: 'sev_guest', outblob: Buffer.from([1, 2, 3]) });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
