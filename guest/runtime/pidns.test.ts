import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync } from 'node:fs';
import { isCocoletError, ErrorCode } from '../../shared/errors/index.js';
import { have, isRoot, waitFor } from '../../shared/testing/harness.js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { childOf, HOLDER_SCRIPT, innermostPid, PodPidNamespace } from './pidns.js';

const skip = !isRoot() ? 'needs root (a new PID namespace)' : !have('unshare') ? 'needs unshare (util-linux or busybox)' : false;

test('the pod PID namespace: one holder, pid 1 of a namespace that is not the agent\'s, the same path for every container; gone once stopped', { skip }, async () => {
  const ns = new PodPidNamespace();
  try {
    const [a, b] = await Promise.all([ns.path(), ns.path()]);
    assert.equal(a, b, 'one namespace for the pod');
    const holder = Number(/^\/proc\/(\d+)\/ns\/pid$/.exec(a)?.[1]);
    assert.equal(innermostPid(holder), 1, 'the holder is the namespace\'s init');
    assert.notEqual(readlinkSync(a), readlinkSync('/proc/self/ns/pid'), 'not the agent\'s own namespace');
    const waiter = await waitFor(() => childOf(holder), { what: 'the holder\'s waiting child', timeoutMs: 10_000 });
    assert.doesNotMatch(readFileSync(`/proc/${waiter}/comm`, 'utf8'), /sleep/, 'nothing named sleep in the pod\'s namespace (critest runs pgrep sleep there)');
    assert.ok(HOLDER_SCRIPT.includes('cat <&3'), 'the holder lives on the agent\'s pipe');
    ns.stop();
    await waitFor(() => innermostPid(holder) === undefined, { what: 'the holder to go', timeoutMs: 10_000 });
    const again = await ns.path();
    assert.notEqual(readlinkSync(again), readlinkSync('/proc/self/ns/pid'));
    // a holder that dies under the pod is not silently replaced: its containers would be split
    process.kill(Number(/^\/proc\/(\d+)\//.exec(again)?.[1]), 'SIGKILL');
    await waitFor(async () => isCocoletError(await ns.path().then(() => undefined, (e: unknown) => e), ErrorCode.FailedPrecondition), { what: 'the ended namespace to be refused', timeoutMs: 10_000 });
  } finally {
    ns.stop();
  }
});

test('the pod PID namespace ends with its agent, even one killed outright (its pipe closes)', { skip }, async () => {
  const mod = fileURLToPath(new URL('./pidns.js', import.meta.url));
  // a stand-in agent: makes the namespace, prints its path, stays up until killed
  const agent = spawn(process.execPath, ['--input-type=module', '-e', `const m = await import(${JSON.stringify(mod)}); console.log(await new m.PodPidNamespace().path()); setInterval(() => {}, 1 << 30);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    let out = '';
    agent.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const path = await waitFor(() => /^\/proc\/\d+\/ns\/pid$/m.exec(out)?.[0], { what: 'the stand-in agent to print its namespace', timeoutMs: 20_000 });
    const holder = Number(/\d+/.exec(path)![0]);
    assert.equal(innermostPid(holder), 1);
    agent.kill('SIGKILL');
    await waitFor(() => innermostPid(holder) === undefined, { what: 'the holder to end with its agent', timeoutMs: 10_000 });
  } finally {
    agent.kill('SIGKILL');
  }
});
