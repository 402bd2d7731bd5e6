// The vTPM state template (COCOLET_SWTPM_STATE_TEMPLATE): refused when it holds no swtpm state; copied, logs and locks left out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { startSwtpm } from './swtpm.js';

test('a template without swtpm state is refused before swtpm runs; a real one is copied without its log and lock', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-swtpm-tpl-'));
  const saved = process.env.COCOLET_SWTPM_STATE_TEMPLATE;
  try {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    process.env.COCOLET_SWTPM_STATE_TEMPLATE = empty;
    await assert.rejects(startSwtpm(join(dir, 'vm1'), '/nonexistent/swtpm'), (e: CocoletError) => e.code === ErrorCode.ConfigInvalid && /holds no swtpm state/.test(e.message));
    const tpl = join(dir, 'tpl');
    mkdirSync(tpl);
    for (const f of ['tpm2-00.permall', 'swtpm.log', '.lock']) writeFileSync(join(tpl, f), 'x');
    process.env.COCOLET_SWTPM_STATE_TEMPLATE = tpl;
    // the binary does not exist: startSwtpm fails after the copy
    await assert.rejects(startSwtpm(join(dir, 'vm2'), '/nonexistent/swtpm'));
    assert.equal(existsSync(join(dir, 'vm2', 'tpm', 'tpm2-00.permall')), true);
    assert.equal(existsSync(join(dir, 'vm2', 'tpm', 'swtpm.log')), false);
    assert.equal(existsSync(join(dir, 'vm2', 'tpm', '.lock')), false);
  } finally {
    if (saved === undefined) delete process.env.COCOLET_SWTPM_STATE_TEMPLATE;
    else process.env.COCOLET_SWTPM_STATE_TEMPLATE = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});
