/**
 * A real TPM attester for the e2e tests and benchmark: swtpm (TPM 2.0 emulator) on a unix socket,
 * driven by tpm2-tools. An RSA AK is created under the endorsement hierarchy and made persistent
 * at 0x81010002 (guest-components' default AK handle); quotes cover the 24 SHA-256 PCRs with the
 * binding digest cut to 32 bytes (trustee v0.21) as qualifying data — trustee's TPM evidence format.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { padReportData } from '../../shared/kbs/binding.js';
import { akPinOf, INIT_DATA_PCR, TPM_REPORT_DATA_SIZE, type TpmPrimaryEvidence } from '../../shared/kbs/evidence.js';
import type { Attester } from '../../shared/kbs/client.js';
import { have, waitFor, type Harness } from '../../shared/testing/harness.js';
import { existsSync, mkdirSync } from 'node:fs';

export const AK_HANDLE = '0x81010002';

/** Why swtpm-based tests cannot run here, or undefined when they can. */
export function swtpmMissing(): string | undefined {
  for (const c of ['swtpm', 'tpm2_createprimary', 'tpm2_quote', 'tpm2_evictcontrol', 'tpm2_pcrextend']) if (!have(c)) return `${c} is not installed`;
  return undefined;
}

export class SwtpmAttester implements Attester {
  readonly tee = 'tpm' as const;
  akDer: Uint8Array = new Uint8Array();
  private queue: Promise<unknown> = Promise.resolve();
  private n = 0;

  private constructor(
    private readonly dir: string,
    private readonly sock: string,
  ) {}

  /** Starts swtpm under the harness (stopped on dispose) and provisions the AK. */
  static async start(h: Harness, dir: string): Promise<SwtpmAttester> {
    mkdirSync(join(dir, 'state'), { recursive: true });
    const sock = join(dir, 'tpm.sock');
    h.start('swtpm', ['socket', '--tpm2', '--tpmstate', `dir=${join(dir, 'state')}`, '--server', `type=unixio,path=${sock}`, '--ctrl', `type=unixio,path=${sock}.ctrl`, '--flags', 'not-need-init,startup-clear']);
    await waitFor(() => existsSync(sock) && existsSync(`${sock}.ctrl`), { what: 'swtpm sockets', timeoutMs: 15_000 });
    const t = new SwtpmAttester(dir, sock);
    const f = (n: string): string => join(dir, n);
    await t.tpm('tpm2_createprimary', ['-Q', '-C', 'e', '-g', 'sha256', '-G', 'rsa', '-c', f('primary.ctx')]);
    await t.tpm('tpm2_create', ['-Q', '-C', f('primary.ctx'), '-G', 'rsa2048:rsassa-sha256:null', '-a', 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign', '-u', f('ak.pub'), '-r', f('ak.priv')]);
    await t.tpm('tpm2_flushcontext', ['-t']);
    await t.tpm('tpm2_load', ['-Q', '-C', f('primary.ctx'), '-u', f('ak.pub'), '-r', f('ak.priv'), '-c', f('ak.ctx')]);
    await t.tpm('tpm2_flushcontext', ['-t']);
    await t.tpm('tpm2_evictcontrol', ['-Q', '-C', 'o', '-c', f('ak.ctx'), AK_HANDLE]);
    await t.tpm('tpm2_flushcontext', ['-t']);
    await t.tpm('tpm2_readpublic', ['-Q', '-c', AK_HANDLE, '-f', 'der', '-o', f('ak.der')]);
    t.akDer = new Uint8Array(readFileSync(f('ak.der')));
    return t;
  }

  get akPin(): string {
    return akPinOf(this.akDer);
  }

  get akFile(): string {
    return join(this.dir, 'ak.der');
  }

  private tpm(cmd: string, args: string[]): Promise<string> {
    const run = (): Promise<string> =>
      new Promise((resolve, reject) => {
        execFile(cmd, args, { env: { ...process.env, TPM2TOOLS_TCTI: `swtpm:path=${this.sock}` }, timeout: 30_000 }, (err, stdout, stderr) => {
          if (err) reject(new Error(`${cmd} failed: ${stderr.trim().slice(-400) || err.message}`));
          else resolve(stdout);
        });
      });
    // One TPM command at a time: swtpm serves one client connection.
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Extends PCR 8 with the init-data digest (SHA-256), as the guest does before attesting. */
  async bindInitData(digest: Uint8Array): Promise<void> {
    await this.tpm('tpm2_pcrextend', [`${INIT_DATA_PCR}:sha256=${Buffer.from(digest).toString('hex')}`]);
  }

  async pcrs(): Promise<string[]> {
    const out = join(this.dir, `pcrs-read.bin`);
    await this.tpm('tpm2_pcrread', ['-Q', 'sha256:all', '-o', out]);
    const b = readFileSync(out);
    return Array.from({ length: 24 }, (_, i) => b.subarray(i * 32, i * 32 + 32).toString('hex'));
  }

  async evidence(reportData: Uint8Array): Promise<TpmPrimaryEvidence> {
    const k = this.n++;
    const f = (n: string): string => join(this.dir, `${n}-${k}`);
    const q = Buffer.from(padReportData(reportData, TPM_REPORT_DATA_SIZE)).toString('hex');
    await this.tpm('tpm2_quote', ['-Q', '-c', AK_HANDLE, '-l', 'sha256:all', '-q', q, '-m', f('msg'), '-s', f('sig'), '-o', f('pcrs'), '-F', 'values', '-g', 'sha256']);
    const pcrs = readFileSync(f('pcrs'));
    if (pcrs.length !== 24 * 32) throw new Error(`tpm2_quote wrote ${pcrs.length} bytes of PCR values, expected ${24 * 32}`);
    return {
      ak_public: Buffer.from(this.akDer).toString('base64'),
      tpm_quote: {
        signature: readFileSync(f('sig')).toString('base64'),
        message: readFileSync(f('msg')).toString('base64'),
        pcrs: Array.from({ length: 24 }, (_, i) => pcrs.subarray(i * 32, i * 32 + 32).toString('hex')),
      },
    };
  }
}
