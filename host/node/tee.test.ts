import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeTee, shimTeeReader } from './tee.js';

test('node TEE: dev without a shim configuration, else its confidential_guest (none -> dev)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-tee-'));
  try {
    assert.equal(nodeTee(undefined), 'dev');
    assert.equal(nodeTee(join(dir, 'missing.toml')), 'dev');
    const cfg = join(dir, 'shim.toml');
    writeFileSync(cfg, '[hypervisor]\nkind = "qemu"\nconfidential_guest = "snp"\n');
    assert.equal(nodeTee(cfg), 'snp');
    writeFileSync(cfg, '[hypervisor]\nkind = "process"\n');
    assert.equal(nodeTee(cfg), 'dev');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sandbox TEE: read from the shim state dir; nothing written -> undefined', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-tee-'));
  try {
    const teeOf = shimTeeReader(dir);
    assert.equal(teeOf('sb1'), undefined);
    mkdirSync(join(dir, 'sb1'));
    writeFileSync(join(dir, 'sb1', 'tee'), 'dev\n');
    assert.equal(teeOf('sb1'), 'dev');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
