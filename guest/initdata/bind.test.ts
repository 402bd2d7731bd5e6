import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSnpReport } from '../../shared/attestation/snp/report.js';
import { parseTdxQuote } from '../../shared/attestation/tdx/quote.js';
import { attestationFixtures, FIXTURES_ABSENT, fx } from '../../shared/attestation/testing/fixtures.js';
import { ErrorCode } from '../../shared/errors/index.js';
import { checkInitdataBinding, probeTsm } from './bind.js';

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

const probeCases: { name: string; mkdir: (dir: string) => void; want: string | RegExp }[] = [
  {
    name: 'a provider answers: the report is read through inblob/provider/outblob',
    mkdir: (d) => {
      mkdirSync(d);
      writeFileSync(join(d, 'provider'), 'sev_guest\n');
      writeFileSync(join(d, 'outblob'), Buffer.from([1, 2, 3]));
    },
    want: 'report',
  },
  { name: 'no provider (the kernel refuses the entry with ENXIO)', mkdir: () => { throw Object.assign(new Error('mkdir'), { code: 'ENXIO' }); }, want: 'no-provider' },
  { name: 'any other mkdir error fails closed', mkdir: () => { throw Object.assign(new Error('mkdir'), { code: 'EACCES' }); }, want: /creating the report entry .* failed \(EACCES\)/ },
  { name: 'a report without outblob fails closed', mkdir: (d) => { mkdirSync(d); writeFileSync(join(d, 'provider'), 'sev_guest\n'); }, want: /reading the report failed/ },
  { name: 'an empty outblob fails closed', mkdir: (d) => { mkdirSync(d); writeFileSync(join(d, 'provider'), 'tdx_guest\n'); writeFileSync(join(d, 'outblob'), ''); }, want: /empty outblob/ },
];

for (const tc of probeCases) {
  test(`configfs-tsm probe: ${tc.name}`, () => {
    const root = mkdtempSync(join(tmpdir(), 'cocolet-tsm-'));
    try {
      if (typeof tc.want === 'string') {
        const p = probeTsm(root, Buffer.alloc(64), tc.mkdir);
        assert.equal(p.state, tc.want);
        if (p.state === 'report') assert.deepEqual([p.provider, p.outblob], ['sev_guest', Buffer.from([1, 2, 3])]);
      } else {
        assert.throws(() => probeTsm(root, Buffer.alloc(64), tc.mkdir), (e: { code?: string; message: string }) => e.code === ErrorCode.FailedPrecondition && (tc.want as RegExp).test(e.message));
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}

test('configfs-tsm probe: no report folder means absent', () => {
  assert.equal(probeTsm('/nonexistent/cocolet/tsm/report').state, 'absent');
});
