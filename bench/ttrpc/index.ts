/**
 * `npm run bench -- ttrpc [--secs N]`: unary Echo round trips over unix sockets, client and
 * server in separate processes, 16 B and 64 KiB payloads, 1 and 16 calls in flight, for
 * cocolet ttrpc, Go containerd/ttrpc (client -> server) and @grpc/grpc-js (client -> server).
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
const secs = argSecs > 0 ? Number(process.argv[argSecs + 1]) : 2;
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
  const results = new Map<string, Result>();
  try {
    for (const [name, p] of Object.entries(peers)) {
      if (only !== undefined && name !== only) continue;
      const server = await startServer(...p.server);
      for (const size of [16, 65536]) {
        for (const conc of [1, 16]) {
          const r = await runClient(...p.client(size, conc));
          results.set(`${name}/${size}/${conc}`, r);
          process.stderr.write(`${name} size=${size} conc=${conc}: ${Math.round(r.rps)} rps p50 ${r.p50_us.toFixed(0)} us p99 ${r.p99_us.toFixed(0)} us\n`);
        }
      }
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
  } finally {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
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
  report.note(`${secs} s per measurement after 1000 warm-up calls; one connection per client; unix sockets; separate client and server processes`);
  report.print();
}

main().catch((e: unknown) => {
  for (const c of children) c.kill('SIGKILL');
  process.stderr.write(`bench ttrpc: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
