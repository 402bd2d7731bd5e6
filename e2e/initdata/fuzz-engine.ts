/**
 * Fuzzing of init-data parsing (`guest/initdata/initdata.ts`): the TOML document the host hands
 * the guest, raw (`parseInitdata`) and in the block-device layout (`decodeInitdataBlock`, gzip).
 * Inputs: byte mutations of real-shaped seeds, TOML-aware splices (brackets, quotes, escapes,
 * dotted keys, deep nesting, dates, huge numbers, `__proto__` keys) and random fragments. The
 * only failure allowed is a CocoletError; anything else thrown is a crash. An accepted document
 * must also be self-consistent (digest of the exact bytes, string-only data).
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { CocoletError } from '../../shared/errors/errors.js';
import { Rng } from '../../shared/testing/rng.js';
import { decodeInitdataBlock, INITDATA_MAGIC, parseInitdata } from '../../guest/initdata/initdata.js';
import { mutate } from '../attestation/fuzz-engine.js';

export interface InitdataFuzzStats {
  iterations: number;
  accepted: number;
  rejected: Record<string, number>;
  perTarget: Record<string, number>;
  crashes: { target: string; error: string; inputHex: string }[];
  crashCount: number;
  /** Slowest single input (ms) and its target. */
  slowestMs: number;
  slowestTarget: string;
}

const POLICY = JSON.stringify({ version: 1, name: 'fuzz', default: 'deny', rules: { CreateContainer: { allow: true, images: ['^registry/app@sha256:[0-9a-f]{64}$'] } } });

export const SEEDS: readonly string[] = [
  `version = "0.1.0"\nalgorithm = "sha256"\n[data]\n"policy.json" = '''${POLICY}'''\n`,
  `version = "0.1.0"\nalgorithm = "sha384"\n\n[data]\n"cocolet-agent.json" = '''{"insecureRegistries":["10.0.2.2:5000"]}'''\n"aa.toml" = """\nkey = "v\\u00e9"\n"""\n`,
  'version = "0.1.0"\nalgorithm = "sha512"\n',
  'version = "0.1.0"\nalgorithm = "sha256"\ndata = { "policy.rego" = "package agent_policy\\ndefault AllowRequestsFailingPolicy := false" }\n',
  '# init-data\nversion = \'0.1.0\'\nalgorithm = \'sha256\'\n[data]\nx = "1"\n[data.nested]\ny = 2\n',
  'version = "0.1.0"\r\nalgorithm = "sha256"\r\n[[data]]\r\n',
];

const FRAGMENTS = [
  '[', ']', '[[', ']]', '{', '}', '=', '"', "'", '"""', "'''", '\\', '\\u', '\\U0010FFFF', '\\x', '\n', '\r\n', '\t', ' ', '#', ',', '.',
  'a.b.c', '"a.b"', "'k'", '__proto__', 'constructor', 'prototype', 'data', 'version', 'algorithm', '"0.1.0"', '"sha256"', '"md5"',
  'true', 'false', 'inf', '-inf', 'nan', '+0', '-0', '0x7fffffffffffffff', '0o777', '0b101', '1e308', '1e309', '99999999999999999999999',
  '1979-05-27T07:32:00Z', '1979-05-27', '07:32:00', '1979-05-27T00:32:00.999999-07:00', '9999-99-99', '[data]', '[data.x]', '[[data.y]]',
  '\u0000', '\uFEFF', '\u2028', '\uD800', 'é', '🙂',
];

function tomlSplice(seed: string, rng: Rng): string {
  let s = seed;
  const n = 1 + rng.below(6);
  for (let i = 0; i < n; i++) {
    const at = rng.below(s.length + 1);
    const op = rng.below(4);
    if (op === 0) s = s.slice(0, at) + FRAGMENTS[rng.below(FRAGMENTS.length)]! + s.slice(at);
    else if (op === 1) s = s.slice(0, at) + s.slice(Math.min(s.length, at + 1 + rng.below(8)));
    else if (op === 2) {
      // deep nesting: arrays, inline tables, dotted keys
      const depth = 1 + rng.below(rng.below(4) === 0 ? 5000 : 40);
      const kind = rng.below(3);
      const deep = kind === 0 ? '['.repeat(depth) + ']'.repeat(rng.below(depth + 1)) : kind === 1 ? '{a='.repeat(depth) + '1' + '}'.repeat(rng.below(depth + 1)) : Array.from({ length: depth }, (_, k) => `k${k}`).join('.') + ' = "v"';
      s = s.slice(0, at) + `\nx = ${deep}\n` + s.slice(at);
    } else {
      const len = rng.below(64);
      s = s.slice(0, at) + s.slice(rng.below(s.length + 1)).slice(0, len) + s.slice(at);
    }
  }
  return s;
}

function randomFragments(rng: Rng): string {
  let s = '';
  const n = rng.below(40);
  for (let i = 0; i < n; i++) s += FRAGMENTS[rng.below(FRAGMENTS.length)]!;
  return s;
}

function block(payload: Buffer): Buffer {
  const gz = gzipSync(payload, { level: 1 });
  const b = Buffer.alloc(16 + gz.length);
  INITDATA_MAGIC.copy(b, 0);
  b.writeBigUInt64LE(BigInt(gz.length), 8);
  gz.copy(b, 16);
  return b;
}

interface Target {
  name: string;
  weight: number;
  input: (rng: Rng) => Buffer;
  run: (input: Buffer) => void;
}

function parseChecked(raw: Buffer): void {
  const id = parseInitdata(raw);
  const want = createHash(id.algorithm).update(raw).digest();
  if (!id.digest.equals(want)) throw new Error('digest is not the hash of the exact bytes');
  if (!id.raw.equals(raw)) throw new Error('raw bytes changed');
  for (const [k, v] of Object.entries(id.data)) if (typeof v !== 'string') throw new Error(`data.${k} is not a string`);
}

export function buildTargets(): Target[] {
  const seeds = SEEDS.map((s) => Buffer.from(s));
  const blocks = seeds.map(block);
  return [
    { name: 'toml-bytes', weight: 8, input: (rng) => Buffer.from(mutate(seeds[rng.below(seeds.length)]!, rng)), run: parseChecked },
    { name: 'toml-splice', weight: 8, input: (rng) => Buffer.from(tomlSplice(SEEDS[rng.below(SEEDS.length)]!, rng)), run: parseChecked },
    { name: 'toml-random', weight: 2, input: (rng) => Buffer.from(randomFragments(rng)), run: parseChecked },
    {
      name: 'block',
      weight: 1,
      input: (rng) => (rng.below(3) === 0 ? block(Buffer.from(tomlSplice(SEEDS[rng.below(SEEDS.length)]!, rng))) : Buffer.from(mutate(blocks[rng.below(blocks.length)]!, rng))),
      run: (b) => {
        const raw = decodeInitdataBlock(b);
        if (raw) parseChecked(raw);
      },
    },
  ];
}

export interface FuzzOptions {
  iterations: number;
  seed: number;
  onProgress?: (done: number) => void;
  progressEvery?: number;
}

export function fuzzInitdata(targets: Target[], opts: FuzzOptions): InitdataFuzzStats {
  const rng = new Rng(opts.seed);
  const table: Target[] = targets.flatMap((t) => Array<Target>(t.weight).fill(t));
  const stats: InitdataFuzzStats = { iterations: 0, accepted: 0, rejected: {}, perTarget: {}, crashes: [], crashCount: 0, slowestMs: 0, slowestTarget: '' };
  const every = opts.progressEvery ?? 1000;
  for (let i = 0; i < opts.iterations; i++) {
    if (opts.onProgress && i % every === 0) opts.onProgress(i);
    const t = table[rng.below(table.length)]!;
    const input = t.input(rng);
    stats.perTarget[t.name] = (stats.perTarget[t.name] ?? 0) + 1;
    const t0 = performance.now();
    try {
      t.run(input);
      stats.accepted++;
    } catch (e) {
      if (e instanceof CocoletError) {
        const reason = e.message.replace(/\(.*$/s, '').replace(/data\.\S+/, 'data.<key>').trim().slice(0, 60);
        stats.rejected[reason] = (stats.rejected[reason] ?? 0) + 1;
      } else {
        stats.crashCount++;
        if (stats.crashes.length < 10) stats.crashes.push({ target: t.name, error: e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e), inputHex: input.toString('hex') });
      }
    }
    const ms = performance.now() - t0;
    if (ms > stats.slowestMs) {
      stats.slowestMs = ms;
      stats.slowestTarget = t.name;
    }
    stats.iterations++;
  }
  opts.onProgress?.(opts.iterations);
  return stats;
}
