/** Sealed secrets in CreateContainer: env values and shared secret volumes replaced in the runc config, values never logged. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import type { RuncConfig } from '../runtime/spec.js';
import { ContainerSecrets, dataHubFactory, holdsSealedFiles } from './secrets.js';

const VALUE = 'the-secret-value-7f3a';

function harness(opts: { deny?: boolean } = {}) {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }));
  const asked: string[] = [];
  let hubs = 0;
  const hub = () => {
    hubs++;
    return Promise.resolve({
      unsealSecret: (s: string) => {
        asked.push(s);
        if (opts.deny) return Promise.reject(new CocoletError(ErrorCode.PermissionDenied, "kbs:///default/app/token: the broker's policy denies it (resource policy: tee dev not allowed)", { context: { check: 'kbs.policy-deny', resource: 'kbs:///default/app/token' } }));
        return Promise.resolve(Buffer.from(VALUE));
      },
    });
  };
  const mounted: string[] = [];
  const secrets = new ContainerSecrets({ hub, logger, mountTmpfs: (d) => (mounted.push(d), Promise.resolve()), unmount: (d) => (mounted.splice(mounted.indexOf(d), 1), Promise.resolve()) });
  return { secrets, lines, asked, hubs: () => hubs, mounted };
}

function config(env: string[], mounts: RuncConfig['mounts'] = []): RuncConfig {
  return { process: { env }, mounts } as unknown as RuncConfig;
}

test('sealed env values are replaced in the config only; the log names the variable, not the value', async () => {
  const h = harness();
  const c = config(['PATH=/bin', 'SECRET=sealed.a.b.c', 'PLAIN=x']);
  await h.secrets.prepare('c1', c, '/nonexistent');
  assert.deepEqual(c.process.env, ['PATH=/bin', `SECRET=${VALUE}`, 'PLAIN=x']);
  assert.deepEqual(h.asked, ['sealed.a.b.c']);
  const log = h.lines.join('');
  assert.match(log, /"env":\["SECRET"\]/);
  assert.ok(!log.includes(VALUE));
});

test('nothing sealed: the data hub is never made', async () => {
  const h = harness();
  const c = config(['A=sealed', 'B=not.sealed.x']);
  await h.secrets.prepare('c1', c, '/nonexistent');
  assert.equal(h.hubs(), 0);
  assert.deepEqual(c.process.env, ['A=sealed', 'B=not.sealed.x']);
});

test('a refused secret stops the container with the check and the broker reason, never a value', async () => {
  const h = harness({ deny: true });
  await assert.rejects(h.secrets.prepare('c9', config(['SECRET=sealed.a.b.c']), '/nonexistent'), (e: CocoletError) => {
    assert.equal(e.code, ErrorCode.PermissionDenied);
    assert.match(e.message, /^container c9: sealed secret not delivered \[kbs\.policy-deny\]: .*policy denies it \(resource policy: tee dev not allowed\)/);
    assert.equal(e.context.container, 'c9');
    assert.equal(e.context.env, 'SECRET');
    return true;
  });
});

const shm = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/cocolet-agent-secrets-') : undefined;
after(() => shm && rmSync(shm, { recursive: true, force: true }));

test('a shared secret volume of sealed files is re-created on guest memory and bound read-only', { skip: shm ? false : 'no /dev/shm' }, async () => {
  const h = harness();
  const shared = join(shm!, 'root/run/kata-containers/shared/containers');
  const vol = join(shared, 'c1-secret-vol');
  mkdirSync(join(vol, '..data'), { recursive: true });
  writeFileSync(join(vol, '..data', 'token'), 'sealed.x.y.z\n');
  symlinkSync('..data/token', join(vol, 'token'));
  writeFileSync(join(vol, 'note'), 'public');
  const plainShared = join(shared, 'c1-config');
  mkdirSync(plainShared);
  writeFileSync(join(plainShared, 'a'), 'b');
  const outside = join(shm!, 'elsewhere');
  mkdirSync(outside);
  writeFileSync(join(outside, 'k'), 'sealed.q');
  const cdir = join(shm!, 'ctr');
  mkdirSync(cdir);
  const c = config(['A=1'], [
    { destination: '/secrets', type: 'bind', source: vol, options: ['rbind', 'rw'] },
    { destination: '/config', type: 'bind', source: plainShared, options: ['rbind'] },
    { destination: '/other', type: 'bind', source: outside, options: ['rbind'] },
  ]);
  assert.equal(await holdsSealedFiles(vol), true);
  await h.secrets.prepare('c1', c, cdir);
  const m = c.mounts[0]!;
  assert.equal(m.source, join(cdir, 'secrets', '0'));
  assert.deepEqual(m.options, ['rbind', 'ro']);
  assert.deepEqual(readdirSync(m.source).sort(), ['note', 'token']);
  assert.equal(readFileSync(join(m.source, 'token'), 'utf8'), VALUE);
  assert.equal(readFileSync(join(m.source, 'note'), 'utf8'), 'public');
  assert.equal(c.mounts[1]!.source, plainShared, 'a shared mount without sealed files is left alone');
  assert.equal(c.mounts[2]!.source, outside, 'only files the host copied in are considered');
  assert.deepEqual(h.mounted, [join(cdir, 'secrets')]);
  assert.ok(!h.lines.join('').includes(VALUE));
  await h.secrets.release(cdir);
  assert.deepEqual(h.mounted, []);
});

test('the agent data hub: init-data without a broker refuses sealed secrets by name', async () => {
  const hub = await dataHubFactory(() => ({ raw: Buffer.from(''), data: {} }), pino({ level: 'silent' }))();
  await assert.rejects(hub.unsealSecret('sealed.eyJhbGciOiJFUzI1NiIsImtpZCI6ImticzovLy9hL2IvYyJ9.eyJ2ZXJzaW9uIjoiMC4xLjAiLCJ0eXBlIjoidmF1bHQiLCJuYW1lIjoia2JzOi8vL2EvYi9jIiwicHJvdmlkZXIiOiJrYnMifQ.c2ln'), (e: CocoletError) => e.context.check === 'cdh.no-broker' || /no key broker/.test(e.message));
});
