/**
 * `npm run bench -- net`: pod-to-pod TCP throughput through containerd's CRI and the CNI bridge, in
 * one run on one containerd: a runc pod downloads a file over HTTP (busybox wget → busybox httpd)
 * from a runc pod (the peer) and from a cocolet pod in a QEMU microVM (tap + tc mirred to the
 * veth, virtio-net in the guest). Options: --runs N (default 3), --mib N (file size, default 32).
 * The time is the wall time of the CRI ExecSync around wget, minus the median of an empty ExecSync
 * (`true`) in the same pod, so exec overhead does not count as network time.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { BenchReport, percentile } from '../report.js';
import { launchContainerd, type Containerd } from '../../host/containerd/launcher.js';
import { containerdSkipReason, imageCacheDir } from '../../e2e/support/containerd.js';
import { CriClient } from '../../host/cri/client.js';
import { BUSYBOX_IMAGE, ensureStandardImages } from '../../host/images/oci.js';
import { guestImageDir } from '../../host/vmm/index.js';
import { startRegistry } from '../../e2e/guest/registry.js';
import { initdataToml } from '../../e2e/guest/agent-client.js';
import { PERMISSIVE_POLICY } from '../../guest/policy/defaults.js';
import { Harness, have, waitFor } from '../../shared/testing/harness.js';
import { buildGuestImage } from '../../guest/image/build.js';
import { shimBundlePath } from '../../host/shim/pack.js';
import { NamespaceMode } from '../../shared/gen/cri/runtime/v1/api_pb.js';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = argv.indexOf(name);
  return i >= 0 ? Math.max(1, Number(argv[i + 1]) || dflt) : dflt;
};
const RUNS = opt('--runs', 3);
const MIB = opt('--mib', 32);
const PORT = 8080;
const median = (xs: number[]): number => percentile(xs, 50);

async function main(): Promise<void> {
  const why = containerdSkipReason()
    ?? (have('docker-registry') && have('skopeo') ? undefined : 'docker-registry and skopeo are needed')
    ?? (have('qemu-system-x86_64') && have('swtpm') ? undefined : 'qemu-system-x86_64 and swtpm are needed');
  if (why) {
    console.log(`bench net: skipped: ${why}`);
    return;
  }
  if (process.env.COCOLET_SKIP_GUEST_IMAGE !== '1') await buildGuestImage();
  if (!existsSync(join(guestImageDir(), 'manifest.json'))) {
    console.log('bench net: skipped: no guest image (npm run guest-image)');
    return;
  }
  const h = new Harness();
  const work = mkdtempSync(join(tmpdir(), 'ccn-'));
  h.defer('bench dir', () => rmSync(work, { recursive: true, force: true }));
  let c: Containerd | undefined;
  try {
    const shimDir = join(work, 'bin');
    mkdirSync(shimDir);
    const conf = join(work, 'qemu.toml');
    writeFileSync(conf, `[hypervisor]\nkind = "qemu"\n[agent]\ndial_timeout = 120\ncreate_container_timeout = 300\n[runtime]\nsocket_dir = "${join(work, 's')}"\nstate_dir = "${join(work, 'state')}"\n`);
    const wrapper = join(shimDir, 'containerd-shim-cocolet-v2');
    writeFileSync(wrapper, `#!/bin/sh\nCOCOLET_SHIM_CONFIG=${JSON.stringify(conf)} exec ${JSON.stringify(shimBundlePath())} "$@"\n`);
    chmodSync(wrapper, 0o755);
    c = await launchContainerd({ dir: join(work, 'c'), shimDir });
    const cri = new CriClient({ endpoint: c.address, defaultTimeoutMs: 5 * 60_000 });
    h.defer('cri', () => cri.close());
    await ensureStandardImages({ address: c.address, cacheDir: imageCacheDir(), cri });
    const reg = await startRegistry(h);
    const vmImage = reg.image.replace('127.0.0.1:', '10.0.2.2:');
    spawnSync('ctr', ['-a', c.address, '-n', 'k8s.io', 'images', 'tag', BUSYBOX_IMAGE, vmImage]);
    const initdata = gzipSync(initdataToml({ policy: PERMISSIVE_POLICY, insecureRegistries: [`10.0.2.2:${reg.port}`] })).toString('base64');
    const logs = h.tempDir('ccn-logs-');
    const pods: string[] = [];

    const runPod = async (name: string, handler: string, image: string, command: string[]): Promise<{ ip: string; ctr: string }> => {
      const cfg = {
        metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 }, hostname: name, logDirectory: logs,
        ...(handler ? { annotations: { 'io.katacontainers.config.hypervisor.cc_init_data': initdata } } : {}),
        linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
      };
      const pod = await cri.runPodSandbox(cfg, handler);
      pods.push(pod);
      const ctr = await cri.createContainer(pod, { metadata: { name: 'main' }, image: { image }, command, logPath: `${name}.log`, linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } }, cfg);
      await cri.startContainer(ctr);
      return { ip: (await cri.podSandboxStatus(pod))?.network?.ip ?? '', ctr };
    };
    const serve = ['/bin/sh', '-c', `mkdir -p /www && dd if=/dev/zero of=/www/big bs=1048576 count=${MIB} 2>/dev/null && exec httpd -f -p ${PORT} -h /www`];
    const client = await runPod('net-client', '', BUSYBOX_IMAGE, ['/bin/sleep', '3600']);
    const runcServer = await runPod('net-runc', '', BUSYBOX_IMAGE, serve);
    const vmServer = await runPod('net-vm', 'cocolet', vmImage, serve);

    const exec = async (cmd: string[]): Promise<number> => {
      const t0 = performance.now();
      const r = await cri.execSync(client.ctr, cmd, 600);
      if (r.exitCode !== 0) throw new Error(`${cmd.join(' ')} exited ${r.exitCode}: ${Buffer.from(r.stderr).toString()}`);
      return performance.now() - t0;
    };
    const fetchCmd = (ip: string): string[] => ['wget', '-q', '-O', '/dev/null', `http://${ip}:${PORT}/big`];
    for (const s of [runcServer, vmServer]) {
      await waitFor(async () => (await cri.execSync(client.ctr, ['wget', '-q', '-O', '/dev/null', `http://${s.ip}:${PORT}/`], 20).catch(() => undefined))?.exitCode !== undefined ? true : undefined, { what: `httpd at ${s.ip}`, timeoutMs: 120_000, intervalMs: 500 });
      await waitFor(async () => (await exec(fetchCmd(s.ip)).catch(() => undefined)) !== undefined ? true : undefined, { what: `the file at ${s.ip}`, timeoutMs: 120_000, intervalMs: 500 });
    }
    const base: number[] = [];
    for (let i = 0; i < 5; i++) base.push(await exec(['true']));
    const overhead = median(base);
    // interleaved: runc, VM, runc, VM, … so a burst of other load hits both
    const mbps: Record<'runc' | 'vm', number[]> = { runc: [], vm: [] };
    for (let i = 0; i < RUNS; i++) {
      for (const [k, s] of [['runc', runcServer], ['vm', vmServer]] as const) {
        const ms = Math.max(1, (await exec(fetchCmd(s.ip))) - overhead);
        mbps[k].push((MIB * 8 * 1.048576) / (ms / 1000));
      }
    }
    const report = new BenchReport('net');
    report.add({ figure: 'pod_to_pod_tcp_runc_to_vm_p50', unit: 'Mbit/s', value: median(mbps.vm), peer: 'runc_to_runc', peer_value: median(mbps.runc), better: 'higher' });
    report.note(`${RUNS} interleaved downloads of ${MIB} MiB each (busybox wget from a runc pod; httpd in a runc pod vs in a cocolet QEMU pod on the same CNI bridge); exec overhead ${overhead.toFixed(0)} ms subtracted`);
    report.note(`runc->vm samples: ${mbps.vm.map((x) => x.toFixed(0)).join(', ')} Mbit/s; runc->runc: ${mbps.runc.map((x) => x.toFixed(0)).join(', ')} Mbit/s`);
    const accel = /"accel":"(\w+)"/.exec(readFileSync(c.layout.logPath, 'utf8'))?.[1] ?? 'unknown';
    report.note(`QEMU accelerator: ${accel}${accel === 'tcg' ? ' (software emulation; with the userspace virtio-net backend, no vhost-net, it bounds the VM pod throughput here, not measured apart)' : ''}`);
    report.print();
    for (const p of pods) {
      await cri.stopPodSandbox(p).catch(() => {});
      await cri.removePodSandbox(p).catch(() => {});
    }
  } catch (e) {
    if (c) console.error(c.logTail(40));
    throw e;
  } finally {
    await c?.stop().catch(() => {});
    await h.dispose().catch(() => {});
  }
}

await main();
