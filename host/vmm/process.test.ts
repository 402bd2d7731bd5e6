import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastAgentError } from './process.js';

const cases: { name: string; log?: string; want: string | undefined }[] = [
  { name: 'the last error line: message and its error', log: '{"level":30,"msg":"agent starting"}\n{"level":50,"msg":"agent failed to start","err":{"message":"policy: bad field"}}\n', want: 'agent failed to start: policy: bad field' },
  { name: 'info lines only', log: '{"level":30,"msg":"agent starting"}\n', want: undefined },
  { name: 'a line that is not JSON after the error is skipped', log: '{"level":60,"msg":"fatal"}\nnode: some crash text\n', want: 'fatal' },
  { name: 'no log file', want: undefined },
  { name: 'a long reason is cut at 300 characters', log: `{"level":50,"msg":"${'x'.repeat(400)}"}\n`, want: 'x'.repeat(300) },
];
for (const tc of cases) {
  test(`process agent start failure reason: ${tc.name}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'cocolet-agent-log-'));
    try {
      const path = join(dir, 'console.log');
      if (tc.log !== undefined) writeFileSync(path, tc.log);
      assert.equal(lastAgentError(path), tc.want);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
