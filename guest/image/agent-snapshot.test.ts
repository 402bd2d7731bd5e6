import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentBlobPath, agentSnapshotArgs, agentStampPath } from '../../shared/build/agent-snapshot.js';
import { ensureAgentSnapshot } from './agent-snapshot.js';

/** A bundle shaped like the agent's entry: initializes at load, runs main after deserialization. */
const program = (word: string): string => `'use strict';
const made = { word: ${JSON.stringify(word)}, pid: process.pid };
function main() { process.stdout.write(JSON.stringify({ word: made.word, madeByOther: made.pid !== process.pid, argv: process.argv.slice(2) })); }
if (process.execArgv.includes('--build-snapshot')) require('node:v8').startupSnapshot.setDeserializeMainFunction(main);
else main();
`;

test('ensureAgentSnapshot builds a snapshot the launcher runs (initialized state kept, argv as for the bundle), keeps it while it matches and rebuilds it for new bytes; a bundle that cannot be snapshotted leaves none', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccsnap-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bundle = join(dir, 'cocolet-agent.cjs');
  writeFileSync(bundle, program('first'));
  assert.deepEqual(ensureAgentSnapshot(bundle), { built: true });
  const run = (): { word: string; madeByOther: boolean; argv: string[] } => {
    const args = agentSnapshotArgs(bundle);
    assert.ok(args, 'the stamp matches');
    const r = spawnSync(process.execPath, [...args, '--transport=unix:/x', '--state-dir=/y'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { word: string; madeByOther: boolean; argv: string[] };
  };
  assert.deepEqual(run(), { word: 'first', madeByOther: true, argv: ['--transport=unix:/x', '--state-dir=/y'] });
  const blobMtime = statSync(agentBlobPath(bundle)).mtimeMs;
  assert.deepEqual(ensureAgentSnapshot(bundle), { built: false }, 'unchanged: kept');
  assert.equal(statSync(agentBlobPath(bundle)).mtimeMs, blobMtime);
  writeFileSync(bundle, program('other'));
  assert.equal(agentSnapshotArgs(bundle), undefined, 'stale for the new bytes');
  assert.deepEqual(ensureAgentSnapshot(bundle), { built: true });
  assert.equal(run().word, 'other');
  writeFileSync(bundle, `setInterval(() => {}, 1000);\n${program('x')}`.replace("if (process.execArgv.includes('--build-snapshot')) require('node:v8').startupSnapshot.setDeserializeMainFunction(main);\nelse main();", 'main();'));
  const bad = ensureAgentSnapshot(bundle);
  assert.ok('error' in bad, JSON.stringify(bad));
  assert.throws(() => statSync(agentBlobPath(bundle)), /ENOENT/);
  assert.throws(() => readFileSync(agentStampPath(bundle)), /ENOENT/);
  assert.equal(agentSnapshotArgs(bundle), undefined);
});
