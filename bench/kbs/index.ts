/**
 * `npm run bench -- kbs`: the full RCAR flow (auth, attest with TPM evidence, one resource,
 * decrypted) per client, with 1 and 16 concurrent clients on loopback: flows/s and p50/p99
 * latency. Peer, same run: the same broker and client load with evidence verification removed
 * (the broker's own overhead). Each broker runs in its own process; the clients share this one.
 * TPM evidence comes from a software quote maker (same TPMS_ATTEST/TPMT_SIGNATURE a TPM makes,
 * RSA-2048 AK) so that the TPM emulator's ~30 ms per quote does not hide the broker.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BenchReport, percentile } from '../report.js';
import { KbsClient } from '../../shared/kbs/client.js';
import { SoftTpm } from '../../kbs/testing/soft-tpm.js';

const SECONDS = Number(process.env.COCOLET_BENCH_SECONDS ?? 5);
const BENCH_RESOURCE = 'default/bench/secret';
const SERVER = fileURLToPath(new URL('./server.js', import.meta.url));

interface Broker {
  url: string;
  child: ChildProcess;
}

function startBroker(mode: 'verify' | 'noverify', tpm: SoftTpm): Promise<Broker> {
  const child = spawn(process.execPath, [SERVER, mode, tpm.akPin, tpm.pcrs[0]!.toString('hex'), BENCH_RESOURCE], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /\{"url":"([^"]+)"\}/.exec(out);
      if (m) resolve({ url: m[1]!, child });
    });
    child.once('exit', (code) => reject(new Error(`bench kbs: broker (${mode}) exited with ${code} before listening`)));
  });
}

function stop(b: Broker): Promise<void> {
  return new Promise((resolve) => {
    if (b.child.exitCode !== null) return resolve();
    b.child.once('exit', () => resolve());
    b.child.kill('SIGTERM');
  });
}

async function flow(url: string, tpm: SoftTpm): Promise<void> {
  const c = new KbsClient({ url, attester: tpm, keepAlive: true });
  try {
    await c.handshake();
    const v = await c.getResource(BENCH_RESOURCE);
    if (v.length !== 32) throw new Error('bench kbs: the resource did not decrypt to its 32 bytes');
  } finally {
    c.close();
  }
}

async function load(url: string, tpm: SoftTpm, concurrency: number): Promise<{ perSec: number; lat: number[] }> {
  for (let i = 0; i < 20; i++) await flow(url, tpm); // warm-up
  const lat: number[] = [];
  const start = performance.now();
  const deadline = start + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        await flow(url, tpm);
        lat.push(performance.now() - t);
      }
    }),
  );
  return { perSec: lat.length / ((performance.now() - start) / 1000), lat };
}

async function main(): Promise<void> {
  const tpm = new SoftTpm();
  const report = new BenchReport('kbs');
  const brokers = { verify: await startBroker('verify', tpm), noverify: await startBroker('noverify', tpm) };
  try {
    for (const c of [1, 16]) {
      // One broker at a time, so the two do not compete for the cores.
      const full = await load(brokers.verify.url, tpm, c);
      const bare = await load(brokers.noverify.url, tpm, c);
      report.add({ figure: `rcar_flows_per_s_c${c}`, unit: 'flow/s', value: full.perSec, peer: 'kbs-no-verification', peer_value: bare.perSec, better: 'higher' });
      report.add({ figure: `rcar_p50_ms_c${c}`, unit: 'ms', value: percentile(full.lat, 50), peer: 'kbs-no-verification', peer_value: percentile(bare.lat, 50), better: 'lower' });
      report.add({ figure: `rcar_p99_ms_c${c}`, unit: 'ms', value: percentile(full.lat, 99), peer: 'kbs-no-verification', peer_value: percentile(bare.lat, 99), better: 'lower' });
    }
  } finally {
    await Promise.all([stop(brokers.verify), stop(brokers.noverify)]);
  }
  report.note('flow = POST /auth + POST /attest (TPM quote, RSA-2048 AK, 24 SHA-256 PCRs) + GET resource + JWE decrypt, one EC P-256 TEE key and one keep-alive connection per flow');
  report.note('peer kbs-no-verification: the same broker with evidence verification replaced by a parse (no quote signature, binding, AK pin or init-data check); trustee kbs as a peer comes with its build');
  report.note(`clients in the bench process, each broker in its own process; ${SECONDS} s per figure (COCOLET_BENCH_SECONDS)`);
  report.print();
}

void main();
