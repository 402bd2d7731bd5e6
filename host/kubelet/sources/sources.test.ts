import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod } from '../api/types.js';
import { FileSource } from './file.js';
import { HttpSource } from './http.js';
import { PodConfig, type PodUpdate } from './podconfig.js';

const manifest = (name: string, image = 'localhost/x:1'): string => `metadata: {name: ${name}}\nspec: {containers: [{name: c, image: "${image}"}]}\n`;

test('file source + PodConfig: add, change, remove; broken and dot files are skipped', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-src-'));
  const updates: PodUpdate[] = [];
  const errors: string[] = [];
  const pc = new PodConfig({ sources: ['file'], onUpdate: (u) => updates.push(u) });
  const src = new FileSource({ dir, nodeName: 'n', periodMs: 60_000, onSnapshot: (p) => pc.set('file', p), onError: (p) => errors.push(p) });
  try {
    writeFileSync(join(dir, 'a.yaml'), manifest('a'));
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ metadata: { name: 'b' }, spec: { containers: [{ name: 'c', image: 'i:1' }] } }));
    writeFileSync(join(dir, 'broken.yaml'), 'metadata: {name: x}\nspec: {}\n');
    writeFileSync(join(dir, '.hidden.yaml'), manifest('hidden'));
    assert.equal(pc.allSourcesReady(), false);
    await src.scan();
    assert.equal(pc.allSourcesReady(), true);
    assert.deepEqual(updates.map((u) => [u.op, u.pods.map((p) => p.metadata.name).sort()]), [['ADD', ['a-n', 'b-n']]]);
    assert.deepEqual(errors, [join(dir, 'broken.yaml')]);
    await src.scan();
    assert.equal(updates.length, 1, 'an unchanged directory produces no update');
    assert.equal(errors.length, 1, 'a broken file is reported once');
    writeFileSync(join(dir, 'a.yaml'), manifest('a', 'localhost/x:2'));
    unlinkSync(join(dir, 'b.json'));
    await src.scan();
    const ops = updates.slice(1).map((u) => [u.op, u.pods.map((p: Pod) => p.metadata.name).sort()]);
    // A changed static manifest has a new UID: the old pod is removed and the new one added.
    assert.deepEqual(ops, [['REMOVE', ['a-n', 'b-n']], ['ADD', ['a-n']]]);
  } finally {
    src.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('http source: one Pod or a PodList; a failed fetch keeps the previous pods', async () => {
  let body = manifest('h');
  let fail = false;
  const server = createServer((_req, res) => {
    if (fail) {
      res.statusCode = 500;
      res.end();
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const snaps: string[][] = [];
  const src = new HttpSource({ url: `http://127.0.0.1:${port}/pods`, nodeName: 'n', periodMs: 60_000, onSnapshot: (p) => snaps.push(p.map((x) => x.metadata.name)) });
  try {
    await src.poll();
    body = JSON.stringify({ kind: 'PodList', apiVersion: 'v1', items: [{ metadata: { name: 'p1' }, spec: { containers: [{ name: 'c', image: 'i:1' }] } }, { metadata: { name: 'p2' }, spec: { containers: [{ name: 'c', image: 'i:1' }] } }] });
    await src.poll();
    fail = true;
    await src.poll();
    assert.deepEqual(snaps, [['h-n'], ['p1-n', 'p2-n']]);
  } finally {
    src.stop();
    server.close();
  }
});
