/**
 * The SEV-SNP and TDX command lines cocolet builds, run by the real QEMU of this machine: QEMU
 * must accept every word (object properties, machine options, devices) and fail only because
 * the host has no SEV-SNP / TDX (no /dev/sev, KVM without the SNP or TDX VM type, or no KVM).
 * A deliberately broken word shows the check can tell a parse error from that.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { have } from '../../shared/testing/harness.js';
import { buildTestFirmware } from '../../shared/snp-launch/testing.js';
import { findFirmware } from '../../host/vmm/firmware.js';
import { QemuHypervisor, qemuArgs, type QemuArgsInput } from '../../host/vmm/qemu.js';
import { guestImageDir, loadGuestImage } from '../../host/vmm/image.js';
import { connectAgent } from '../../host/vmm/agent-connect.js';
import { startSwtpm } from '../../host/vmm/swtpm.js';
import { confidentialCmdline } from '../../shared/snp-launch/cmdline.js';
import { SnpSection } from '../../shared/snp-launch/ovmf.js';
import { processesMatching } from '../../shared/testing/harness.js';
import { ErrorCode } from '../../shared/errors/index.js';

const QEMU = process.env.COCOLET_QEMU ?? 'qemu-system-x86_64';
const dir = mkdtempSync(join(tmpdir(), 'cocolet-qemu-cgs-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Why the launch can only fail here: the host lacks the TEE (never a parse error). */
const NO_TEE = /vm-type (SEV-SNP|TDX) not supported by KVM|KVM required|\/dev\/sev|Could not access KVM kernel module|failed to initialize kvm|TDX is not supported/i;
const PARSE_ERROR = /Invalid parameter|not equal to|does not accept|Property '.*' not found|invalid|unknown|expects|Parameter '.*' expects/i;

function objectHelp(type: string): { ok: boolean; text: string } {
  const r = spawnSync(QEMU, ['-object', `${type},help`], { encoding: 'utf8' });
  return { ok: r.status === 0 && !/does not accept/.test(r.stderr), text: r.stdout + r.stderr };
}

/** Runs QEMU to its exit (bounded: a QEMU that starts is killed, and that fails the test). */
async function run(args: string[]): Promise<{ code: number | null; stderr: string; started: boolean }> {
  const child = spawn(QEMU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let started = false;
  const t = setTimeout(() => {
    started = true;
    child.kill('SIGKILL');
  }, 30_000);
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  clearTimeout(t);
  return { code, stderr: stderr.trim(), started };
}

/**
 * Starts QEMU paused (-S) with a QMP socket and waits until QMP answers `query-status`: by then
 * every -object, -device, -bios and -kernel word has been realized. Then quits it.
 */
async function realizePaused(args: string[]): Promise<{ status?: string; stderr: string }> {
  const qmp = join(dir, 'qmp.sock');
  rmSync(qmp, { force: true });
  const child = spawn(QEMU, [...args, '-S', '-qmp', `unix:${qmp},server=on,wait=off`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  const exit = new Promise<void>((r) => child.once('exit', () => ((exited = true), r())));
  try {
    const deadline = Date.now() + 60_000;
    while (!existsSync(qmp) && !exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (exited || !existsSync(qmp)) return { stderr: stderr.trim() };
    const status = await new Promise<string | undefined>((resolve) => {
      const sock = connect(qmp);
      let buf = '';
      // QEMU listens before it realizes devices: a word it rejects closes the socket as it exits
      sock.on('error', () => resolve(undefined));
      sock.on('close', () => resolve(undefined));
      sock.on('data', (d) => {
        buf += d.toString();
        for (;;) {
          const nl = buf.indexOf('\n');
          if (nl < 0) break;
          const msg = JSON.parse(buf.slice(0, nl)) as { QMP?: unknown; return?: { status?: string } };
          buf = buf.slice(nl + 1);
          if (msg.QMP) sock.write('{"execute":"qmp_capabilities"}\n{"execute":"query-status"}\n');
          else if (msg.return?.status) {
            resolve(msg.return.status);
            sock.write('{"execute":"quit"}\n');
          }
        }
      });
    });
    await exit;
    return { ...(status ? { status } : {}), stderr: stderr.trim() };
  } finally {
    if (!exited) child.kill('SIGKILL');
    await exit;
  }
}

/** The same line on plain q35 under TCG: the TEE object and KVM taken out, everything else kept. */
function withoutTee(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-object' && /^(sev-snp-guest|tdx-guest),/.test(args[i + 1]!)) {
      i++;
      continue;
    }
    if (args[i] === '-accel') {
      out.push('-accel', 'tcg');
      i++;
      continue;
    }
    out.push(args[i]!.replace('confidential-guest-support=cgs0,', '').replace('kernel-irqchip=split,', ''));
  }
  return out;
}

function input(confidential: QemuArgsInput['confidential']): QemuArgsInput {
  const boot = readdirSync('/boot').filter((n) => n.startsWith('vmlinuz-')).sort().pop();
  return {
    name: 'cgs-parse', accel: { accel: 'kvm', cpu: 'host', reason: 'test' },
    image: { kernel: boot ? join('/boot', boot) : join(dir, 'vmlinuz'), initramfs: join(dir, 'initramfs') },
    cmdline: 'console=ttyS0', vcpus: 1, memoryMiB: 256,
    agentSocket: join(dir, 'agent.sock'), consoleLog: join(dir, 'console.log'),
    initdataDisk: join(dir, 'initdata.img'), net: { egress: false }, confidential,
  };
}

describe('QEMU accepts the hardware-TEE command lines', { skip: have(QEMU) ? false : `needs ${QEMU}`, timeout: 120_000 }, () => {
  writeFileSync(join(dir, 'initramfs'), 'x');
  writeFileSync(join(dir, 'initdata.img'), Buffer.alloc(512));
  const firmware = findFirmware() ?? join(dir, 'fw.fd');
  writeFileSync(join(dir, 'fw.fd'), buildTestFirmware());

  test('SEV-SNP: sev-snp-guest knows host-data and kernel-hashes; the launch fails only for want of SEV-SNP', async () => {
    const help = objectHelp('sev-snp-guest');
    assert.ok(help.ok, `QEMU has no sev-snp-guest object: ${help.text}`);
    assert.match(help.text, /host-data=/);
    assert.match(help.text, /kernel-hashes=/);
    const args = qemuArgs(input({ tee: 'snp', firmware, cpu: 'EPYC-v4', hostData: Buffer.alloc(32, 7) }));
    const r = await run(args);
    assert.equal(r.started, false, 'QEMU started an SNP guest on a host without SEV-SNP?');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, NO_TEE, `not the missing-TEE failure: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, PARSE_ERROR);
  });

  test('SEV-SNP: the rest of the line (q35, memfd RAM, -bios, virtio-pci with iommu_platform, kernel) is realized by QEMU', async () => {
    const args = withoutTee(qemuArgs(input({ tee: 'snp', firmware, cpu: 'EPYC-v4', hostData: Buffer.alloc(32, 7) })));
    assert.ok(!args.some((a) => /sev-snp-guest|confidential-guest-support/.test(a)));
    const r = await realizePaused(args);
    assert.equal(r.status, 'prelaunch', `QEMU did not realize the machine: ${r.stderr}`);
  });

  test('the check tells a parse error apart: a 31-byte host-data and an unknown property fail on parsing', async () => {
    const args = qemuArgs(input({ tee: 'snp', firmware, cpu: 'EPYC-v4', hostData: Buffer.alloc(32, 7) }));
    const short = args.map((a) => a.replace(/host-data=[^,]+/, `host-data=${Buffer.alloc(31).toString('base64')}`));
    const r1 = await run(short);
    assert.match(r1.stderr, /not equal to 32/);
    const bogus = args.map((a) => a.replace('kernel-hashes=on', 'kernel-hashes=on,no-such-property=1'));
    const r2 = await run(bogus);
    assert.match(r2.stderr, /Invalid parameter 'no-such-property'/);
    const badDevice = withoutTee(args).map((a) => (a.startsWith('virtio-serial-pci') ? `${a},no-such-property=1` : a));
    const r3 = await realizePaused(badDevice);
    assert.equal(r3.status, undefined);
    assert.match(r3.stderr, /no-such-property/);
  });

  const tdx = objectHelp('tdx-guest');
  const version = spawnSync(QEMU, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];
  test('TDX: tdx-guest knows mrconfigid; the launch fails only for want of TDX', { skip: tdx.ok ? false : `${version} has no tdx-guest object (QEMU gained TDX in 10.1)` }, async () => {
    assert.match(tdx.text, /mrconfigid=/);
    const r = await run(qemuArgs(input({ tee: 'tdx', firmware, mrConfigId: Buffer.alloc(48, 7) })));
    assert.equal(r.started, false);
    assert.match(r.stderr, NO_TEE, `not the missing-TEE failure: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, PARSE_ERROR);
  });
});

describe('QemuHypervisor with confidential_guest = "snp" on this host', { skip: !have(QEMU) ? `needs ${QEMU}` : existsSync(join(guestImageDir(), 'manifest.json')) ? false : 'the guest image is not built (npm run guest-image)', timeout: 120_000 }, () => {
  const initdata = Buffer.from('version = "0.1.0"\nalgorithm = "sha256"\n[data]\n');

  test('firmware without the kernel-hashes table is refused before QEMU runs, and nothing is left', async () => {
    const fw = join(dir, 'generic.fd');
    writeFileSync(fw, buildTestFirmware({ sections: [{ gpa: 0x800000, size: 0x1000, type: SnpSection.Secrets }, { gpa: 0x801000, size: 0x1000, type: SnpSection.Cpuid }] }));
    const stateDir = join(dir, 'vm-generic');
    const hv = new QemuHypervisor({ qemuBinary: QEMU, confidentialGuest: 'snp', firmware: fw });
    await assert.rejects(hv.start({ id: 'snp-generic', stateDir, initdata }), (e: { code?: string; message: string }) => e.code === ErrorCode.FailedPrecondition && /no SNP kernel-hashes table/.test(e.message));
    assert.equal(existsSync(stateDir), false);
  });

  test('with an AmdSev-shaped firmware QEMU runs the SNP line and fails for want of SEV-SNP, saying so; no swtpm, nothing left', async () => {
    const fw = join(dir, 'amdsev.fd');
    writeFileSync(fw, buildTestFirmware({ hashTable: { gpa: 0x80f400, size: 0x400 } }));
    const stateDir = join(dir, 'vm-amdsev');
    const hv = new QemuHypervisor({ qemuBinary: QEMU, confidentialGuest: 'snp', firmware: fw });
    let detail = '';
    try {
      const vm = await hv.start({ id: 'snp-amdsev', stateDir, initdata });
      assert.equal(vm.tee, 'snp');
      assert.equal(existsSync(join(stateDir, 'swtpm.sock')), false, 'no host vTPM for a hardware TEE');
      const exit = await vm.exited;
      assert.notEqual(exit.code, 0);
      detail = exit.detail ?? '';
      await vm.stop();
    } catch (e) {
      detail = (e as Error).message;
    }
    assert.match(detail, NO_TEE);
    assert.doesNotMatch(detail, PARSE_ERROR);
    assert.equal(existsSync(stateDir), false);
    assert.deepEqual(processesMatching(stateDir), []);
  });
});

const bootFirmware = findFirmware();
describe('the SNP launch line boots the guest image on q35 + OVMF (TEE object and KVM taken out)', {
  skip: !have(QEMU) ? `needs ${QEMU}` : !bootFirmware ? 'needs the ovmf package (/usr/share/ovmf/OVMF.fd) or $COCOLET_OVMF' : existsSync(join(guestImageDir(), 'manifest.json')) ? false : 'the guest image is not built (npm run guest-image)',
  timeout: 300_000,
}, () => {
  test('OVMF direct-boots the kernel without pci=off, the agent answers Health over virtio-serial-pci with iommu_platform', async () => {
    const image = loadGuestImage();
    const vmDir = join(dir, 'boot');
    mkdirSync(vmDir);
    // With the TEE object taken out there is no SNP report to bind init-data to, and the agent
    // fails closed without a measurable register: the development TEE's vTPM stands in (a real
    // SNP launch never gets a host swtpm — qemuArgs refuses one — so it is added after the fact).
    const tpm = await startSwtpm(vmDir);
    const agentSocket = join(vmDir, 'agent.sock');
    const consoleLog = join(vmDir, 'console.log');
    writeFileSync(consoleLog, '');
    const args = withoutTee(qemuArgs({
      name: 'cgs-boot', accel: { accel: 'kvm', cpu: 'host', reason: 'test' }, image, cmdline: confidentialCmdline(image.cmdline),
      vcpus: 1, memoryMiB: 512, agentSocket, consoleLog, net: { egress: false },
      confidential: { tee: 'snp', firmware: bootFirmware!, cpu: 'EPYC-v4' },
    })).concat('-chardev', `socket,id=chrtpm,path=${tpm.ctrlSocket}`, '-tpmdev', 'emulator,id=tpm0,chardev=chrtpm', '-device', 'tpm-tis,tpmdev=tpm0');
    const child = spawn(QEMU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
    try {
      const conn = await connectAgent({ id: 'cgs-boot', agentSocketPath: agentSocket, exited }, { timeoutMs: 240_000 }).catch((e: Error) => {
        throw new Error(`${e.message}; qemu: ${stderr.trim().split('\n').filter((l) => !/TCG doesn't support/.test(l)).join(' | ')}; console: ${readFileSync(consoleLog, 'utf8').slice(-800)}`);
      });
      conn.close();
      const console_ = readFileSync(consoleLog, 'utf8');
      assert.match(console_, /"transport":"virtio-serial"/);
      assert.match(console_, /agent ready/);
    } finally {
      child.kill('SIGKILL');
      await exited;
      await tpm.stop();
    }
  });
});
