/**
 * `npm run bench -- kbs`: the full RCAR flow (auth, attest with TPM evidence, one resource,
 * decrypted) per client, with 1 and 16 concurrent clients on loopback: flows/s and p50/p99
 * latency. Peer, same run: the same broker and client load with evidence verification removed
 * (the broker's own overhead). Each broker runs in its own process; the clients share this one.
 * TPM evidence comes from a software quote maker (same TPMS_ATTEST/TPMT_SIGNATURE a TPM makes,
 * RSA-2048 AK) so that the TPM emulator's ~30 ms per quote does not hide the broker; one more
 * pair of figures uses real swtpm quotes with one client.
 * Second peer, when built (e2e/interop/support.ts finds it): trustee v0.21's `kbs`, compared with
 * cocolet-kbs on the evidence both can verify here, trustee's `sample` TEE, same client load.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchReport, percentile } from '../report.js';
import { httpError, httpExchange, KbsClient } from '../../shared/kbs/client.js';
import { KBS_PREFIX } from '../../shared/kbs/protocol.js';
import { makeAdminToken } from '../../kbs/admin/cli.js';
import { startTrusteeKbs, TRUSTEE_ADMIN_AUDIENCE, TRUSTEE_ADMIN_ISSUER, trusteeMissing } from '../../e2e/interop/support.js';
import { SoftTpm } from '../../kbs/testing/soft-tpm.js';
import { Harness } from '../../shared/testing/harness.js';
import type { Attester } from '../../shared/kbs/client.js';
import { SwtpmAttester, swtpmMissing } from '../../e2e/kbs/swtpm-attester.js';

const SECONDS = Number(process.env.COCOLET_BENCH_SECONDS ?? 5);
const BENCH_RESOURCE = 'default/bench/secret';
const SERVER = fileURLToPath(new URL('./server.js', import.meta.url));

interface Broker {
  url: string;
  child: ChildProcess;
}

function startBroker(mode: 'verify' | 'noverify' | 'sample', pins: string[], pcr0s: string[]): Promise<Broker> {
  const child = spawn(process.execPath, [SERVER, mode, pins.join(','), pcr0s.join(','), BENCH_RESOURCE], { stdio: ['ignore', 'pipe', 'inherit'] });
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

async function flow(url: string, tpm: Attester): Promise<void> {
  const c = new KbsClient({ url, attester: tpm, keepAlive: true });
  try {
    await c.handshake();
    const v = await c.getResource(BENCH_RESOURCE);
    if (v.length !== 32) throw new Error('bench kbs: the resource did not decrypt to its 32 bytes');
  } finally {
    c.close();
  }
}

async function load(url: string, tpm: Attester, concurrency: number, warmup = 20): Promise<{ perSec: number; lat: number[] }> {
  for (let i = 0; i < warmup; i++) await flow(url, tpm);
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

/** trustee's sample attester's evidence: `{svn, report_data: base64(binding)}`. */
const SAMPLE: Attester = { tee: 'sample', evidence: (rd) => ({ svn: '1', report_data: Buffer.from(rd).toString('base64') }) };
/** A resource policy for trustee that allows every resource (its input: data.plugin). */
const TRUSTEE_ALLOW = 'package policy\n\ndefault allow := false\n\nallow if data.plugin == "resource"\n';

async function adminPost(url: string, path: string, body: unknown, token: string): Promise<void> {
  const r = await httpExchange(new URL(path, url), 'POST', body, { authorization: `Bearer ${token}`, ...(Buffer.isBuffer(body) ? { 'content-type': 'application/octet-stream' } : {}) });
  if (r.status !== 200) throw new Error(`bench kbs: trustee admin ${path}: ${httpError(r).message}`);
}

/**
 * cocolet-kbs (`sample` mode: the unchanged broker with allowSample and an allow-all policy) and
 * trustee's kbs (built-in attestation service, sample verifier, allow-all Rego, sessions in
 * memory, RUST_LOG=error), the same resource, the same client load, one broker at a time.
 */
async function trusteePeer(pins: string[], pcr0s: string[], report: BenchReport): Promise<void> {
  const missing = trusteeMissing('kbs');
  if (missing) {
    report.note(`trustee peer not measured: ${missing}`);
    return;
  }
  const h = new Harness();
  try {
    const dir = h.tempDir('cocolet-bench-trustee-');
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    writeFileSync(join(dir, 'admin.pub'), publicKey.export({ format: 'pem', type: 'spki' }));
    const trustee = await startTrusteeKbs(h, join(dir, 'kbs'), { adminPublicFile: join(dir, 'admin.pub'), log: 'error,actix_server=info' });
    const token = await makeAdminToken(privateKey, { issuer: TRUSTEE_ADMIN_ISSUER, audience: TRUSTEE_ADMIN_AUDIENCE });
    await adminPost(trustee.url, `${KBS_PREFIX}/resource/${BENCH_RESOURCE}`, createHash('sha256').update('bench').digest(), token);
    await adminPost(trustee.url, `${KBS_PREFIX}/resource-policy`, { policy: Buffer.from(TRUSTEE_ALLOW).toString('base64url') }, token);
    const ours = await startBroker('sample', pins, pcr0s);
    try {
      for (const c of [1, 16]) {
        const mine = await load(ours.url, SAMPLE, c);
        const peer = await load(trustee.url, SAMPLE, c);
        report.add({ figure: `rcar_sample_flows_per_s_c${c}`, unit: 'flow/s', value: mine.perSec, peer: 'trustee-kbs-v0.21', peer_value: peer.perSec, better: 'higher' });
        report.add({ figure: `rcar_sample_p50_ms_c${c}`, unit: 'ms', value: percentile(mine.lat, 50), peer: 'trustee-kbs-v0.21', peer_value: percentile(peer.lat, 50), better: 'lower' });
        report.add({ figure: `rcar_sample_p99_ms_c${c}`, unit: 'ms', value: percentile(mine.lat, 99), peer: 'trustee-kbs-v0.21', peer_value: percentile(peer.lat, 99), better: 'lower' });
      }
    } finally {
      await stop(ours);
    }
    report.note("peer trustee-kbs-v0.21 (rcar_sample_*): trustee's kbs (release build, built-in AS, sample verifier, allow-all Rego, sessions in memory, RUST_LOG=error, actix workers = cores) vs cocolet-kbs with allowSample and an allow-all policy; both plain HTTP, same 32-byte resource, sample evidence (trustee cannot verify the TPM quotes here)");
  } finally {
    await h.dispose();
  }
}

async function main(): Promise<void> {
  const tpm = new SoftTpm();
  const report = new BenchReport('kbs');
  const h = new Harness();
  const missing = swtpmMissing();
  const swtpm = missing ? undefined : await SwtpmAttester.start(h, h.tempDir('cocolet-bench-kbs-'));
  const pins = [tpm.akPin, ...(swtpm ? [swtpm.akPin] : [])];
  const pcr0s = [tpm.pcrs[0]!.toString('hex'), ...(swtpm ? [(await swtpm.pcrs())[0]!] : [])];
  const brokers = { verify: await startBroker('verify', pins, pcr0s), noverify: await startBroker('noverify', pins, pcr0s) };
  try {
    if (swtpm) {
      // Real swtpm quotes (one TPM: its quotes are serial), one client.
      const full = await load(brokers.verify.url, swtpm, 1, 3);
      const bare = await load(brokers.noverify.url, swtpm, 1, 3);
      report.add({ figure: 'rcar_flows_per_s_c1_swtpm', unit: 'flow/s', value: full.perSec, peer: 'kbs-no-verification', peer_value: bare.perSec, better: 'higher' });
      report.add({ figure: 'rcar_p50_ms_c1_swtpm', unit: 'ms', value: percentile(full.lat, 50), peer: 'kbs-no-verification', peer_value: percentile(bare.lat, 50), better: 'lower' });
    } else {
      report.note(`swtpm figures skipped: ${missing}`);
    }
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
    await h.dispose();
  }
  await trusteePeer(pins, pcr0s, report);
  report.note('_swtpm: the same flow with quotes from a real swtpm through tpm2-tools (the path of the guest on this machine); the emulator, not the broker, dominates it');
  report.note('flow = POST /auth + POST /attest (TPM quote, RSA-2048 AK, 24 SHA-256 PCRs) + GET resource + JWE decrypt, one EC P-256 TEE key and one keep-alive connection per flow');
  report.note('peer kbs-no-verification: the same broker with evidence verification replaced by a parse (no quote signature, binding, AK pin or init-data check)');
  report.note(`clients in the bench process, each broker in its own process; ${SECONDS} s per figure (COCOLET_BENCH_SECONDS)`);
  report.print();
}

void main();
