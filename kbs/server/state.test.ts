import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrokerState, StateCorruptError, STATE_FILE } from './state.js';
import { isCocoletError, ErrorCode } from '../../shared/errors/index.js';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'cocolet-kbs-state-'));
}

test('state written through survives a reload; the file is 0600 and no temp file is left', () => {
  const d = tmp();
  try {
    const s = BrokerState.load(d);
    s.setResource('a/b/c', new TextEncoder().encode('v1'));
    s.setReferenceValues('default', { allowDevelopmentTee: true, pcrs: { '8': ['ab'.repeat(32)] } });
    s.setResourcePolicy('{"rules":[{"resource":"a/*/*","allow":true}]}');
    const r = BrokerState.load(d);
    assert.equal(Buffer.from(r.resource('a/b/c')!).toString(), 'v1');
    assert.deepEqual(r.referenceValues.default, { allowDevelopmentTee: true, pcrs: { '8': ['ab'.repeat(32)] } });
    assert.deepEqual(r.resourcePolicy, { rules: [{ resource: 'a/*/*', allow: true }] });
    assert.equal(statSync(join(d, STATE_FILE)).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(d).filter((n) => n.includes('.tmp-')), []);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('a policy that does not parse is refused and the stored one stays', () => {
  const d = tmp();
  try {
    const s = BrokerState.load(d);
    s.setResourcePolicy('{"rules":[]}');
    assert.throws(() => s.setResourcePolicy('package policy\nallow { true }'), /evaluates no Rego/);
    assert.deepEqual(BrokerState.load(d).resourcePolicy, { rules: [] });
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

const CORRUPTIONS: { name: string; mutate: (text: string) => string; why: RegExp }[] = [
  { name: 'truncated', mutate: (t) => t.slice(0, t.length / 2), why: /not JSON/ },
  { name: 'a changed value', mutate: (t) => t.replace('"djE="', '"djI="'), why: /checksum mismatch/ },
  { name: 'unknown version', mutate: (t) => t.replace('"version": 1', '"version": 9'), why: /version 9 is not 1/ },
];
for (const c of CORRUPTIONS) {
  test(`a corrupt state file (${c.name}) is refused naming it and left untouched`, () => {
    const d = tmp();
    try {
      BrokerState.load(d).setResource('a/b/c', new TextEncoder().encode('v1'));
      const f = join(d, STATE_FILE);
      const bad = c.mutate(readFileSync(f, 'utf8'));
      writeFileSync(f, bad);
      assert.throws(
        () => BrokerState.load(d),
        (e: unknown) => e instanceof StateCorruptError && e.file === f && c.why.test(e.message) && e.message.includes(f) && isCocoletError(e, ErrorCode.CheckpointCorrupt),
      );
      assert.equal(readFileSync(f, 'utf8'), bad);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
}

test('a leftover temp file from an interrupted write is removed; the last committed state loads', () => {
  const d = tmp();
  try {
    BrokerState.load(d).setResource('a/b/c', new TextEncoder().encode('v1'));
    writeFileSync(join(d, `${STATE_FILE}.tmp-1-2`), '{"half":');
    const s = BrokerState.load(d);
    assert.equal(Buffer.from(s.resource('a/b/c')!).toString(), 'v1');
    assert.deepEqual(readdirSync(d).filter((n) => n.includes('.tmp-')), []);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('the token key is created once and reused', () => {
  const d = tmp();
  try {
    let n = 0;
    const gen = (): string => `pem-${++n}`;
    assert.equal(BrokerState.load(d).tokenKeyPem(gen), 'pem-1');
    assert.equal(BrokerState.load(d).tokenKeyPem(gen), 'pem-1');
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
