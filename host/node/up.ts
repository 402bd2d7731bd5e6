/**
 * `cocolet up`: a standalone node in one command. Starts containerd with a generated config under
 * `<stateDir>/containerd` (or reuses one already answering there, or `--container-runtime-endpoint`),
 * imports the pause and busybox images, copies the example static pods into
 * `<stateDir>/manifests` (the kubelet's staticPodPath; drop more manifests there), runs the
 * kubelet and prints progress until every pod is Running. SIGINT / SIGTERM (or, with `--once`,
 * reaching Running) stops the pods, the kubelet and the containerd it started. The kubelet's HTTPS
 * API listens on 127.0.0.1:10250 (any free port when taken) for client certificates from a local
 * CA generated once into `<stateDir>/pki`; the progress output prints the curl command.
 *
 * Confidential pods (by default, when the node has what they need; `--no-confidential` skips them,
 * `--confidential` makes a missing prerequisite an error): ./confidential.ts builds the
 * guest image if missing, writes the shim config (the `cocolet` runtime's options.ConfigPath),
 * starts a loopback registry the guest pulls from and renders `examples/pods-confidential/` with
 * the guest-visible image and init-data. Their RuntimeClass `cocolet` is routed to the CRI handler
 * `cocolet`, served by `containerd-shim-cocolet-v2`, which containerd looks up on its PATH
 * (prefixed with `--shim-dir` / `$COCOLET_SHIM_DIR`, else a link in `<stateDir>/bin`).
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { loadKubeconfig } from '../kubelet/client/kubeconfig.js';
import type { Logger } from '../../shared/log/logger.js';
import { spawnSync } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { launchContainerd, type Containerd } from '../containerd/launcher.js';
import { containerdLayout } from '../containerd/config.js';
import { CriClient } from '../cri/client.js';
import { ensureStandardImages } from '../images/oci.js';
import { defaultKubeletConfiguration } from '../kubelet/config/kubeletconfig.js';
import { DEFAULT_RUNTIME_CLASSES } from '../kubelet/config/flags.js';
import { Kubelet } from '../kubelet/kubelet.js';
import { localClientPki } from '../kubelet/server/certs.js';
import { DEFAULT_SERVER_PORT } from '../kubelet/server/kubeapi.js';
import type { PodRecord } from '../kubelet/status/manager.js';
import { nodeTee, shimTeeReader } from './tee.js';
import { runtimeClassOverheadFor } from './overhead.js';
import { checkConfidentialPrerequisites, ensureGuestImage, prepareConfidentialNode, shimStateDirOf, writeShimConfig, type ConfidentialNode } from './confidential.js';

export const DEFAULT_STATE_DIR = '/var/lib/cocolet';
export const DEFAULT_UP_TIMEOUT_MS = 180_000;

export interface UpOptions {
  stateDir: string;
  /** Repository root (for examples/). */
  root: string;
  once: boolean;
  timeoutMs: number;
  /** Run the confidential example pods when the prerequisites are there. */
  confidential: boolean;
  /** A missing prerequisite for the confidential pods is an error (explicit `--confidential`). */
  requireConfidential?: boolean;
  shimDir?: string;
  /** The compiled shim (`containerd-shim-cocolet-v2.js` beside the cocolet command), linked into
   * `<stateDir>/bin` for `--confidential` when no `shimDir` is given. */
  shimBinary?: string;
  endpoint?: string;
  /**
   * Join the cluster of this kubeconfig (the node's credentials) instead of running the example
   * static pods: the node registers, runs the pods the scheduler binds to it, and `up` reports
   * when it is Ready.
   */
  kubeconfig?: string;
  /** TLS bootstrapping credentials for when `kubeconfig` has no usable certificate yet. */
  bootstrapKubeconfig?: string;
  /** Node name (default: the host name). */
  nodeName?: string;
  /** The Node's InternalIP (the API server reaches the kubelet there). */
  nodeIp?: string;
  /** Where the kubelet's HTTPS API listens (default 127.0.0.1; 0.0.0.0 for a remote API server). */
  address?: string;
  /**
   * Get the HTTPS API's certificate from the cluster (`serverTLSBootstrap`: a kubelet-serving CSR,
   * renewed before expiry) instead of a self-signed one (cluster mode).
   */
  serverTLSBootstrap?: boolean;
  /** Called once the node has registered and reported its status (cluster mode). */
  onRegistered?: () => void;
  out: (line: string) => void;
  signal: AbortSignal;
  logger: Logger;
}

const isRoot = (): boolean => process.getuid?.() === 0;
const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (!existsSync(path)) return resolve(false);
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** `port` when it can be bound on `address` now, else 0 (any free port). */
function portOrAny(address: string, port: number): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(0));
    s.listen(port, address, () => s.close(() => resolve(port)));
  });
}

/** The CA file of a kubeconfig's cluster (its data written to `<pkiDir>/cluster-ca.crt`). */
function clusterCaFile(kubeconfig: string, pkiDir: string): string | undefined {
  const c = loadKubeconfig(kubeconfig).cluster;
  if (c.caFile) return c.caFile;
  if (!c.caData) return undefined;
  mkdirSync(pkiDir, { recursive: true, mode: 0o700 });
  const f = join(pkiDir, 'cluster-ca.crt');
  writeFileSync(f, Buffer.from(c.caData, 'base64'));
  return f;
}

/** A node in a cluster: reports the join, then (without --once) runs until stopped. */
async function joined(k: Kubelet, o: UpOptions, say: (m: string) => void, cleanup: () => Promise<void>): Promise<number> {
  const abort = new Promise<'aborted'>((r) => (o.signal.aborted ? r('aborted') : o.signal.addEventListener('abort', () => r('aborted'), { once: true })));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), o.timeoutMs)));
  let poll: NodeJS.Timeout | undefined;
  const registered = new Promise<'registered'>((r) => {
    poll = setInterval(() => {
      if (k.node?.registered && k.node.lastReported > 0) r('registered');
    }, 100);
  });
  const first = await Promise.race([registered, abort, timeout]);
  clearTimeout(timer);
  clearInterval(poll);
  if (first !== 'registered') {
    if (first === 'timeout') say(`node ${k.settings.nodeName} not registered after ${o.timeoutMs / 1000}s (see the kubelet log)`);
    await cleanup();
    return first === 'timeout' ? 1 : 130;
  }
  say(`node ${k.settings.nodeName} registered (kubelet API on port ${k.apiServer?.port ?? 'none'})${o.once ? '' : '; Ctrl-C to stop'}`);
  o.onRegistered?.();
  if (!o.once) await abort;
  // A node leaving a cluster keeps its pods' containers stopped only when asked to; here the
  // kubelet stops and containerd (if `up` started it) goes with them.
  await cleanup();
  say('stopped');
  return 0;
}

function summary(r: PodRecord): string {
  const st = r.status;
  const cs = [...(st.initContainerStatuses ?? []), ...st.containerStatuses];
  const ready = st.containerStatuses.filter((c) => c.ready).length;
  const why = cs.map((c) => c.state.waiting?.reason ?? c.state.terminated?.reason).find((x) => x && x !== 'Completed');
  return `${st.phase}${why ? ` (${why})` : ''} ready ${ready}/${st.containerStatuses.length} restarts ${cs.reduce((n, c) => n + c.restartCount, 0)}${st.podIP ? ` ip ${st.podIP}` : ''}`;
}

export async function up(o: UpOptions): Promise<number> {
  const t0 = Date.now();
  const say = (msg: string): void => o.out(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}`);
  if (!o.endpoint) {
    if (!isRoot()) {
      o.out('cocolet up: needs root to run containerd and runc (or pass --container-runtime-endpoint)');
      return 2;
    }
    for (const cmd of ['containerd', 'runc', 'ctr']) {
      if (!have(cmd)) {
        o.out(`cocolet up: ${cmd} is not installed (run scripts/setup)`);
        return 2;
      }
    }
  }
  mkdirSync(o.stateDir, { recursive: true });
  let confidential = o.confidential;
  if (confidential) {
    const pre = o.endpoint ? { ok: false as const, missing: 'the containerd `cocolet up` starts (not --container-runtime-endpoint)' } : checkConfidentialPrerequisites(o.shimDir ? {} : o.shimBinary ? { shimBinary: o.shimBinary } : {});
    if (!pre.ok) {
      o.out(`confidential pod: ${o.requireConfidential ? 'cannot run' : 'skipped'}, missing ${pre.missing}`);
      if (o.requireConfidential) return 2;
      confidential = false;
    }
  }
  let shimConfigPath: string | undefined;
  if (confidential) {
    try {
      await ensureGuestImage({ log: (m) => say(`confidential pod: ${m}`), signal: o.signal });
    } catch (e) {
      o.out(`confidential pod: ${o.requireConfidential ? 'cannot run' : 'skipped'}, ${e instanceof Error ? e.message : String(e)}`);
      if (o.requireConfidential || o.signal.aborted) return o.signal.aborted ? 130 : 2;
      confidential = false;
    }
  }
  if (confidential) shimConfigPath = writeShimConfig({ stateDir: o.stateDir });
  let shimDir = o.shimDir;
  if (confidential && !shimDir && o.shimBinary && existsSync(o.shimBinary)) {
    shimDir = join(o.stateDir, 'bin');
    mkdirSync(shimDir, { recursive: true });
    const link = join(shimDir, 'containerd-shim-cocolet-v2');
    rmSync(link, { force: true });
    chmodSync(o.shimBinary, 0o755);
    symlinkSync(o.shimBinary, link);
  }
  if (confidential) say(shimDir ? `confidential pod: containerd-shim-cocolet-v2 from ${shimDir}` : 'confidential pods: containerd-shim-cocolet-v2 must be on PATH (build it or pass --shim-dir)');
  let containerd: Containerd | undefined;
  let kubelet: Kubelet | undefined;
  let coco: ConfidentialNode | undefined;
  const cleanup = async (): Promise<void> => {
    if (kubelet) {
      // A cluster node leaves its pods running, as upstream's kubelet does (a restart adopts them).
      if (!o.kubeconfig) {
        say('stopping pods');
        await kubelet.stopAllPods();
      }
      await kubelet.stop();
    }
    if (coco) {
      say('stopping the image registry');
      await coco.dispose();
    }
    if (shimConfigPath) rmSync(shimConfigPath, { force: true });
    if (containerd) {
      say('stopping containerd');
      await containerd.stop();
    }
  };
  try {
    let endpoint = o.endpoint;
    if (!endpoint) {
      const layout = containerdLayout(join(o.stateDir, 'containerd'));
      if (await socketAnswers(layout.address)) {
        say(`reusing containerd at ${layout.address}`);
      } else {
        say('starting containerd');
        containerd = await launchContainerd({ dir: layout.dir, ...(shimDir ? { shimDir } : {}), ...(shimConfigPath ? { cocoletConfigPath: shimConfigPath } : {}), logger: o.logger });
        say(`containerd ready (pid ${containerd.pid}, CNI bridge ${containerd.bridge} ${containerd.subnet})`);
      }
      endpoint = layout.address;
    }
    const cri = new CriClient({ endpoint });
    const imported = await ensureStandardImages({ address: endpoint.replace(/^unix:\/\//, ''), cacheDir: join(o.stateDir, 'images'), cri });
    say(imported.length ? `imported images: ${imported.join(', ')}` : 'images present');

    const manifests = join(o.stateDir, 'manifests');
    rmSync(manifests, { recursive: true, force: true });
    mkdirSync(manifests, { recursive: true });
    const dirs = o.kubeconfig ? [] : [join(o.root, 'examples', 'pods')];
    for (const d of dirs) {
      if (!existsSync(d)) continue;
      for (const f of readdirSync(d)) if (/\.(ya?ml|json)$/.test(f)) copyFileSync(join(d, f), join(manifests, f));
    }
    if (confidential && !o.kubeconfig) {
      say('confidential pod: starting the registry the guest pulls from');
      coco = await prepareConfidentialNode({
        stateDir: o.stateDir,
        containerdAddress: endpoint.replace(/^unix:\/\//, ''),
        examplesDir: join(o.root, 'examples', 'pods-confidential'),
        manifestsDir: manifests,
      });
      say(`confidential pod: image ${coco.image} (pulled inside the guest), shim config ${shimConfigPath}`);
    }
    const expected = readdirSync(manifests).length;
    say(`static pods: ${manifests} (${expected} manifests)`);

    // The HTTPS API. Standalone: on loopback, client certificates from a local CA only (no API
    // server to ask). In a cluster: the cluster CA's client certificates (the API server's) and
    // authorization by SubjectAccessReview (the local CA is then not made: its key and two
    // certificates were ~60 ms of CPU before the Node could register).
    const clusterCa = o.kubeconfig ? clusterCaFile(o.bootstrapKubeconfig && !existsSync(o.kubeconfig) ? o.bootstrapKubeconfig : o.kubeconfig, join(o.stateDir, 'pki')) : undefined;
    const pki = clusterCa ? undefined : await localClientPki(join(o.stateDir, 'pki'));
    const address = o.address ?? '127.0.0.1';
    const config = {
      ...defaultKubeletConfiguration(),
      staticPodPath: manifests,
      podLogsDir: join(o.stateDir, 'pods-logs'),
      containerRuntimeEndpoint: endpoint,
      address,
      ...(o.kubeconfig && o.serverTLSBootstrap ? { serverTLSBootstrap: true } : {}),
      ...(pki
        ? { authentication: { x509: { clientCAFile: pki.caFile }, webhook: { enabled: false }, anonymous: { enabled: false } }, authorization: { mode: 'AlwaysAllow' } }
        : { authentication: { x509: { clientCAFile: clusterCa }, webhook: { enabled: true }, anonymous: { enabled: false } }, authorization: { mode: 'Webhook' } }),
    };
    const nodeName = (o.nodeName ?? hostname()).toLowerCase();
    kubelet = new Kubelet({
      settings: {
        config,
        rootDir: join(o.stateDir, 'kubelet'),
        nodeName,
        runtimeClassHandlers: { ...DEFAULT_RUNTIME_CLASSES },
        // static pods of a confidential class get the VM's cost as spec.overhead (RuntimeClass admission's job in a cluster)
        runtimeClassOverhead: runtimeClassOverheadFor(DEFAULT_RUNTIME_CLASSES, shimConfigPath),
        ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}),
        ...(o.bootstrapKubeconfig ? { bootstrapKubeconfig: o.bootstrapKubeconfig } : {}),
        ...(o.nodeIp ? { nodeIp: o.nodeIp } : {}),
      },
      cri,
      images: cri,
      logger: o.logger,
      server: { address, port: await portOrAny(address, DEFAULT_SERVER_PORT) },
      teeOf: shimTeeReader(shimStateDirOf(o.stateDir)),
      node: { tee: nodeTee(shimConfigPath) },
    });
    const k = kubelet;
    const last = new Map<string, string>();
    const allRunning = (): boolean => {
      const pods = k.status.all();
      return pods.length >= expected && pods.every((r) => r.status.phase === 'Running' && r.status.containerStatuses.every((c) => c.state.running));
    };
    let resolveRunning: () => void = () => undefined;
    const running = new Promise<void>((r) => (resolveRunning = r));
    k.status.onChange((uid, r) => {
      if (r) {
        const tee = k.runtime.teeLabelOf(r.pod);
        const s = `${summary(r)}${tee ? ` tee ${tee}` : ''}`;
        if (last.get(uid) !== s) {
          last.set(uid, s);
          say(`${r.pod.metadata.namespace}/${r.pod.metadata.name}: ${s}`);
        }
      }
      if (allRunning()) resolveRunning();
    });
    const warned = new Set<string>();
    k.events.onEvent((e) => {
      const key = `${e.object}/${e.reason}`;
      if (e.type !== 'Warning' || warned.has(key)) return;
      warned.add(key);
      say(`${e.object}: ${e.reason}: ${e.message.split('\n')[0]!.slice(0, 300)}`);
    });
    await k.start();
    say(`kubelet running (root ${join(o.stateDir, 'kubelet')})`);
    if (o.kubeconfig) return await joined(k, o, say, cleanup);
    const api = k.apiServer;
    say(
      api && pki
        ? `kubelet API: curl --cacert ${api.certFile} --cert ${pki.certFile} --key ${pki.keyFile} https://localhost:${api.port}/pods (also /healthz, /metrics, /stats/summary, /containerLogs/<ns>/<pod>/<container>)`
        : 'kubelet API: not serving (see the kubelet log)',
    );
    const abort = new Promise<'aborted'>((r) => (o.signal.aborted ? r('aborted') : o.signal.addEventListener('abort', () => r('aborted'), { once: true })));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), o.timeoutMs)));
    const first = await Promise.race([running.then(() => 'running' as const), abort, timeout]);
    clearTimeout(timer);
    if (first === 'timeout') {
      say(`not all pods Running after ${o.timeoutMs / 1000}s`);
      const seen = new Set<string>();
      for (const e of k.events.list().filter((x) => x.type === 'Warning')) {
        const line = `  ${e.object}: ${e.reason}: ${e.message.split('\n')[0]!.slice(0, 300)}`;
        if (!seen.has(line)) say(line);
        seen.add(line);
      }
      await cleanup();
      return 1;
    }
    if (first === 'aborted') {
      await cleanup();
      return 130;
    }
    say(`all ${expected} pods Running${o.once ? '' : '; Ctrl-C to stop'}`);
    if (!o.once) await abort;
    await cleanup();
    say('stopped');
    return 0;
  } catch (e) {
    o.out(`cocolet up: ${e instanceof Error ? e.message : String(e)}`);
    await cleanup().catch(() => undefined);
    return 1;
  }
}
