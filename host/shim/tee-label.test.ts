import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { teeDescription } from '../../shared/tee/kind.js';
import { readTeeLabel, writeTeeLabel } from './tee-label.js';

const dir = mkdtempSync(join(tmpdir(), 'cocolet-tee-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the shim\'s TEE report round-trips through the sandbox folder; anything else reads as unreported', () => {
  mkdirSync(join(dir, 'sb1'));
  writeTeeLabel(join(dir, 'sb1'), 'dev');
  assert.equal(statSync(join(dir, 'sb1', 'tee')).mode & 0o777, 0o600);
  assert.equal(readTeeLabel(dir, 'sb1'), 'dev');
  assert.equal(readTeeLabel(dir, 'missing'), undefined);
  assert.equal(readTeeLabel(dir, '../sb1'), undefined, 'a sandbox id is never a path');
  mkdirSync(join(dir, 'sb2'));
  writeFileSync(join(dir, 'sb2', 'tee'), 'sgx\n');
  assert.equal(readTeeLabel(dir, 'sb2'), undefined);
});

test('only snp and tdx are described as protecting memory; dev names what the host can do', () => {
  assert.match(teeDescription('dev'), /not confidential.*host can read and change guest memory, the vTPM and the console/);
  assert.match(teeDescription('none'), /not confidential/);
  assert.doesNotMatch(teeDescription('snp'), /not confidential/);
  assert.doesNotMatch(teeDescription('tdx'), /not confidential/);
});
