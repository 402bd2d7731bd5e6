/**
 * Everything a confidential pod needs on a standalone node (`cocolet up`), on embedded defaults.
 *
 * API:
 *   const pre = checkConfidentialPrerequisites({ shimBinary });  // { ok } | { ok: false, missing }
 *   const shimConfig = writeShimConfig({ stateDir });            // before containerd starts: its
 *                                                                // path is the cocolet runtime's
 *                                                                // options.ConfigPath
 *   await ensureGuestImage({ log });                             // builds it when missing
 *   const node = await prepareConfidentialNode({ stateDir, containerdAddress, examplesDir, manifestsDir });
 *   node.manifests / node.image
 *   await node.dispose();                                        // untags, stops the registry, removes its files
 *
 * The pod's image is pulled INSIDE the guest: a loopback docker-registry holds the busybox image,
 * containerd's `k8s.io` namespace has it tagged under the guest-visible name
 * `10.0.2.2:PORT/cocolet/busybox:1` (so the CRI side finds it locally and never pulls), and the
 * pod's init-data lists that registry as insecure.
 *
 * host/ never imports guest/ (layering rule), so the guest image builder is run as a process
 * (its compiled entry beside this module's tree) rather than imported.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { parseAllDocuments } from 'yaml';
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';
import { BUSYBOX_BIN, BUSYBOX_IMAGE } from '../images/oci.js';
import { GUEST_HOST_ADDRESS, pushBusybox, startLocalRegistry, type LocalRegistry } from '../images/registry.js';
import { INIT_DATA_ANNOTATION } from '../shim/config.js';
import { guestImageDir } from '../vmm/image.js';
import { DEMO_POLICY } from './policy.js';

/** The compiled guest image builder, relative to this module. */
export const GUEST_IMAGE_BUILDER = fileURLToPath(new URL('../../guest/image/build.js', import.meta.url));
/** Commands a confidential pod needs on the node. */
export const CONFIDENTIAL_COMMANDS = ['qemu-system-x86_64', 'swtpm', 'docker-registry', 'skopeo'];

const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

export type Prerequisites = { ok: true } | { ok: false; missing: string };

export interface PrerequisiteOptions {
  /** The shim binary (`containerd-shim-cocolet-v2.cjs`, the bundle `npm run build` makes). */
  shimBinary?: string;
  /** Overrides for tests. */
  isRoot?: () => boolean;
  have?: (cmd: string) => boolean;
  exists?: (path: string) => boolean;
}

/** The first missing prerequisite, said in a few words (the guest image is not one: it is built). */
export function checkConfidentialPrerequisites(o: PrerequisiteOptions = {}): Prerequisites {
  const root = o.isRoot ?? ((): boolean => process.getuid?.() === 0);
  const hasCmd = o.have ?? have;
  const exists = o.exists ?? existsSync;
  if (!root()) return { ok: false, missing: 'root (QEMU, swtpm and containerd need it)' };
  for (const cmd of CONFIDENTIAL_COMMANDS) if (!hasCmd(cmd)) return { ok: false, missing: `${cmd} (run scripts/setup)` };
  if (!exists(BUSYBOX_BIN)) return { ok: false, missing: `${BUSYBOX_BIN} (busybox-static; run scripts/setup)` };
  if (o.shimBinary !== undefined && !exists(o.shimBinary)) return { ok: false, missing: 'the compiled shim containerd-shim-cocolet-v2 (npm run build)' };
  if (!exists(join(guestImageDir(), 'manifest.json')) && !exists(GUEST_IMAGE_BUILDER)) return { ok: false, missing: 'the guest image and its builder (npm run build)' };
  return { ok: true };
}

/** Builds the guest image with `npm run guest-image`'s entry when it is not there yet; returns its dir. */
export async function ensureGuestImage(o: { log: (line: string) => void; signal?: AbortSignal }): Promise<string> {
  const dir = guestImageDir();
  if (existsSync(join(dir, 'manifest.json'))) return dir;
  o.log(`building the guest image into ${dir} (once)`);
  const child = spawn(process.execPath, [GUEST_IMAGE_BUILDER], { stdio: ['ignore', 'pipe', 'pipe'], ...(o.signal ? { signal: o.signal } : {}) });
  let tail = '';
  const keep = (b: Buffer): void => void (tail = (tail + b.toString()).slice(-2000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const code = await new Promise<number | null>((resolve) => {
    child.once('exit', (c) => resolve(c));
    child.once('error', () => resolve(-1));
  });
  if (code !== 0 || !existsSync(join(dir, 'manifest.json'))) {
    throw new CocoletError(ErrorCode.FailedPrecondition, `building the guest image failed: ${tail.trim().split('\n').slice(-3).join(' | ')}`, { context: { dir } });
  }
  return dir;
}

export interface ShimConfigOptions {
  stateDir: string;
  /** Guest image directory; `$COCOLET_GUEST_DIR` or `<repo>/.cache/guest` when omitted. */
  imageDir?: string;
}

/** The shim's `runtime.state_dir` under a node state dir (the kubelet reads sandbox TEE labels there). */
export const shimStateDirOf = (stateDir: string): string => join(stateDir, 'shim');

/** The shim config for this node: QEMU with the built guest image; sandbox files under the state dir. */
export function renderShimConfig(o: ShimConfigOptions): string {
  return [
    '# generated by cocolet up (host/node/confidential.ts); see examples/shim/configuration.toml',
    '[hypervisor]',
    'kind = "qemu"',
    `image_dir = ${JSON.stringify(o.imageDir ?? guestImageDir())}`,
    '[runtime]',
    `state_dir = ${JSON.stringify(shimStateDirOf(o.stateDir))}`,
    '',
  ].join('\n');
}

/** Writes `<stateDir>/shim.toml`; returns its path (the cocolet runtime's options.ConfigPath). */
export function writeShimConfig(o: ShimConfigOptions): string {
  mkdirSync(o.stateDir, { recursive: true });
  const path = join(o.stateDir, 'shim.toml');
  writeFileSync(path, renderShimConfig(o));
  return path;
}

/** CoCo init-data TOML: the demo policy and the agent settings naming the insecure registry. */
export function initdataToml(o: { policy: unknown; insecureRegistries: string[] }): string {
  return [
    'version = "0.1.0"',
    'algorithm = "sha256"',
    '[data]',
    `"policy.json" = '''${JSON.stringify(o.policy)}'''`,
    `"cocolet-agent.json" = '''${JSON.stringify({ insecureRegistries: o.insecureRegistries })}'''`,
    '',
  ].join('\n');
}

export const initdataAnnotation = (toml: string): string => gzipSync(Buffer.from(toml)).toString('base64');

const HEADER = [
  '# Rendered by `cocolet up` from examples/pods-confidential/ (host/node/confidential.ts).',
  '# The image is pulled INSIDE the TEE from the node\'s loopback registry (10.0.2.2 from the guest).',
  '# Init-data policy: the confidential default, EXCEPT that ReadStdout/ReadStderr are allowed so',
  '# `cocolet logs` shows the TEE\'s output in this demo. A real confidential pod keeps them denied.',
];

/** Renders each manifest of `examplesDir` with `image` for the busybox image and the init-data annotation. */
export function renderConfidentialManifests(o: { examplesDir: string; image: string; initdata: string }): { name: string; text: string }[] {
  const out: { name: string; text: string }[] = [];
  for (const f of readdirSync(o.examplesDir).sort()) {
    if (!/\.ya?ml$/.test(f)) continue;
    const docs = parseAllDocuments(readFileSync(join(o.examplesDir, f), 'utf8'));
    const texts: string[] = [];
    for (const d of docs) {
      if (d.errors.length) throw new CocoletError(ErrorCode.InvalidArgument, `${f}: ${d.errors[0]!.message}`);
      const pod = d.toJS() as { kind?: string; metadata?: { annotations?: Record<string, string> }; spec?: { containers?: { image?: string }[]; initContainers?: { image?: string }[] } } | null;
      if (!pod || pod.kind !== 'Pod') continue;
      pod.metadata = { ...pod.metadata, annotations: { ...pod.metadata?.annotations, [INIT_DATA_ANNOTATION]: o.initdata } };
      for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) if (c.image === BUSYBOX_IMAGE) c.image = o.image;
      texts.push(JSON.stringify(pod, null, 2));
    }
    if (texts.length === 1) out.push({ name: f.replace(/\.ya?ml$/, '.yaml'), text: `${HEADER.join('\n')}\n${texts[0]}\n` });
    else texts.forEach((t, i) => out.push({ name: f.replace(/\.ya?ml$/, `-${i}.yaml`), text: `${HEADER.join('\n')}\n${t}\n` }));
  }
  return out;
}

export interface ConfidentialNodeOptions {
  stateDir: string;
  /** containerd's socket (to tag the image in its `k8s.io` namespace). */
  containerdAddress: string;
  /** Manifests to render (examples/pods-confidential). */
  examplesDir: string;
  /** The kubelet's static pod path. */
  manifestsDir: string;
}

export interface ConfidentialNode {
  /** The guest-visible image reference the pods run. */
  readonly image: string;
  /** Paths of the rendered manifests. */
  readonly manifests: string[];
  readonly registry: LocalRegistry;
  dispose(): Promise<void>;
}

function ctr(address: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('ctr', ['-a', address, '-n', 'k8s.io', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/** Starts the registry, pushes and tags the image, renders the manifests into `manifestsDir`. */
export async function prepareConfidentialNode(o: ConfidentialNodeOptions): Promise<ConfidentialNode> {
  const registry = await startLocalRegistry({ dir: join(o.stateDir, 'registry') });
  const made: string[] = [];
  let tagged: string | undefined;
  const dispose = async (): Promise<void> => {
    if (tagged && existsSync(o.containerdAddress)) ctr(o.containerdAddress, ['images', 'rm', tagged]);
    for (const f of made) rmSync(f, { force: true });
    await registry.stop();
    rmSync(join(o.stateDir, 'registry-img'), { recursive: true, force: true });
  };
  try {
    const pushed = pushBusybox(registry, { workDir: join(o.stateDir, 'registry-img') });
    const guestHost = `${GUEST_HOST_ADDRESS}:${registry.port}`;
    const image = pushed.replace(registry.host, guestHost);
    const t = ctr(o.containerdAddress, ['images', 'tag', '--force', BUSYBOX_IMAGE, image]);
    if (!t.ok) throw new CocoletError(ErrorCode.FailedPrecondition, `ctr could not tag ${BUSYBOX_IMAGE}: ${t.out}`);
    tagged = image;
    const initdata = initdataAnnotation(initdataToml({ policy: DEMO_POLICY, insecureRegistries: [guestHost] }));
    mkdirSync(o.manifestsDir, { recursive: true });
    for (const m of renderConfidentialManifests({ examplesDir: o.examplesDir, image, initdata })) {
      const p = join(o.manifestsDir, m.name);
      writeFileSync(p, m.text);
      made.push(p);
    }
    return { image, manifests: made, registry, dispose };
  } catch (e) {
    await dispose();
    throw e;
  }
}
