/**
 * `npm run bench -- ttrpc [--secs N] [--rounds N] [--only peer]`: unary Echo round trips over
 * unix sockets, client and server in separate processes, 16 B and 64 KiB payloads, 1 and 16
 * calls in flight, for cocolet ttrpc, Go containerd/ttrpc (client -> server) and @grpc/grpc-js
 * (client -> server). About 80 s with the defaults.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchReport } from '../report.js';
import { buildGoPeer } from '../../e2e/ttrpc/gopeer-build.js';

interface Result {
  rps: number;
  p50_us: number;
  p99_us: number;
  calls: number;
}

const here = dirname(fileURLToPath(import.meta.url));
const worker = join(here, 'worker.js');
const argSecs = process.argv.indexOf('--secs');
const secs = argSecs > 0 ? Number(process.argv[argSecs + 1]) : 1.5;
const argRounds = process.argv.indexOf('--rounds');
const rounds = argRounds > 0 ? Number(process.argv[argRounds + 1]) : 3;
const argOnly = process.argv.indexOf('--only');
const only = argOnly > 0 ? process.argv[argOnly + 1] : undefined;
const children = new Set<ChildProcess>();

function startServer(cmd: string, args: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(c);
    c.once('exit', () => children.delete(c));
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${cmd} did not get ready`)), 30_000);
    c.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('READY')) {
        clearTimeout(timer);
        resolve(c);
      }
    });
    c.once('error', reject);
  });
}

function runClient(cmd: string, args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(c);
    let out = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.once('exit', (code) => {
      children.delete(c);
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || !line) reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${out}`));
      else resolve(JSON.parse(line) as Result);
    });
  });
}

async function main(): Promise<void> {
  const go = buildGoPeer();
  if (!go.binary) throw new Error(`cannot run: ${go.skip}`);
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-bench-ttrpc-'));
  const node = process.execPath;
  type Cmd = [string, string[]];
  const peers: Record<string, { server: Cmd; client: (size: number, conc: number) => Cmd }> = {
    cocolet: { server: [node, [worker, 'ts-server', join(dir, 'ts.sock')]], client: (size: number, conc: number) => [node, [worker, 'ts-client', join(dir, 'ts.sock'), String(secs), String(size), String(conc)]] },
    'go-ttrpc': { server: [go.binary, ['-mode', 'server', '-sock', join(dir, 'go.sock')]], client: (size: number, conc: number) => [go.binary!, ['-mode', 'bench', '-sock', join(dir, 'go.sock'), '-secs', String(secs), '-size', String(size), '-conc', String(conc)]] },
    'grpc-js': { server: [node, [worker, 'grpc-server', join(dir, 'grpc.sock')]], client: (size: number, conc: number) => [node, [worker, 'grpc-client', join(dir, 'grpc.sock'), String(secs), String(size), String(conc)]] },
  };
  // Peers are measured interleaved (each configuration runs every peer back to back, `rounds`
  // times) and the median round is reported, so load from other work on the machine hits all
  // peers alike.
  const runs = new Map<string, Result[]>();
  const servers: ChildProcess[] = [];
  const names = Object.keys(peers).filter((n) => only === undefined || n === only);
  try {
    for (const name of names) servers.push(await startServer(...peers[name]!.server));
    for (let round = 0; round < rounds; round++) {
      for (const size of [16, 65536]) {
        for (const conc of [1, 16]) {
          for (const name of names) {
            const r = await runClient(...peers[name]!.client(size, conc));
            const key = `${name}/${size}/${conc}`;
            runs.set(key, [...(runs.get(key) ?? []), r]);
            process.stderr.write(`round ${round + 1} ${name} size=${size} conc=${conc}: ${Math.round(r.rps)} rps p50 ${r.p50_us.toFixed(0)} us p99 ${r.p99_us.toFixed(0)} us\n`);
          }
        }
      }
    }
    for (const s of servers) {
      s.kill('SIGTERM');
      await new Promise((r) => s.once('exit', r));
    }
  } finally {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const results = new Map<string, Result>();
  for (const [k, rs] of runs) {
    results.set(k, { rps: median(rs.map((r) => r.rps)), p50_us: median(rs.map((r) => r.p50_us)), p99_us: median(rs.map((r) => r.p99_us)), calls: rs.reduce((a, r) => a + r.calls, 0) });
  }
  if (only !== undefined) return;
  const report = new BenchReport('ttrpc');
  const label = (size: number): string => (size === 16 ? '16B' : '64KiB');
  for (const peer of ['go-ttrpc', 'grpc-js']) {
    for (const size of [16, 65536]) {
      for (const conc of [1, 16]) {
        const me = results.get(`cocolet/${size}/${conc}`)!;
        const other = results.get(`${peer}/${size}/${conc}`)!;
        report.add({ figure: `unary_rps_${label(size)}_c${conc}`, unit: 'calls/s', value: me.rps, peer, peer_value: other.rps, better: 'higher' });
        report.add({ figure: `unary_p50_${label(size)}_c${conc}`, unit: 'us', value: me.p50_us, peer, peer_value: other.p50_us, better: 'lower' });
        report.add({ figure: `unary_p99_${label(size)}_c${conc}`, unit: 'us', value: me.p99_us, peer, peer_value: other.p99_us, better: 'lower' });
      }
    }
  }
  report.note(`median of ${rounds} interleaved rounds of ${secs} s per peer and configuration, after 1000 warm-up calls; one connection per client; unix sockets; client and server in separate processes`);
  report.print();
}

main().catch((e: unknown) => {
  for (const c of children) c.kill('SIGKILL');
  process.stderr.write(`bench ttrpc: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
