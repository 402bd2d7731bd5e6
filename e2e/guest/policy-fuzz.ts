/**
 * Fuzz loops for the agent policy (used by `npm run fuzz -- policy` / `policy-document` and their
 * short in-suite tests):
 *
 * - requests: agent requests of every method, built from a dictionary of hostile values (mounts,
 *   capabilities, namespaces, sysctls, images, argv, env, paths, signals) or byte-mutated from
 *   seeds and decoded as the ttrpc server would, through the real PolicyGate interceptor, under
 *   the confidential default and a generated policy. A crash is any throw other than a
 *   CocoletError; a finding is an ALLOWED CreateContainer that an independent oracle calls unsafe
 *   (a host path bound in, a kernel fs off its place or without its restrictions, a capability,
 *   sysctl, device or namespace path), or whose sanitised runc config carries such a mount.
 * - documents: mutated policy documents (JSON-structural and byte-level) through parsePolicy. A
 *   crash is any throw other than a PolicyInvalid CocoletError; an accepted document must read
 *   back identically and compile into an engine that decides requests without throwing.
 */
import { create, fromBinary, toBinary, type DescMessage } from '@bufbuild/protobuf';
import { AgentService, type CreateContainerRequest } from '../../shared/gen/kata/agent_pb.js';
import { isCocoletError, ErrorCode } from '../../shared/errors/index.js';
import { silentLogger } from '../../shared/log/logger.js';
import { Rng } from '../../shared/testing/rng.js';
import type { ServerCall } from '../../shared/ttrpc/index.js';
import { CONFIDENTIAL_DEFAULT_POLICY, DEFAULT_CAPABILITIES, PERMISSIVE_POLICY } from '../../shared/agent-policy/defaults.js';
import { generatePolicy } from '../../shared/agent-policy/generate.js';
import { twentyContainerPod } from '../../shared/agent-policy/testing.js';
import { parsePolicy } from '../../shared/agent-policy/parse.js';
import type { PolicyDocument } from '../../shared/agent-policy/types.js';
import { PolicyGate } from '../../guest/policy/gate.js';
import { PolicyEngine } from '../../guest/policy/engine.js';
import { buildRuncConfig, DEFAULT_MOUNTS } from '../../guest/runtime/spec.js';
import { mutate } from '../attestation/fuzz-engine.js';
import { CRI_DEFAULT_MOUNTS } from '../../guest/policy/testing.js';
import { POLICY_INTERNER } from '../../guest/policy/vocabulary.js';
import { activeStringInterner, installStringInterner } from '../../shared/ttrpc/intern.js';

export interface PolicyFuzzStats {
  iterations: number;
  seconds: number;
  /** Decisions by `<method>:<allowed|denied>` (plus `undecodable`). */
  outcomes: Record<string, number>;
  /** Denials by rule. */
  rules: Record<string, number>;
  crashes: number;
  /** Allowed requests the oracle calls unsafe. */
  unsafe: number;
  findings: { kind: 'crash' | 'unsafe'; iteration: number; detail: string }[];
  /** Slowest single decision, milliseconds. */
  maxDecisionMs: number;
}

export interface PolicyFuzzOptions {
  iterations: number;
  seed: number;
  progressEvery?: number;
  onProgress?: (done: number) => void;
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.below(xs.length)]!;
const SHARED = '/run/kata-containers/shared/containers';
const SHARED_FILE = `${SHARED}/${'a'.repeat(64)}-0123456789abcdef-hosts`;

const DESTS = ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/run', '/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/dev/termination-log',
  '/var/run/secrets/kubernetes.io/serviceaccount', '/hostproc', '/bin/sh', '/etc', '/etc/passwd', '/', '', 'proc', '/proc/', '/proc/../sys', '/./proc', '//proc', '/sys/kernel', '/proc/sys', '/cache', '/etc/app', '/x\0y'];
const TYPES = ['proc', 'sysfs', 'tmpfs', 'devpts', 'mqueue', 'cgroup', 'cgroup2', 'shm', 'bind', '', 'overlay', 'ext4', 'none', 'rbind', 'PROC', 'virtiofs', '9p'];
const SOURCES = ['proc', 'sysfs', 'tmpfs', 'cgroup', '/', '/etc', '/proc', SHARED_FILE, `${SHARED}/x`, `${SHARED}/../x`, `${SHARED}/`, SHARED, '/run/kata-containers/shared/containersX/y', `${SHARED}/a/../../..`, 'shm', ''];
const OPTIONS = ['nosuid', 'noexec', 'nodev', 'ro', 'rw', 'rbind', 'bind', 'rprivate', 'private', 'rshared', 'shared', 'rslave', 'suid', 'exec', 'dev', 'relatime', 'strictatime', 'mode=755', 'size=65536k', 'newinstance',
  'ptmxmode=0666', 'gid=5', 'uid=0', 'remount', 'lowerdir=/', 'mode=4777', 'size=1e9', 'nr_inodes=9', 'context=x', 'hidepid=0', 'subset=pid'];
const CAPS = [...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN', 'CAP_SYS_MODULE', 'CAP_SYS_PTRACE', 'CAP_NET_ADMIN', 'CAP_DAC_READ_SEARCH', 'CAP_BPF', 'cap_chown', ''];
const IMAGES = ['reg.example/app:1', `reg.example/app@sha256:${'a'.repeat(64)}`, `reg.example/app:1@sha256:${'b'.repeat(64)}`, 'busybox', 'docker.io/library/busybox:latest', 'evil/app:1', '', '@', ':', 'reg.example/app', `reg.example/app@sha256:${'a'.repeat(63)}`];
const ENV = ['PATH=/bin', 'MODE=prod', 'MODE=debug', 'LD_PRELOAD=/x.so', 'HOSTNAME=pod', 'KUBERNETES_SERVICE_HOST=10.96.0.1', 'KUBERNETES_PORT=tcp://10.96.0.1:443', '=x', 'X', '', 'A'.repeat(300) + '_SERVICE_HOST=1', 'PATH=/tmp:/bin', `${'_'.repeat(120)}SERVICE_PORT=1`];
const ARGS = ['/app', '--serve', '/bin/sh', '-c', 'exit 0', '', '$(X)', '/bin/true'];
const NAMES = ['app', 'side', 'c0', 'c7', 'c19', '*', '', 'evil', 'constructor', '__proto__'];
const NS = ['pid', 'network', 'ipc', 'uts', 'mount', 'user', 'cgroup', 'time', 'bogus'];
const SYSCTLS = ['kernel.core_pattern', 'net.ipv4.ip_forward', 'net.core.somaxconn', 'kernel.shm_rmid_forced'];
const PATHS = [SHARED_FILE, `${SHARED}/../../etc/shadow`, '/etc/shadow', `${SHARED}/x/y`, `${SHARED}/${'f'.repeat(64)}-0123456789abcdef-a`, '', 'relative', `${SHARED}/${'a'.repeat(64)}-0123456789abcdef-a\0b`];

type ReqMount = { destination: string; type: string; source: string; options: string[] };
/** What containerd's CRI sends plus the kubelet's binds of host-copied files: the valid starting points. */
const VALID_MOUNTS: ReqMount[] = [
  ...CRI_DEFAULT_MOUNTS,
  { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
  { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  ...['/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/dev/termination-log'].map((d) => ({ destination: d, type: 'bind', source: SHARED_FILE, options: ['rbind', 'rprivate', 'rw'] })),
  { destination: '/var/run/secrets/kubernetes.io/serviceaccount', type: 'bind', source: SHARED_FILE, options: ['rbind', 'rprivate', 'ro'] },
  { destination: '/cache/3', type: 'bind', source: SHARED_FILE, options: ['rbind'] },
  { destination: '/etc/app', type: 'bind', source: SHARED_FILE, options: ['rbind', 'ro'] },
];

/** One mount: mostly a valid one, often with one field changed; sometimes anything from the dictionary. */
function randomMount(rng: Rng): ReqMount {
  if (rng.below(5) === 0) {
    const options: string[] = [];
    for (let k = rng.below(6); k > 0; k--) options.push(pick(rng, OPTIONS));
    return { destination: pick(rng, DESTS), type: pick(rng, TYPES), source: pick(rng, SOURCES), options };
  }
  const m = structuredClone(pick(rng, VALID_MOUNTS));
  switch (rng.below(8)) {
    case 0: m.destination = pick(rng, DESTS); break;
    case 1: m.type = pick(rng, TYPES); break;
    case 2: m.source = pick(rng, SOURCES); break;
    case 3: m.options.push(pick(rng, OPTIONS)); break;
    case 4: if (m.options.length > 0) m.options.splice(rng.below(m.options.length), 1); break;
    default: break; // unchanged
  }
  return m;
}

function randomMounts(rng: Rng): ReqMount[] {
  return Array.from({ length: rng.below(7) }, () => randomMount(rng));
}

function randomCreateContainer(rng: Rng): Record<string, unknown> {
  const caps = (): string[] => Array.from({ length: rng.below(4) }, () => pick(rng, CAPS));
  const linux: Record<string, unknown> = {};
  if (rng.below(4) === 0) linux.Namespaces = Array.from({ length: 1 + rng.below(3) }, () => ({ Type: pick(rng, NS), Path: rng.below(3) === 0 ? '/proc/1/ns/net' : '' }));
  if (rng.below(8) === 0) linux.Sysctl = { [pick(rng, SYSCTLS)]: String(rng.below(3)) };
  if (rng.below(10) === 0) linux.Devices = [{ Path: pick(rng, ['/dev/mem', '/dev/kvm', '/dev/null']) }];
  if (rng.below(12) === 0) linux.UIDMappings = [{ HostID: 0, ContainerID: 0, Size: 1 }];
  return {
    containerId: 'c', execId: 'c',
    storages: rng.below(10) === 0 ? [{ driver: pick(rng, ['local', 'image_guest_pull', 'cocolet.host_rootfs', '']), source: pick(rng, IMAGES) }] : [{ driver: 'image_guest_pull', source: pick(rng, IMAGES) }],
    sandboxPidns: rng.below(20) === 0,
    ...(rng.below(20) === 0 ? { devices: [{ id: 'd', type: 'blk' }] } : {}),
    ...(rng.below(30) === 0 ? { stringUser: { uid: '0' } } : {}),
    OCI: {
      Process: {
        Args: Array.from({ length: rng.below(4) }, () => pick(rng, ARGS)),
        Env: Array.from({ length: rng.below(4) }, () => pick(rng, ENV)),
        Cwd: pick(rng, ['/', '', '/srv', '/etc']),
        User: { UID: pick(rng, [0, 1000, 4294967295]), GID: pick(rng, [0, 1000]) },
        ...(rng.below(3) === 0 ? { Capabilities: { Bounding: caps(), Effective: caps(), Permitted: caps(), Inheritable: caps(), Ambient: caps() } } : {}),
        ...(rng.below(30) === 0 ? { ApparmorProfile: 'unconfined' } : {}),
      },
      Mounts: randomMounts(rng),
      Annotations: rng.below(5) === 0 ? {} : { 'io.kubernetes.cri.container-name': pick(rng, NAMES) },
      ...(rng.below(30) === 0 ? { Hooks: { Prestart: [{ Path: '/bin/x' }] } } : {}),
      Linux: linux,
    },
  };
}

/** A structured request for `method` from the hostile dictionary. */
function randomRequest(rng: Rng, method: string): Record<string, unknown> {
  switch (method) {
    case 'CreateContainer': return randomCreateContainer(rng);
    case 'CopyFile': return { path: pick(rng, PATHS), fileMode: pick(rng, [0o100644, 0o104755, 0o40755, 0o120777]), data: Buffer.from('x') };
    case 'SignalProcess': return { containerId: 'c', execId: pick(rng, ['', 'x']), signal: rng.below(70) };
    case 'ExecProcess': return { containerId: 'c', execId: 'x', process: { Args: [pick(rng, ARGS)], Env: [pick(rng, ENV)] }, ...(rng.below(4) === 0 ? { stringUser: { uid: '0' } } : {}) };
    case 'CreateSandbox': return { sandboxId: 's', guestHookPath: rng.below(4) === 0 ? '/hooks' : '', kernelModules: rng.below(4) === 0 ? [{ name: 'm' }] : [], storages: rng.below(4) === 0 ? [{ driver: 'local', source: '/dev/vdb' }] : [] };
    case 'SetPolicy': return { policy: JSON.stringify(PERMISSIVE_POLICY) };
    default: return {};
  }
}

/** Independent check of an allowed CreateContainer under a policy built from the ordinary-pod mounts: nothing beyond an ordinary pod. */
function unsafeReason(r: CreateContainerRequest, extraBindDests: ReadonlySet<string>): string | undefined {
  const guest: Record<string, { types: string[]; need: string[]; ro: boolean }> = {
    '/proc': { types: ['proc'], need: ['nosuid', 'noexec', 'nodev'], ro: false },
    '/dev': { types: ['tmpfs'], need: ['nosuid'], ro: false },
    '/dev/pts': { types: ['devpts'], need: ['nosuid', 'noexec'], ro: false },
    '/dev/shm': { types: ['tmpfs', 'shm'], need: ['nosuid', 'noexec', 'nodev'], ro: false },
    '/dev/mqueue': { types: ['mqueue'], need: ['nosuid', 'noexec', 'nodev'], ro: false },
    '/run': { types: ['tmpfs'], need: ['nosuid'], ro: false },
    '/sys': { types: ['sysfs'], need: ['nosuid', 'noexec', 'nodev'], ro: true },
    '/sys/fs/cgroup': { types: ['cgroup', 'cgroup2'], need: ['nosuid', 'noexec', 'nodev'], ro: true },
  };
  const binds = new Set(['/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/dev/termination-log', '/var/run/secrets/kubernetes.io/serviceaccount', ...extraBindDests]);
  for (const m of r.OCI?.Mounts ?? []) {
    const o = m.options;
    const isBind = m.type === 'bind' || m.type === '' || o.includes('bind') || o.includes('rbind');
    if (o.some((x) => ['suid', 'dev', 'exec', 'shared', 'rshared', 'remount'].includes(x))) return `mount ${m.destination} with a widening option`;
    if (isBind) {
      const parts = m.source.split('/');
      if (!m.source.startsWith(`${SHARED}/`) || parts.includes('..') || parts.includes('.')) return `bind of ${m.source}`;
      if (!binds.has(m.destination)) return `bind at ${m.destination}`;
      continue;
    }
    const g = guest[m.destination];
    if (!g || !g.types.includes(m.type)) return `${m.type} at ${m.destination}`;
    if (g.need.some((x) => !o.includes(x))) return `${m.destination} without ${g.need.join(',')}`;
    if (g.ro && (!o.includes('ro') || o.includes('rw'))) return `${m.destination} writable`;
  }
  const caps = r.OCI?.Process?.Capabilities;
  if (caps && [caps.Bounding, caps.Effective, caps.Permitted, caps.Inheritable, caps.Ambient].flat().some((c) => !DEFAULT_CAPABILITIES.includes(c))) return 'extra capability';
  if (Object.keys(r.OCI?.Linux?.Sysctl ?? {}).length > 0) return 'sysctl';
  if ((r.OCI?.Linux?.Devices.length ?? 0) > 0 || r.devices.length > 0) return 'device';
  if (r.OCI?.Linux?.Namespaces.some((n) => n.Path !== '') || r.sandboxPidns) return 'namespace path';
  if (r.storages.some((s) => s.driver !== 'image_guest_pull')) return 'host storage';
  return undefined;
}

const METHODS = AgentService.methods.map((m) => ({ name: m.name, input: m.input as DescMessage }));

function call(method: string, request: unknown): ServerCall {
  return { ctx: { service: 'grpc.AgentService', method, fullMethod: `/grpc.AgentService/${method}` }, kind: 'unary', request } as unknown as ServerCall;
}

export function fuzzRequests(o: PolicyFuzzOptions): PolicyFuzzStats {
  // as the agent runs: decodes intern the policy's fixed words, and option lists of them that fit a rule are remembered
  const previous = activeStringInterner();
  installStringInterner(POLICY_INTERNER);
  try {
    return fuzzRequestsInterned(o);
  } finally {
    installStringInterner(previous);
  }
}

function fuzzRequestsInterned(o: PolicyFuzzOptions): PolicyFuzzStats {
  const rng = new Rng(o.seed);
  const generated = generatePolicy(twentyContainerPod()).policy;
  const genBinds = new Set(generated.containers.flatMap((c) => c.mounts.filter((m) => m.source === 'shared').map((m) => m.destination)));
  const gates = [
    { gate: new PolicyGate(CONFIDENTIAL_DEFAULT_POLICY, silentLogger()), binds: new Set<string>() },
    { gate: new PolicyGate(generated, silentLogger()), binds: genBinds },
  ];
  const interceptors = gates.map((g) => g.gate.interceptor());
  const stats: PolicyFuzzStats = { iterations: 0, seconds: 0, outcomes: {}, rules: {}, crashes: 0, unsafe: 0, findings: [], maxDecisionMs: 0 };
  const bump = (m: Record<string, number>, k: string): void => void (m[k] = (m[k] ?? 0) + 1);
  const started = performance.now();
  for (let i = 0; i < o.iterations; i++) {
    const which = rng.below(gates.length);
    const m = rng.below(2) === 0 ? METHODS.find((x) => x.name === 'CreateContainer')! : pick(rng, METHODS);
    let req: unknown;
    try {
      const structured = create(m.input, randomRequest(rng, m.name) as never);
      if (rng.below(4) === 0) {
        // as the ttrpc server gets it: bytes (mutated) decoded into the method's message
        const bytes = mutate(toBinary(m.input, structured), rng);
        try {
          req = fromBinary(m.input, bytes);
        } catch {
          bump(stats.outcomes, 'undecodable');
          continue;
        }
      } else req = structured;
    } finally {
      stats.iterations = i + 1;
      if (o.onProgress && (i + 1) % (o.progressEvery ?? 1000) === 0) o.onProgress(i + 1);
    }
    // The interceptor decides synchronously before its first await: allowed means it called next.
    const t0 = performance.now();
    let allowed = false;
    interceptors[which]!(call(m.name, req), () => {
      allowed = true;
      return Promise.resolve(undefined);
    }).catch(() => undefined);
    const ms = performance.now() - t0;
    if (ms > stats.maxDecisionMs) stats.maxDecisionMs = ms;
    if (!allowed) {
      // the interceptor maps any throw to a CocoletError: ask the gate directly to see raw throws
      try {
        gates[which]!.gate.check(m.name, req);
        stats.crashes++;
        stats.findings.push({ kind: 'crash', iteration: i, detail: `${m.name}: the interceptor refused what check allows` });
      } catch (e) {
        if (!isCocoletError(e, ErrorCode.PolicyDenied)) {
          stats.crashes++;
          if (stats.findings.length < 20) stats.findings.push({ kind: 'crash', iteration: i, detail: `${m.name}: ${e instanceof Error ? e.stack ?? e.message : String(e)}`.slice(0, 600) });
          continue;
        }
        bump(stats.outcomes, `${m.name}:denied`);
        bump(stats.rules, (e.context as { rule?: string }).rule ?? '?');
      }
      continue;
    }
    bump(stats.outcomes, `${m.name}:allowed`);
    if (m.name !== 'CreateContainer') continue;
    const r = req as CreateContainerRequest;
    const why = unsafeReason(r, gates[which]!.binds);
    let sanitised: string | undefined;
    try {
      const cfg = buildRuncConfig({ spec: r.OCI, rootfs: '/r', cgroupsPath: '/g/c', allowHostMounts: false, image: { config: { Cmd: ['/bin/sh'] } } });
      const defaults = new Set(DEFAULT_MOUNTS.map((x) => x.destination));
      const bad = cfg.mounts.find((x) => !defaults.has(x.destination) && !(r.OCI?.Mounts ?? []).some((y) => y.destination === x.destination));
      if (bad) sanitised = `sanitised config has a mount the request did not ask for: ${bad.destination}`;
    } catch (e) {
      if (!isCocoletError(e)) sanitised = `sanitiser threw ${e instanceof Error ? e.message : String(e)}`;
    }
    if (why || sanitised) {
      stats.unsafe++;
      if (stats.findings.length < 20) stats.findings.push({ kind: 'unsafe', iteration: i, detail: `${why ?? sanitised}: ${JSON.stringify(r.OCI?.Mounts ?? []).slice(0, 400)}` });
    }
  }
  stats.seconds = (performance.now() - started) / 1000;
  return stats;
}

// ---- policy documents ----

const JUNK: unknown[] = [null, true, 0, -1, 1.5, 2 ** 53, '', 'x', '(', '^(a+)+$', [], {}, [[]], { allow: true }, '/proc', '../x', 'sha256:' + 'a'.repeat(64), 'CAP_SYS_ADMIN', 'guest', 'shared', 'bind', '__proto__', 'constructor'];
const KEYS = ['version', 'name', 'default', 'rules', 'containers', 'allow', 'paths', 'signals', 'mounts', 'capabilities', 'destination', 'type', 'source', 'options', 'readOnly', 'image', 'imageDigest', 'env', 'command', 'args', 'user', 'uid', 'gid', 'sysctls', 'hostNamespaces', 'devices', 'keepSetuid', 'imageDefaults', 'privileged', 'workingDir', '__proto__', 'CreateContainer', 'ExecProcess', 'x'];

/** Replaces, deletes or adds one value somewhere in a JSON tree. */
function mutateJson(v: unknown, rng: Rng, depth = 0): unknown {
  if (Array.isArray(v)) {
    const a = [...v];
    const op = rng.below(5);
    if (a.length > 0 && op < 3) a[rng.below(a.length)] = op === 0 ? pick(rng, JUNK) : mutateJson(a[rng.below(a.length)], rng, depth + 1);
    else if (op === 3 && a.length > 0) a.splice(rng.below(a.length), 1);
    else a.push(rng.below(2) === 0 ? pick(rng, JUNK) : structuredClone(a[0] ?? null));
    return a;
  }
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = { ...(v as Record<string, unknown>) };
    const keys = Object.keys(o);
    const op = rng.below(6);
    if (keys.length > 0 && op < 3) {
      const k = pick(rng, keys);
      o[k] = op === 0 ? pick(rng, JUNK) : mutateJson(o[k], rng, depth + 1);
    } else if (op === 3 && keys.length > 0) delete o[pick(rng, keys)];
    else Object.defineProperty(o, pick(rng, KEYS), { value: pick(rng, JUNK), enumerable: true, writable: true, configurable: true });
    return o;
  }
  return depth > 0 && rng.below(2) === 0 ? pick(rng, JUNK) : v;
}

export interface DocFuzzStats {
  iterations: number;
  seconds: number;
  accepted: number;
  /** Rejections by the field named. */
  rejected: Record<string, number>;
  crashes: number;
  findings: { iteration: number; detail: string }[];
}

export function fuzzDocuments(o: PolicyFuzzOptions): DocFuzzStats {
  const rng = new Rng(o.seed);
  const seeds: PolicyDocument[] = [CONFIDENTIAL_DEFAULT_POLICY, PERMISSIVE_POLICY, generatePolicy(twentyContainerPod()).policy];
  const seedTexts = seeds.map((s) => JSON.stringify(s));
  const probe = create(AgentService.method.createContainer.input, randomRequest(new Rng(1), 'CreateContainer') as never);
  const stats: DocFuzzStats = { iterations: 0, seconds: 0, accepted: 0, rejected: {}, crashes: 0, findings: [] };
  const started = performance.now();
  for (let i = 0; i < o.iterations; i++) {
    let input: unknown;
    const k = rng.below(seeds.length);
    const mode = rng.below(3);
    if (mode === 0) {
      let v: unknown = seeds[k];
      for (let r = 1 + rng.below(3); r > 0; r--) v = mutateJson(v, rng);
      input = v;
    } else if (mode === 1) {
      input = Buffer.from(mutate(Buffer.from(seedTexts[k]!), rng)).toString('utf8');
    } else {
      let v: unknown = seeds[k];
      for (let r = 1 + rng.below(3); r > 0; r--) v = mutateJson(v, rng);
      input = JSON.stringify(v);
    }
    stats.iterations = i + 1;
    if (o.onProgress && (i + 1) % (o.progressEvery ?? 1000) === 0) o.onProgress(i + 1);
    let doc: PolicyDocument;
    try {
      doc = parsePolicy(input);
    } catch (e) {
      if (isCocoletError(e, ErrorCode.PolicyInvalid)) {
        const f = String((e.context as { field?: string }).field ?? '').replace(/\[\d+\]/g, '[]');
        stats.rejected[f] = (stats.rejected[f] ?? 0) + 1;
        continue;
      }
      stats.crashes++;
      if (stats.findings.length < 20) stats.findings.push({ iteration: i, detail: `parse threw ${e instanceof Error ? e.stack ?? e.message : String(e)}`.slice(0, 600) });
      continue;
    }
    stats.accepted++;
    try {
      const again = parsePolicy(JSON.stringify(doc));
      if (JSON.stringify(again) !== JSON.stringify(doc)) throw new Error('an accepted document does not read back identically');
      const engine = new PolicyEngine(doc);
      for (const m of ['CreateContainer', 'ExecProcess', 'CopyFile', 'SignalProcess', 'SetPolicy']) engine.evaluate(m, m === 'CreateContainer' ? probe : randomRequest(rng, m));
    } catch (e) {
      stats.crashes++;
      if (stats.findings.length < 20) stats.findings.push({ iteration: i, detail: `accepted document failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`.slice(0, 600) });
    }
  }
  stats.seconds = (performance.now() - started) / 1000;
  return stats;
}
