/**
 * The node the CRI validation suite runs against: one private containerd with runc and the cocolet
 * handlers, the suite's images in a loopback registry that containerd (CRI registry mirrors) and
 * the QEMU guest (its init-data's `registryMirrors`, the host as 10.0.2.2) both pull from, and
 * critest itself (built by scripts/build-critest) run with a JSON report per handler.
 *
 * Handlers: `runc`; `cocolet` (strict: no default init-data); `cocolet-dev` (`process` hypervisor)
 * and `cocolet-dev-qemu` (`qemu`), whose shim configs name a development init-data
 * (`hypervisor.default_init_data`) with CRITEST_POLICY and the registry settings.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Harness } from '../../shared/testing/harness.js';
import { waitFor } from '../../shared/testing/harness.js';
import { startContainerd, type ContainerdFixture } from '../support/containerd.js';
import { CriClient } from '../../host/cri/client.js';
import { ensureStandardImages } from '../../host/images/oci.js';
import { GUEST_HOST_ADDRESS, startLocalRegistry } from '../../host/images/registry.js';
import { PERMISSIVE_POLICY, ANY_ORDINARY_CONTAINER } from '../../shared/agent-policy/defaults.js';
import type { PolicyDocument } from '../../shared/agent-policy/types.js';
import { prepareShim, RUNTIME_TYPE, type ShimFixture } from '../shim/support.js';
import { imageCacheDir } from '../support/containerd.js';
import { pushCritestImages } from './images.js';

/** The sandbox image: its process must not be called `sleep` (critest's execSync timeout spec runs `pgrep sleep`). */
export const CRITEST_PAUSE = 'localhost/cocolet/critest-pause:1';

/**
 * The development policy the `cocolet-dev*` handlers give pods without init-data: every request
 * allowed, and any container — privileged, host namespaces, any capability, sysctl or device —
 * since the suite checks that the runtime honours each. Never a production policy.
 */
/** Every Linux capability (through CAP_CHECKPOINT_RESTORE, 5.9). */
const ALL_CAPABILITIES = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT',
  'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE',
  'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ',
  'PERFMON', 'BPF', 'CHECKPOINT_RESTORE',
].map((c) => `CAP_${c}`);

export const CRITEST_POLICY: PolicyDocument = {
  ...PERMISSIVE_POLICY,
  name: 'critest-development',
  containers: [{
    ...ANY_ORDINARY_CONTAINER,
    // a privileged container gets /sys and its cgroup file system writable
    mounts: [...ANY_ORDINARY_CONTAINER.mounts, ...ANY_ORDINARY_CONTAINER.mounts.filter((m) => m.destination.startsWith('/sys')).map(({ readOnly: _ro, ...m }) => m)],
    capabilities: ALL_CAPABILITIES,
    privileged: true,
    hostNamespaces: ['pid', 'ipc', 'uts', 'network'],
    podPidNamespace: true,
    // the two the suite sets (its "safe" and "unsafe" sysctl specs)
    sysctls: { 'kernel.shm_rmid_forced': '1', 'fs.mqueue.msg_max': '100' },
    keepSetuid: true,
  }],
};

export function critestBinDir(): string | undefined {
  try {
    const bin = execFileSync(fileURLToPath(new URL('../../../scripts/build-critest', import.meta.url)), ['--print'], { encoding: 'utf8' }).trim();
    return existsSync(join(bin, 'critest')) ? bin : undefined;
  } catch {
    return undefined;
  }
}

/** The development init-data TOML: the policy, and the guest's way to the suite's registry. */
export function devInitdata(o: { registryMirrors: Record<string, string> }): string {
  const settings = { insecureRegistries: [...new Set(Object.values(o.registryMirrors))], registryMirrors: o.registryMirrors };
  return [
    'version = "0.1.0"', 'algorithm = "sha256"', '[data]',
    `"policy.json" = '''${JSON.stringify(CRITEST_POLICY)}'''`,
    `"cocolet-agent.json" = '''${JSON.stringify(settings)}'''`, '',
  ].join('\n');
}

export interface ConformanceNode {
  containerd: ContainerdFixture;
  process: ShimFixture;
  qemu?: ShimFixture;
  /** Upstream registry host → `127.0.0.1:PORT`. */
  mirrors: Record<string, string>;
}

/** Starts the registry, pushes the images, starts containerd with every handler. */
export async function startConformanceNode(h: Harness, o: { qemu: boolean; skip(why: string): void }): Promise<ConformanceNode | undefined> {
  const regDir = h.tempDir('cocolet-critest-reg-');
  const reg = await startLocalRegistry({ dir: join(regDir, 'registry') });
  h.defer('docker-registry', () => reg.stop());
  const { mirrors } = pushCritestImages(reg.host, join(regDir, 'images'));
  const guestMirrors = Object.fromEntries(Object.keys(mirrors).map((host) => [host, `${GUEST_HOST_ADDRESS}:${reg.port}`]));

  const process = prepareShim(h, { kind: 'process' });
  const qemu = o.qemu ? prepareShim(h, { kind: 'qemu' }) : undefined;
  const devConfig = (shim: ShimFixture, name: string, registryMirrors: Record<string, string>): string => {
    const initdata = join(h.tempDir('cocolet-critest-'), `${name}-initdata.toml`);
    writeFileSync(initdata, devInitdata({ registryMirrors }));
    const config = join(h.tempDir('cocolet-critest-'), `${name}.toml`);
    writeFileSync(config, readFileSync(shim.configPath, 'utf8').replace('[hypervisor]\n', `[hypervisor]\ndefault_init_data = "${initdata}"\n`));
    return config;
  };
  const extraRuntimes: NonNullable<Parameters<typeof startContainerd>[2]>['extraRuntimes'] = {
    'cocolet-dev': { runtimeType: RUNTIME_TYPE, podAnnotations: ['io.katacontainers.*'], configPath: devConfig(process, 'cocolet-dev', mirrors) },
  };
  if (qemu) extraRuntimes['cocolet-dev-qemu'] = { runtimeType: RUNTIME_TYPE, podAnnotations: ['io.katacontainers.*'], configPath: devConfig(qemu, 'cocolet-dev-qemu', guestMirrors) };
  const containerd = await startContainerd(h, { skip: o.skip }, {
    shimDir: process.shimDir,
    cocoletConfigPath: process.configPath,
    extraRuntimes,
    registryMirrors: Object.fromEntries(Object.entries(mirrors).map(([host, m]) => [host, [m]])),
    tmpfsRoot: '4g',
    sandboxImage: CRITEST_PAUSE,
    noImages: true,
  });
  if (!containerd) return undefined;
  const cri = new CriClient({ endpoint: containerd.address });
  try {
    await ensureStandardImages({
      address: containerd.address, cacheDir: imageCacheDir(), cri,
      // `sleep` under another name: busybox picks the applet from argv[0], the kernel names the process after the file.
      images: [{ ref: CRITEST_PAUSE, entrypoint: ['/bin/sh', '-c', 'exec -a sleep /bin/busybox 2147483647'], file: 'critest-pause.tar' }],
    });
  } finally {
    cri.close();
  }
  return { containerd, process, ...(qemu ? { qemu } : {}), mirrors };
}

export interface SpecResult {
  name: string;
  state: string;
  failure?: string;
}

export interface CritestRun {
  passed: number;
  failed: number;
  skipped: number;
  specs: SpecResult[];
  exitCode: number | null;
  output: string;
}

/** Runs critest against `address` for `handler`; resolves with its per-spec results. */
export async function runCritest(h: Harness, o: { bin: string; address: string; handler?: string; skip: string; focus?: string; timeout: string }): Promise<CritestRun> {
  // COCOLET_CRITEST_OUT=<dir> keeps each run's log and JSON report (in <dir>/<handler>/) after the test.
  const keep = process.env.COCOLET_CRITEST_OUT;
  const dir = keep ? join(keep, o.handler ?? 'runc') : h.tempDir('cocolet-critest-run-');
  mkdirSync(dir, { recursive: true });
  const report = join(dir, 'report.json');
  rmSync(report, { force: true });
  const args = [
    `--runtime-endpoint=unix://${o.address}`, `--image-endpoint=unix://${o.address}`,
    ...(o.handler ? [`--runtime-handler=${o.handler}`] : []),
    '-ginkgo.seed=1', '-ginkgo.no-color', `-ginkgo.timeout=${o.timeout}`, `-ginkgo.json-report=${report}`,
    `-ginkgo.skip=${o.skip}`, ...(o.focus ? [`-ginkgo.focus=${o.focus}`] : []),
  ];
  const child = spawn(join(o.bin, 'critest'), args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  h.defer(`critest ${child.pid}`, () => {
    try {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
  // The live output, for a look while it runs: <run dir>/critest.log (the dir is in the test's diagnostics).
  const log = createWriteStream(join(dir, 'critest.log'));
  let output = '';
  const take = (d: Buffer): void => {
    output += d.toString();
    log.write(d);
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await new Promise((resolve) => log.end(resolve));
  await waitFor(() => existsSync(report), { what: `critest's JSON report (exit ${exitCode}): ${output.slice(-2000)}`, timeoutMs: 5_000 });
  type Spec = { ContainerHierarchyTexts?: string[]; LeafNodeText: string; LeafNodeType: string; State: string; Failure?: { Message?: string } };
  const suites = JSON.parse(readFileSync(report, 'utf8')) as { SpecReports: Spec[] }[];
  const specs = suites.flatMap((s) => s.SpecReports)
    .filter((s) => s.LeafNodeType === 'It')
    .map((s) => ({ name: [...(s.ContainerHierarchyTexts ?? []), s.LeafNodeText].join(' '), state: s.State, ...(s.Failure?.Message ? { failure: s.Failure.Message } : {}) }));
  const count = (st: string): number => specs.filter((s) => s.state === st).length;
  return { passed: count('passed'), failed: specs.length - count('passed') - count('skipped') - count('pending'), skipped: count('skipped'), specs, exitCode, output };
}
