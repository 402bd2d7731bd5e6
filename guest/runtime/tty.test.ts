import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, isCocoletError } from '../../shared/errors/index.js';
import { waitFor } from '../../shared/testing/harness.js';
import { findPtyHelper, ptyCommand, ptySlaveOf, resizePty, shellQuote } from './tty.js';

const helper = findPtyHelper();
const noHelper = helper ? undefined : 'util-linux script is not installed';

const quoting = [
  { name: 'plain word', arg: 'runc', sh: `'runc'` },
  { name: 'spaces and $', arg: 'a b $HOME', sh: `'a b $HOME'` },
  { name: 'single quote', arg: `it's`, sh: `'it'\\''s'` },
  { name: 'empty', arg: '', sh: `''` },
];
for (const tc of quoting) {
  test(`shellQuote: ${tc.name}`, () => {
    assert.equal(shellQuote(tc.arg), tc.sh);
    // and sh reads it back as the same single word
    assert.equal(execFileSync('/bin/sh', ['-c', `printf %s ${shellQuote(tc.arg)}`], { encoding: 'utf8' }), tc.arg);
  });
}

test('ptyCommand: script quiet, with the exit status, no outer echo, no typescript; runc exec-ed by /bin/sh', () => {
  const c = ptyCommand('/usr/bin/script', ['runc', '--root', '/run/x y', 'exec', 'c1']);
  assert.equal(c.file, '/usr/bin/script');
  assert.deepEqual(c.args, ['-q', '-e', '-E', 'never', '-c', `exec 'runc' '--root' '/run/x y' 'exec' 'c1'`, '/dev/null']);
  assert.equal(c.env.SHELL, '/bin/sh');
  assert.throws(() => ptyCommand('/usr/bin/script', []), (e: unknown) => isCocoletError(e, ErrorCode.InvalidArgument));
});

test('findPtyHelper: busybox applet links do not count (no -e / -E), a real file does, none gives undefined', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ccpty-'));
  try {
    symlinkSync('/bin/busybox', join(dir, 'busybox'));
    symlinkSync(join(dir, 'busybox'), join(dir, 'script-bb'));
    writeFileSync(join(dir, 'script'), '#!/bin/sh\n', { mode: 0o755 });
    assert.equal(findPtyHelper([join(dir, 'script-bb'), join(dir, 'missing')]), undefined);
    assert.equal(findPtyHelper([join(dir, 'script-bb'), join(dir, 'script')]), join(dir, 'script'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('resizePty: bad sizes are refused; a gone process has nothing to resize', async () => {
  await assert.rejects(resizePty(1, -1, 80), (e: unknown) => isCocoletError(e, ErrorCode.InvalidArgument));
  await assert.rejects(resizePty(1, 24, 70_000), (e: unknown) => isCocoletError(e, ErrorCode.InvalidArgument));
  assert.equal(ptySlaveOf(2 ** 22 + 7), undefined);
  assert.equal(await resizePty(2 ** 22 + 7, 24, 80), false);
});

function underPty(argv: string[]): { out: () => string; write(s: string): void; end(): void; exit: Promise<number | null>; pid: number } {
  const c = ptyCommand(helper!, argv);
  const child = spawn(c.file, c.args, { stdio: ['pipe', 'pipe', 'pipe'], env: c.env });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  return { out: () => out, write: (s) => void child.stdin.write(s), end: () => void child.stdin.end(), exit, pid: child.pid! };
}

test('a process under the pty helper has a terminal; a resize reaches it; its exit status comes back', { skip: noHelper, timeout: 30_000 }, async () => {
  const p = underPty(['/bin/sh', '-c', 'test -t 0 && test -t 1 && echo is-a-tty; read x; stty size; exit 3']);
  await waitFor(() => p.out().includes('is-a-tty'), { what: 'the tty check', timeoutMs: 20_000 });
  assert.match(ptySlaveOf(p.pid) ?? '', /^\/dev\/pts\/\d+$/);
  assert.equal(await resizePty(p.pid, 21, 73), true);
  p.write('go\n');
  assert.equal(await p.exit, 3);
  assert.match(p.out(), /21 73/);
  assert.doesNotMatch(p.out(), /go/, 'no echo of the input on the outer pty (-E never)');
});

test('closing the helper\'s stdin ends the input of the process on the pty (EOF character)', { skip: noHelper, timeout: 30_000 }, async () => {
  const p = underPty(['/bin/cat']);
  p.write('hello\n');
  p.end();
  assert.equal(await p.exit, 0);
  assert.match(p.out(), /hello/);
});
