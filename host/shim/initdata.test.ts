import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { isCocoletError, ErrorCode } from '../../shared/errors/errors.js';
import { INIT_DATA_ANNOTATION, defaultShimConfig, loadShimConfig, parseShimConfig, sandboxSettings } from './config.js';
import { decodeInitData } from './initdata.js';
import { RUNTIME_HANDLER_ANNOTATION, logInitData } from './initdata.js';

const DEV = 'version = "0.1.0"\nalgorithm = "sha384"\n[data]\n"policy.json" = \'{"secret":"s3cr3t-token"}\'\n';
const POD = 'version = "0.1.0"\nalgorithm = "sha256"\n[data]\n"policy.json" = \'{}\'\n';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'ccl-initdata-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function cfgWith(dir: string, file: string): ReturnType<typeof loadShimConfig> {
  const p = join(dir, 'shim.toml');
  writeFileSync(p, `[hypervisor]\nkind = "process"\ndefault_init_data = "${file}"\n`);
  return loadShimConfig(p);
}

test('default init-data: the config key must be an absolute path; without it the strict built-in default stays', () => {
  assert.throws(() => parseShimConfig('[hypervisor]\ndefault_init_data = "dev.toml"'), (e) => isCocoletError(e, ErrorCode.ConfigInvalid) && /default_init_data: must be an absolute path/.test(e.message));
  const s = sandboxSettings(defaultShimConfig(), {});
  assert.equal(s.initData, undefined);
  assert.equal(s.initDataSource, 'built-in');
});

test('default init-data: a pod without annotation gets the file, in either transport form, with its own algorithm as digest', () => {
  withDir((dir) => {
    for (const [name, text] of [['dev.toml', DEV], ['dev.b64', `${gzipSync(Buffer.from(DEV)).toString('base64')}\n`]] as const) {
      writeFileSync(join(dir, name), text);
      const s = sandboxSettings(cfgWith(dir, join(dir, name)), {});
      assert.equal(s.initDataSource, 'handler-default');
      assert.equal(s.initDataPath, join(dir, name));
      assert.equal(Buffer.from(decodeInitData(s.initData!)).toString('utf8'), DEV, 'the guest receives the document bytes unchanged');
      assert.equal(s.initDataDigest, `sha384:${createHash('sha384').update(DEV).digest('hex')}`);
    }
  });
});

test("default init-data: the pod's own annotation wins over the handler default", () => {
  withDir((dir) => {
    writeFileSync(join(dir, 'dev.toml'), DEV);
    const s = sandboxSettings(cfgWith(dir, join(dir, 'dev.toml')), { [INIT_DATA_ANNOTATION]: POD });
    assert.equal(s.initData, POD);
    assert.equal(s.initDataSource, 'annotation');
    assert.equal(s.initDataDigest, `sha256:${createHash('sha256').update(POD).digest('hex')}`);
  });
});

test('default init-data: a missing or malformed file is a clear error naming the handler and the file', () => {
  withDir((dir) => {
    const cases: [string, string | undefined, RegExp][] = [
      ['missing.toml', undefined, /cannot be read: ENOENT/],
      ['notoml.toml', 'version = "0.1.0"\nalgorithm = [[[', /malformed: not TOML/],
      ['alg.toml', 'version = "0.1.0"\nalgorithm = "md5"\n[data]\n', /malformed: "algorithm" must be one of/],
      ['nodata.toml', 'version = "0.1.0"\nalgorithm = "sha256"\n', /malformed: no \[data\] table/],
      ['junk.b64', '!!not base64!!', /malformed: .*neither TOML nor base64/],
    ];
    for (const [name, text, why] of cases) {
      const file = join(dir, name);
      if (text !== undefined) writeFileSync(file, text);
      const cfg = cfgWith(dir, file);
      assert.throws(() => sandboxSettings(cfg, {}), (e) => isCocoletError(e, ErrorCode.ConfigInvalid) && e.message.includes(`the runtime handler configured by ${join(dir, 'shim.toml')}`) && e.message.includes(file) && why.test(e.message), name);
      assert.throws(() => sandboxSettings(cfg, { [RUNTIME_HANDLER_ANNOTATION]: 'cocolet-dev' }), (e) => isCocoletError(e, ErrorCode.ConfigInvalid) && e.message.startsWith('runtime handler "cocolet-dev": default init-data'), name);
      // a pod that carries its own init-data does not need the default
      assert.equal(sandboxSettings(cfg, { [INIT_DATA_ANNOTATION]: POD }).initDataSource, 'annotation');
    }
  });
});

test('default init-data: the log names the source and digest, never the content', () => {
  withDir((dir) => {
    writeFileSync(join(dir, 'dev.toml'), DEV);
    const lines: string[] = [];
    logInitData({ info: (o, msg) => lines.push(JSON.stringify({ ...o, msg })) }, sandboxSettings(cfgWith(dir, join(dir, 'dev.toml')), {}));
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /"source":"handler-default"/);
    assert.match(lines[0]!, /"digest":"sha384:[0-9a-f]{96}"/);
    assert.doesNotMatch(lines[0]!, /s3cr3t-token|policy\.json/);
  });
});
