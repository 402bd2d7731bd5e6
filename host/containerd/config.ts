/**
 * containerd 1.6 configuration for a private, self-contained containerd.
 *
 * API:
 *   - `containerdLayout(dir)`          → every path the instance uses (root, state, sockets, CNI dirs …)
 *   - `renderContainerdConfig(opts)`   → the config.toml text (version 2)
 *   - `renderCniConflist(opts)`        → the bridge + host-local + portmap CNI conflist (JSON text)
 *   - `writeContainerdConfig(opts)`    → creates the directories and writes both files
 *
 * The CRI plugin is configured for this machine's constraints: `restrict_oom_score_adj` (root has
 * no CAP_SYS_RESOURCE), netns mounts under the state dir, a locally imported sandbox image, CNI
 * plugins from `/usr/lib/cni` with a bridge conflist, runc as the default runtime with its state
 * under the dir, and the `cocolet` runtime handler served by `containerd-shim-cocolet-v2`
 * (`runtime_type = "io.containerd.cocolet.v2"`), which containerd finds on its PATH (see
 * `shimDir` in the launcher).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'smol-toml';

/** Default image used for pod sandboxes (imported locally by host/images). */
export const DEFAULT_SANDBOX_IMAGE = 'localhost/cocolet/pause:1';
/** Default CNI plugin directory of Debian's containernetworking-plugins. */
export const DEFAULT_CNI_BIN_DIR = '/usr/lib/cni';
/** The runtime handler name for confidential pods. */
export const COCOLET_RUNTIME_HANDLER = 'cocolet';
/** The runtime type containerd maps to the binary `containerd-shim-cocolet-v2`. */
export const COCOLET_RUNTIME_TYPE = 'io.containerd.cocolet.v2';
/** Pod annotations passed through to the cocolet shim. */
export const COCOLET_POD_ANNOTATIONS = ['io.katacontainers.*', 'io.cocolet.*'];

export interface ContainerdLayout {
  dir: string;
  configPath: string;
  root: string;
  state: string;
  address: string;
  ttrpcAddress: string;
  optDir: string;
  logPath: string;
  pidPath: string;
  runcRoot: string;
  cniConfDir: string;
  cniConfPath: string;
  cniIpamDir: string;
}

/** All paths a private containerd uses under `dir` (absolute). */
export function containerdLayout(dir: string): ContainerdLayout {
  const d = resolve(dir);
  const address = join(d, 'containerd.sock');
  return {
    dir: d,
    configPath: join(d, 'config.toml'),
    root: join(d, 'root'),
    state: join(d, 'state'),
    address,
    ttrpcAddress: `${address}.ttrpc`,
    optDir: join(d, 'opt'),
    logPath: join(d, 'containerd.log'),
    pidPath: join(d, 'containerd.pid'),
    runcRoot: join(d, 'runc'),
    cniConfDir: join(d, 'cni', 'net.d'),
    cniConfPath: join(d, 'cni', 'net.d', '10-cocolet.conflist'),
    cniIpamDir: join(d, 'cni', 'ipam'),
  };
}

export interface CniOptions {
  /** Linux bridge name (at most 15 characters). */
  bridge: string;
  /** IPv4 subnet in CIDR form; must not overlap podman's 10.88.0.0/16. */
  subnet: string;
  /** CNI network name. */
  networkName?: string;
  ipamDir: string;
}

export interface ContainerdConfigOptions {
  /** Directory that holds everything of this instance. */
  dir: string;
  sandboxImage?: string;
  cniBinDir?: string;
  bridge: string;
  subnet: string;
  /** containerd log level (`info` by default; `debug` also passes -debug to shims). */
  logLevel?: string;
  /** The cocolet shim's config file, passed as the `cocolet` runtime's `options.ConfigPath`. */
  cocoletConfigPath?: string;
  /** Extra runtime handlers: name → runtime_type (e.g. for tests of other shims). */
  extraRuntimes?: Record<string, { runtimeType: string; podAnnotations?: string[]; /** options.ConfigPath (e.g. a second cocolet handler's shim config) */ configPath?: string }>;
  /** Registry host → plain-HTTP mirror endpoints (`host:port`) the CRI plugin pulls from instead. */
  registryMirrors?: Record<string, string[]>;
}

export function renderCniConflist(opts: CniOptions): string {
  if (opts.bridge.length > 15) throw new RangeError(`bridge name ${opts.bridge} is longer than 15 characters`);
  const conf = {
    cniVersion: '0.4.0',
    name: opts.networkName ?? 'cocolet',
    plugins: [
      {
        type: 'bridge',
        bridge: opts.bridge,
        isGateway: true,
        ipMasq: false,
        ipam: {
          type: 'host-local',
          dataDir: opts.ipamDir,
          ranges: [[{ subnet: opts.subnet }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
      // hostPort: DNAT from the node's addresses to the pod (iptables), as the CRI's portMappings ask
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}

export function renderContainerdConfig(opts: ContainerdConfigOptions): string {
  const l = containerdLayout(opts.dir);
  const runtimes: Record<string, unknown> = {
    runc: { runtime_type: 'io.containerd.runc.v2', options: { Root: l.runcRoot } },
    [COCOLET_RUNTIME_HANDLER]: {
      runtime_type: COCOLET_RUNTIME_TYPE,
      pod_annotations: COCOLET_POD_ANNOTATIONS,
      ...(opts.cocoletConfigPath ? { options: { ConfigPath: opts.cocoletConfigPath } } : {}),
    },
  };
  for (const [name, r] of Object.entries(opts.extraRuntimes ?? {})) {
    runtimes[name] = { runtime_type: r.runtimeType, ...(r.podAnnotations ? { pod_annotations: r.podAnnotations } : {}), ...(r.configPath ? { options: { ConfigPath: r.configPath } } : {}) };
  }
  const config = {
    version: 2,
    root: l.root,
    state: l.state,
    grpc: { address: l.address },
    debug: { level: opts.logLevel ?? 'info' },
    plugins: {
      'io.containerd.internal.v1.opt': { path: l.optDir },
      'io.containerd.grpc.v1.cri': {
        sandbox_image: opts.sandboxImage ?? DEFAULT_SANDBOX_IMAGE,
        netns_mounts_under_state_dir: true,
        restrict_oom_score_adj: true,
        enable_selinux: false,
        cni: { bin_dir: opts.cniBinDir ?? DEFAULT_CNI_BIN_DIR, conf_dir: l.cniConfDir, max_conf_num: 1 },
        containerd: { snapshotter: 'overlayfs', default_runtime_name: 'runc', runtimes },
        ...(opts.registryMirrors
          ? { registry: { mirrors: Object.fromEntries(Object.entries(opts.registryMirrors).map(([host, eps]) => [host, { endpoint: eps.map((e) => `http://${e}`) }])) } }
          : {}),
      },
    },
  };
  return `# generated by cocolet (host/containerd/config.ts)\n${stringify(config)}\n`;
}

/** Creates the directory tree and writes config.toml and the CNI conflist; returns the layout. */
export function writeContainerdConfig(opts: ContainerdConfigOptions): ContainerdLayout {
  const l = containerdLayout(opts.dir);
  for (const d of [l.root, l.state, l.optDir, l.runcRoot, l.cniConfDir, l.cniIpamDir]) mkdirSync(d, { recursive: true });
  writeFileSync(l.configPath, renderContainerdConfig(opts));
  writeFileSync(l.cniConfPath, renderCniConflist({ bridge: opts.bridge, subnet: opts.subnet, ipamDir: l.cniIpamDir }));
  return l;
}
