/**
 * `npm run bench -- unpack`: image layer unpacking throughput (guest/pull/tar.ts) on a realistic
 * layer, beside GNU `tar -x` unpacking the same archive into the same file system in the same run.
 * The layer: a distribution-like tree written with tar-writer (deterministic): 3000 files with
 * sizes spread from 64 B to 1 MiB (most small), 300 directories, 400 symlinks, 100 hardlinks,
 * owners and modes set. Target: tmpfs (/dev/shm) when present, like the guest's in-memory store.
 * Each figure is the median of COCOLET_BENCH_RUNS (default 5) runs, each into a fresh directory.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchReport } from '../report.js';
import { Rng } from '../../shared/testing/rng.js';
import { unpackLayer } from '../../guest/pull/tar.js';
import { writeTar, type TarWriteEntry } from '../../guest/pull/tar-writer.js';

const RUNS = Number(process.env.COCOLET_BENCH_RUNS ?? 5);

function layer(): { tar: Buffer; files: number; entries: number } {
  const rng = new Rng(0x1a7e5);
  const entries: TarWriteEntry[] = [];
  const dirs: string[] = [];
  for (let i = 0; i < 300; i++) {
    const parent = i < 10 ? 'usr' : dirs[rng.below(dirs.length)]!;
    const d = `${parent}/d${i}`;
    dirs.push(d);
  }
  entries.push({ name: 'usr/', type: '5', mode: 0o755 });
  for (const d of dirs) entries.push({ name: `${d}/`, type: '5', mode: 0o755, uid: 0, gid: 0, mtime: 1_700_000_000 });
  const files: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const r = rng.below(100);
    const size = r < 60 ? 64 + rng.below(4096) : r < 90 ? 4096 + rng.below(60_000) : r < 99 ? 65_536 + rng.below(400_000) : 1024 * 1024;
    const name = `${dirs[rng.below(dirs.length)]!}/f${i}`;
    files.push(name);
    entries.push({ name, data: rng.bytes(size), mode: rng.below(5) === 0 ? 0o755 : 0o644, uid: rng.below(3), gid: rng.below(3), mtime: 1_700_000_000 + i });
  }
  for (let i = 0; i < 400; i++) entries.push({ name: `${dirs[rng.below(dirs.length)]!}/s${i}`, type: '2', linkname: `../${files[rng.below(files.length)]!.split('/').pop()!}` });
  for (let i = 0; i < 100; i++) entries.push({ name: `${dirs[rng.below(dirs.length)]!}/h${i}`, type: '1', linkname: files[rng.below(files.length)]! });
  return { tar: writeTar(entries), files: files.length, entries: entries.length };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function main(): void {
  if (spawnSync('tar', ['--version']).status !== 0) {
    process.stderr.write('bench unpack: GNU tar is needed as the peer\n');
    process.exit(1);
  }
  const { tar, files, entries } = layer();
  const base = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'cocolet-bench-unpack-'));
  const report = new BenchReport('unpack');
  try {
    const ours: number[] = [];
    const peer: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const a = join(base, `ours${i}`);
      mkdirSync(a);
      let t = performance.now();
      const st = unpackLayer(tar, a, { layer: 'bench' });
      ours.push(performance.now() - t);
      if (st.entries !== entries) throw new Error(`bench unpack: ${st.entries} entries unpacked, ${entries} written`);
      const b = join(base, `tar${i}`);
      mkdirSync(b);
      t = performance.now();
      execFileSync('tar', ['-x', '-C', b, '--numeric-owner', '-f', '-'], { input: tar, maxBuffer: 1 << 20 });
      peer.push(performance.now() - t);
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
    }
    const mb = tar.length / 1024 / 1024;
    const o = median(ours);
    const p = median(peer);
    report.add({ figure: 'layer_unpack_mb_per_s', unit: 'MiB/s', value: mb / (o / 1000), peer: 'gnu-tar-x', peer_value: mb / (p / 1000), better: 'higher' });
    report.add({ figure: 'layer_unpack_entries_per_s', unit: 'entries/s', value: entries / (o / 1000), peer: 'gnu-tar-x', peer_value: entries / (p / 1000), better: 'higher' });
    report.add({ figure: 'layer_unpack_ms', unit: 'ms', value: o, peer: 'gnu-tar-x', peer_value: p, better: 'lower' });
    report.note(`layer: ${mb.toFixed(1)} MiB tar, ${entries} entries (${files} files, 300 dirs, 400 symlinks, 100 hardlinks); median of ${RUNS} runs into ${base.startsWith('/dev/shm') ? 'tmpfs' : 'tmpdir'}`);
    report.note('peer: GNU tar -x reading the same archive from a pipe (process start included, ~1-2 ms)');
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
  report.print();
}

main();
