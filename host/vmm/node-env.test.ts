import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { agentEnv, deferExtraCa, DEFERRED_CA_ENV, EXTRA_CA_ENV, restoreExtraCa } from './node-env.js';

test("the daemon boots without NODE_EXTRA_CA_CERTS and puts it back for its children; the process agent never gets it", () => {
  const given = { PATH: '/bin', [EXTRA_CA_ENV]: '/etc/ssl/certs/ca-certificates.crt' };
  const daemon = deferExtraCa(given);
  assert.equal(daemon[EXTRA_CA_ENV], undefined);
  assert.equal(daemon[DEFERRED_CA_ENV], '/etc/ssl/certs/ca-certificates.crt');
  assert.equal(given[EXTRA_CA_ENV], '/etc/ssl/certs/ca-certificates.crt', 'the caller’s environment is not changed');
  restoreExtraCa(daemon);
  assert.deepEqual(daemon, given);
  assert.deepEqual(agentEnv({ ...given, [DEFERRED_CA_ENV]: '/x' }), { PATH: '/bin' });
  // unset: nothing to move, and a stale carrier from outside is not turned into a CA bundle
  const plain = deferExtraCa({ PATH: '/bin', [DEFERRED_CA_ENV]: '/tmp/evil.pem' });
  assert.deepEqual(plain, { PATH: '/bin' });
  restoreExtraCa(plain);
  assert.deepEqual(plain, { PATH: '/bin' });
});

test('a Node started with the deferred environment reads no CA bundle at boot (a missing file would warn)', () => {
  const env = { ...process.env, [EXTRA_CA_ENV]: '/nonexistent/ca.pem' };
  const direct = spawnSync(process.execPath, ['-e', '0'], { env, encoding: 'utf8' });
  assert.match(direct.stderr, /Ignoring extra certs from `\/nonexistent\/ca.pem`/);
  const deferred = spawnSync(process.execPath, ['-e', `process.stdout.write(String(process.env.${DEFERRED_CA_ENV}))`], { env: deferExtraCa(env), encoding: 'utf8' });
  assert.equal(deferred.stderr, '');
  assert.equal(deferred.stdout, '/nonexistent/ca.pem');
});
