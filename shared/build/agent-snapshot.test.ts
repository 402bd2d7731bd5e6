import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_SNAPSHOT_ENV, agentBlobPath, agentSnapshotArgs, agentStampOf, agentStampPath } from './agent-snapshot.js';

test('agentSnapshotArgs: the snapshot only while its stamp names this Node, this bundle path and its bytes; not when turned off', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ccsnap-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bundle = join(dir, 'cocolet-agent.cjs');
  writeFileSync(bundle, 'one();\n');
  assert.equal(agentSnapshotArgs(bundle), undefined, 'no stamp');
  writeFileSync(agentStampPath(bundle), JSON.stringify(agentStampOf(bundle)));
  assert.deepEqual(agentSnapshotArgs(bundle), ['--snapshot-blob', agentBlobPath(bundle), '--', bundle]);
  assert.equal(agentSnapshotArgs(bundle, { [AGENT_SNAPSHOT_ENV]: '0' }), undefined, 'turned off');
  writeFileSync(agentStampPath(bundle), JSON.stringify({ ...agentStampOf(bundle), node: 'v0.0.1' }));
  assert.equal(agentSnapshotArgs(bundle), undefined, 'another Node');
  writeFileSync(agentStampPath(bundle), JSON.stringify({ ...agentStampOf(bundle), bundle: join(dir, 'elsewhere.cjs') }));
  assert.equal(agentSnapshotArgs(bundle), undefined, 'made at another path');
  writeFileSync(agentStampPath(bundle), JSON.stringify(agentStampOf(bundle)));
  writeFileSync(bundle, 'two();\n'); // same size, other bytes
  assert.equal(agentSnapshotArgs(bundle), undefined, 'other bundle bytes');
  writeFileSync(agentStampPath(bundle), '{not json');
  assert.equal(agentSnapshotArgs(bundle), undefined, 'unreadable stamp');
  assert.equal(agentSnapshotArgs(join(dir, 'cocolet-agent.js')), undefined, 'not a bundle');
});
