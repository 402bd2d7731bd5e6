/**
 * QEMU microVM hypervisor: direct kernel boot of the guest image on `-M microvm` (KVM or TCG,
 * chosen automatically), the agent's ttrpc stream on virtio-serial port `agent.channel.0` backed
 * by a host unix socket (QEMU is the socket server; the client connects and may reconnect), serial
 * console to a log file, one swtpm per VM as its TPM, user networking for the guest's own
 * connections (nothing forwarded in), and the CoCo init-data as a read-only virtio-blk disk.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import { DisposableStore, delay } from '../../shared/lifecycle/disposables.js';
import { silentLogger } from '../../shared/log/logger.js';
import { chooseAccel, type AccelChoice } from './accel.js';
import {
  AGENT_CHANNEL_NAME, DEFAULT_WORKLOAD_MEMORY_MIB, GUEST_MEMORY_OVERHEAD_MIB,
  teeLabel, type HypervisorStartOptions, type TapNic, type TeeKind, type VmExit, type VmHandle,
} from './hypervisor.js';

/**
 * MAC of the user-mode NIC (QEMU's default, set explicitly): the guest's /init finds that NIC by it
 * (guest/image/init.ts) and names it `user0`, whatever order the NICs probe in.
 */
export const USER_NET_MAC = '52:54:00:12:34:56';
import { loadGuestImage, type GuestImage } from './image.js';
import { initdataDiskImage } from './initdata-disk.js';
import { startSwtpm } from './swtpm.js';
import { vcpuThreads } from './pin.js';
import { boundRamBackend, checkHostNodes } from './numa.js';
import { prepareConfidentialLaunch, type ConfidentialGuest, type ConfidentialLaunch, SNP_DEFAULT_CBITPOS, SNP_DEFAULT_CPU, SNP_DEFAULT_POLICY } from './confidential.js';

export interface QemuHypervisorOptions {
  qemuBinary?: string;
  swtpmBinary?: string;
  /** Guest image folder (default: `$COCOLET_GUEST_DIR` or `<repo>/.cache/guest`). */
  imageDir?: string;
  /** Attach a swtpm vTPM (default true). */
  tpm?: boolean;
  /** Extra kernel command-line words (appended after the image's measured command line; also `$COCOLET_VMM_EXTRA_CMDLINE`). */
  extraCmdline?: string[];
  /** `snp` / `tdx`: a hardware-TEE launch on q35 (KVM only); `none` (default): the development TEE. */
  confidentialGuest?: ConfidentialGuest;
  /** OVMF for SNP/TDX (default: `$COCOLET_OVMF`, then Debian's /usr/share/ovmf/OVMF.fd). */
  firmware?: string;
  /** QEMU CPU model of an SNP guest (default EPYC-v4; part of the launch measurement). */
  snpCpu?: string;
  /** Where the host's NUMA nodes are read (tests); default /sys. */
  sysfsRoot?: string;
  logger?: Logger;
}

export interface QemuArgsInput {
  /** VM name (names QEMU's threads too: `CPU <n>/TCG|KVM`). */
  name?: string;
  accel: AccelChoice;
  image: Pick<GuestImage, 'kernel' | 'initramfs'>;
  cmdline: string;
  vcpus: number;
  memoryMiB: number;
  agentSocket: string;
  consoleLog: string;
  swtpmSocket?: string;
  initdataDisk?: string;
  /**
   * user networking, for the guest's own connections (image pulls, the key broker). Nothing is
   * forwarded into the guest: the agent is reachable only over the virtio-serial channel.
   */
  net?: { egress: boolean };
  /** The pod's NICs: taps QEMU opens by name (script-less) as virtio-net devices with the pod veth's MAC. */
  taps?: TapNic[];
  /** SEV-SNP / TDX launch (q35, KVM only); absent = the development TEE on microvm. */
  confidential?: ConfidentialLaunch;
  /** Host NUMA nodes the guest RAM is bound to (`policy=bind` on its memory backend); absent: the default policy. */
  hostNodes?: readonly number[];
}

const b64 = (b: Uint8Array, size: number, what: string): string => {
  if (b.length !== size) throw new CocoletError(ErrorCode.InvalidArgument, `${what} must be ${size} bytes (got ${b.length})`);
  return Buffer.from(b).toString('base64');
};

/** The `-object` and `-machine` words of a hardware-TEE launch (pure). */
function confidentialWords(c: ConfidentialLaunch, memoryMiB: number, hostNodes?: readonly number[]): { machine: string; cpu: string; objects: string[] } {
  // QEMU 10 backs private memory with guest_memfd; the shared part must be a memfd backend.
  const ram = hostNodes?.length
    ? boundRamBackend({ id: 'ram0', type: 'memory-backend-memfd', memoryMiB, nodes: hostNodes, extra: 'share=true,prealloc=false' })
    : `memory-backend-memfd,id=ram0,size=${memoryMiB}M,share=true,prealloc=false`;
  if (c.tee === 'snp') {
    const sev = [
      'sev-snp-guest', 'id=cgs0', `cbitpos=${c.cbitpos ?? SNP_DEFAULT_CBITPOS}`, `reduced-phys-bits=${c.reducedPhysBits ?? 1}`,
      `policy=0x${(c.policy ?? SNP_DEFAULT_POLICY).toString(16)}`, 'kernel-hashes=on',
      ...(c.hostData ? [`host-data=${b64(c.hostData, 32, 'SNP host-data')}`] : []),
    ];
    return { machine: 'q35,confidential-guest-support=cgs0,memory-backend=ram0', cpu: c.cpu, objects: [ram, sev.join(',')] };
  }
  const tdx = ['tdx-guest', 'id=cgs0', ...(c.mrConfigId ? [`mrconfigid=${b64(c.mrConfigId, 48, 'TDX mrconfigid')}`] : [])];
  // TDX needs the split irqchip (the TD's LAPIC is emulated in KVM, the IOAPIC in QEMU).
  return { machine: 'q35,kernel-irqchip=split,confidential-guest-support=cgs0,memory-backend=ram0', cpu: 'host', objects: [ram, tdx.join(',')] };
}

/**
 * The QEMU command line (pure; unit-tested). Development TEE: `-M microvm` with virtio-mmio
 * devices. SEV-SNP / TDX: QEMU's microvm cannot host either, so `-M q35` with `-bios` firmware,
 * virtio-pci devices that use the DMA API (`iommu_platform=on`, as a guest with private memory
 * needs bounce buffers), no default devices, and always KVM.
 */
export function qemuArgs(i: QemuArgsInput): string[] {
  const c = i.confidential ? confidentialWords(i.confidential, i.memoryMiB, i.hostNodes) : undefined;
  // Development TEE: the guest RAM is a plain RAM backend when it must be bound to NUMA nodes.
  const devRam = !c && i.hostNodes?.length ? boundRamBackend({ id: 'ram0', type: 'memory-backend-ram', memoryMiB: i.memoryMiB, nodes: i.hostNodes }) : undefined;
  const dev = (name: string, extra = ''): string => (c ? `${name}-pci,disable-legacy=on,iommu_platform=on${extra}` : `${name}-device${extra}`);
  const a = [
    '-name', `${i.name ?? 'cocolet'},debug-threads=on`,
    ...(c
      ? ['-accel', 'kvm', '-machine', c.machine, '-cpu', c.cpu, '-nodefaults', '-bios', i.confidential!.firmware, ...c.objects.flatMap((o) => ['-object', o])]
      : ['-accel', i.accel.accel, '-M', devRam ? 'microvm,memory-backend=ram0' : 'microvm', '-cpu', i.accel.cpu, ...(devRam ? ['-object', devRam] : [])]),
    '-smp', String(i.vcpus), '-m', String(i.memoryMiB),
    '-display', 'none', '-monitor', 'none', '-no-reboot', '-no-user-config',
    '-serial', `file:${i.consoleLog}`,
    '-kernel', i.image.kernel, '-initrd', i.image.initramfs, '-append', i.cmdline,
    '-device', dev('virtio-serial'),
    '-chardev', `socket,id=agent,path=${i.agentSocket},server=on,wait=off`,
    '-device', `virtserialport,chardev=agent,name=${AGENT_CHANNEL_NAME}`,
    // entropy for the guest from its first second (no waiting on jitter entropy under emulation)
    '-object', 'rng-random,id=rng0,filename=/dev/urandom', '-device', dev('virtio-rng', ',rng=rng0'),
  ];
  if (i.swtpmSocket) {
    if (c) throw new CocoletError(ErrorCode.InvalidArgument, 'a host-run swtpm is not attached to an SNP/TDX guest: its state is the host\'s to read and change');
    a.push('-chardev', `socket,id=chrtpm,path=${i.swtpmSocket}`, '-tpmdev', 'emulator,id=tpm0,chardev=chrtpm', '-device', 'tpm-tis,tpmdev=tpm0');
  }
  if (i.initdataDisk) {
    a.push('-drive', `file=${i.initdataDisk},if=none,id=initdata,format=raw,readonly=on`, '-device', dev('virtio-blk', ',drive=initdata'));
  }
  if (i.net) {
    a.push('-netdev', `user,id=net0,restrict=${i.net.egress ? 'off' : 'on'}`, '-device', dev('virtio-net', `,netdev=net0,mac=${USER_NET_MAC}`));
  }
  for (const [n, t] of (i.taps ?? []).entries()) {
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/.test(t.tap)) throw new CocoletError(ErrorCode.InvalidArgument, `tap name ${JSON.stringify(t.tap)} is not a Linux interface name`);
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(t.mac)) throw new CocoletError(ErrorCode.InvalidArgument, `NIC MAC ${JSON.stringify(t.mac)} is not six lower-case hex octets`);
    a.push('-netdev', `tap,id=pod${n},ifname=${t.tap},script=no,downscript=no`, '-device', dev('virtio-net', `,netdev=pod${n},mac=${t.mac}`));
  }
  return a;
}

export { vcpuThreads } from './pin.js';

export class QemuHypervisor {
  readonly kind = 'qemu' as const;
  private readonly log: Logger;

  constructor(private readonly opts: QemuHypervisorOptions = {}) {
    this.log = opts.logger ?? silentLogger();
  }

  async start(o: HypervisorStartOptions): Promise<VmHandle> {
    const log = (o.logger ?? this.log).child({ sandbox: o.id });
    const qemu = this.opts.qemuBinary ?? 'qemu-system-x86_64';
    const image = loadGuestImage(this.opts.imageDir);
    const teeKind = this.opts.confidentialGuest ?? 'none';
    const accel: AccelChoice = teeKind !== 'none'
      ? { accel: 'kvm', cpu: teeKind === 'snp' ? (this.opts.snpCpu || SNP_DEFAULT_CPU) : 'host', reason: `${teeKind} needs KVM` }
      : await chooseAccel({ qemu, imageDir: image.dir, kernel: image.kernel, initramfs: image.initramfs, cmdline: image.cmdline });
    const store = new DisposableStore();
    mkdirSync(o.stateDir, { recursive: true });
    store.add('state dir', () => rmSync(o.stateDir, { recursive: true, force: true }));
    try {
      const agentSocket = join(o.stateDir, 'agent.sock');
      const consoleLog = join(o.stateDir, 'console.log');
      writeFileSync(consoleLog, '');
      const envExtra = process.env.COCOLET_VMM_EXTRA_CMDLINE?.split(/\s+/).filter(Boolean) ?? [];
      const vcpus = Math.max(1, Math.ceil(o.vcpus ?? 1));
      // before anything starts: a node the host lacks is refused naming it (QEMU would say only EINVAL)
      const hostNodes = o.numaNodes?.length ? checkHostNodes(o.numaNodes, { sandbox: o.id, ...(this.opts.sysfsRoot ? { sysfsRoot: this.opts.sysfsRoot } : {}) }) : undefined;
      let cmdline = [image.cmdline, ...(this.opts.extraCmdline ?? []), ...(o.extraCmdline ?? []), ...envExtra].join(' ');
      let confidential: ConfidentialLaunch | undefined;
      if (teeKind !== 'none') {
        const p = prepareConfidentialLaunch({
          tee: teeKind, kernel: image.kernel, initramfs: image.initramfs, cmdline, vcpus,
          ...(this.opts.firmware ? { firmware: this.opts.firmware } : {}), ...(this.opts.snpCpu ? { snpCpu: this.opts.snpCpu } : {}), ...(o.initdata ? { initdata: o.initdata } : {}),
        });
        confidential = p.launch;
        cmdline = p.cmdline;
        log.info({ tee: teeKind, firmware: p.launch.firmware, expectedMeasurement: p.expectedMeasurement }, 'hardware TEE launch (the attestation report must carry this measurement)');
      }
      let swtpmSocket: string | undefined;
      const helperPids: number[] = [];
      // A host-run swtpm is no root of trust for a hardware TEE: SNP/TDX guests attest through the CPU.
      if ((this.opts.tpm ?? true) && !confidential) {
        const tpm = await startSwtpm(o.stateDir, this.opts.swtpmBinary);
        store.add('swtpm', () => tpm.stop());
        swtpmSocket = tpm.ctrlSocket;
        if (tpm.pid > 0) helperPids.push(tpm.pid);
      }
      let initdataDisk: string | undefined;
      if (o.initdata) {
        initdataDisk = join(o.stateDir, 'initdata.img');
        writeFileSync(initdataDisk, initdataDiskImage(o.initdata));
      }
      const memoryMiB = Math.ceil(o.memoryMiB ?? DEFAULT_WORKLOAD_MEMORY_MIB) + GUEST_MEMORY_OVERHEAD_MIB;
      if (accel.accel === 'tcg' && vcpus > 1) {
        // seen here: a 2-vCPU TCG guest on a loaded 2-core host soft-locked with both vCPUs in runc
        log.warn({ vcpus }, 'several vCPUs under software emulation (TCG) can stall the guest; one vCPU is the safe choice without KVM');
      }
      const args = qemuArgs({
        name: o.id.replace(/[^A-Za-z0-9_.-]/g, '_'), accel, image, cmdline, vcpus, memoryMiB, agentSocket, consoleLog, swtpmSocket, initdataDisk,
        net: { egress: o.egress ?? true }, ...(o.tapNics?.length ? { taps: o.tapNics } : {}), ...(confidential ? { confidential } : {}), ...(hostNodes ? { hostNodes } : {}),
      });
      const child = spawn(qemu, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
      const exited = new Promise<VmExit>((resolve) => {
        child.once('exit', (code, signal) => resolve({ code, signal, ...(code && stderr.trim() ? { detail: stderr.trim().split('\n').slice(-3).join(' | ').slice(-600) } : {}) }));
        child.once('error', (e) => {
          stderr += e.message;
          resolve({ code: -1, signal: null });
        });
      });
      let gone = false;
      void exited.then((e) => {
        gone = true;
        if (e.detail) log.warn({ code: e.code, signal: e.signal, detail: e.detail }, 'vm exited');
        else log.info({ code: e.code, signal: e.signal }, 'vm exited');
      });
      const pid = child.pid ?? -1;
      store.add('qemu', async () => {
        if (gone) return;
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          /* gone */
        }
        const t = setTimeout(() => {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone */
          }
        }, 3000);
        await exited;
        clearTimeout(t);
      });
      // QEMU creates the agent socket once it is listening; that is our readiness to hand back.
      const deadline = Date.now() + 15_000;
      while (!existsSync(agentSocket)) {
        if (gone || Date.now() > deadline) {
          throw new CocoletError(ErrorCode.VmFailed, `qemu did not start: ${stderr.trim().slice(-600) || 'no agent socket'}`, { context: { sandbox: o.id } });
        }
        await delay(10);
      }
      const tee: TeeKind = confidential ? confidential.tee : 'dev';
      if (!confidential) log.warn({ tee: teeLabel(tee) }, 'development TEE: QEMU without SEV-SNP/TDX and a host-run swtpm; the host can read and change guest memory, the vTPM state and the console');
      log.info({ pid, tee, accel: accel.accel, accelReason: accel.reason, vcpus, memoryMiB, numaNodes: hostNodes?.join(',') ?? 'any', tpm: Boolean(swtpmSocket), initdata: Boolean(initdataDisk) }, 'vm started');
      if (o.onVcpuThreads) {
        // vCPU threads appear right after the chardevs; wait (bounded) until all exist.
        let threads = vcpuThreads(pid);
        for (let i = 0; i < 500 && threads.length < vcpus && !gone; i++) {
          await delay(10);
          threads = vcpuThreads(pid);
        }
        try {
          await o.onVcpuThreads(threads);
        } catch (e) {
          log.warn({ err: e }, 'vcpu thread hook failed');
        }
      }
      let stopping: Promise<void> | undefined;
      return {
        id: o.id,
        kind: 'qemu',
        confidential: true,
        tee,
        pid,
        helperPids,
        agentSocketPath: agentSocket,
        consoleLogPath: consoleLog,
        cmdline,
        exited,
        stop: () => (stopping ??= store.dispose()),
      };
    } catch (e) {
      await store.dispose().catch(() => undefined);
      throw e;
    }
  }
}
