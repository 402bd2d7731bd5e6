import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_RUNTIME_CLASSES } from '../kubelet/config/flags.js';
import { runtimeClassOverheadFor, vmOverheadFor } from './overhead.js';

test('the VM\'s overhead follows the shim configuration: guest RAM (default_memory + 320 MiB) + QEMU/swtpm 288 MiB, 150m', () => {
  assert.deepEqual(vmOverheadFor(), { memory: '1120Mi', cpu: '150m' });
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-overhead-'));
  try {
    const big = join(dir, 'big.toml');
    writeFileSync(big, '[hypervisor]\ndefault_memory = 2048\n');
    assert.deepEqual(vmOverheadFor(big), { memory: '2656Mi', cpu: '150m' });
    const proc = join(dir, 'process.toml');
    writeFileSync(proc, '[hypervisor]\nkind = "process"\n');
    assert.deepEqual(vmOverheadFor(proc), { memory: '288Mi', cpu: '150m' }, 'no guest RAM without a VM');
    assert.deepEqual(runtimeClassOverheadFor(DEFAULT_RUNTIME_CLASSES, big).cocolet, { memory: '2656Mi', cpu: '150m' });
    assert.equal(runtimeClassOverheadFor(DEFAULT_RUNTIME_CLASSES).runc, undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
