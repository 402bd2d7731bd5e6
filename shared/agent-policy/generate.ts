/**
 * The policy generator (like Kata's genpolicy): a Kubernetes pod (or a workload's pod template)
 * in, the policy document that admits exactly that pod out. Pure: no registry, no cluster. Per
 * container it pins the image (by digest when the manifest gives one), the argv (the pod's command
 * + args, or the image's entrypoint with the pod's args, checked after the pull), the environment
 * (the pod's values; runtime-given values by name; the image's own entries), working dir, user,
 * mounts (the OCI defaults, the kubelet's file binds and the pod's emptyDir/configMap/secret/
 * downwardAPI/projected volume mounts as binds of host-copied files), capabilities (containerd's
 * defaults with the pod's add/drop), sysctls. What it cannot pin it says in `warnings`; what cannot
 * be confidential at all (privileged, hostPath and other host storage with --strict) is an error.
 */
import { CocoletError, ErrorCode } from '../errors/index.js';
import { CONFIDENTIAL_RULES, DEFAULT_CAPABILITIES, KUBELET_FILE_DESTINATIONS, OCI_DEFAULT_MOUNTS, SECCOMP_RESTRICTING, SERVICE_ACCOUNT_DIR } from './defaults.js';
import { imageText, normalizeImage } from './image.js';
import { parsePolicy } from './parse.js';
import { POLICY_VERSION, type ContainerPolicy, type MountRule, type PolicyDocument, type PolicyRule } from './types.js';

export interface GenerateOptions {
  /** Refuse images given by tag only (default: pin name and tag, and warn). */
  requireDigest?: boolean;
  /** Containers whose image layers keep setuid/setgid bits. */
  keepSetuid?: readonly string[];
  /** Let the host read the containers' stdout/stderr (ReadStdout/ReadStderr), e.g. for `kubectl logs`. */
  allowLogs?: boolean;
}

export interface GeneratedPolicy {
  policy: PolicyDocument;
  /** What the policy could not pin, one sentence each. */
  warnings: string[];
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const strs = (v: unknown, what: string): string[] | undefined => {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(`${what} must be a list of strings`);
  return v as string[];
};

function bad(msg: string): CocoletError {
  return new CocoletError(ErrorCode.InvalidArgument, `policy generate: ${msg}`);
}

/** Kinds whose pod template is at spec.template (CronJob: spec.jobTemplate.spec.template). */
const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'ReplicationController']);

/** The name, the pod object (the Pod itself or the workload's template: where pod annotations go) and its spec. */
export function podOf(doc: unknown): { name: string; pod: Obj; spec: Obj } {
  const d = obj(doc);
  const kind = d.kind;
  const meta = obj(d.metadata);
  const name = typeof meta.name === 'string' ? meta.name : 'pod';
  let pod: Obj;
  if (kind === 'Pod') pod = d;
  else if (typeof kind === 'string' && WORKLOADS.has(kind)) pod = obj(obj(d.spec).template);
  else if (kind === 'CronJob') pod = obj(obj(obj(obj(d.spec).jobTemplate).spec).template);
  else throw bad(`kind ${JSON.stringify(kind)} is not a Pod or a workload with a pod template`);
  return { name, pod, spec: obj(pod.spec) };
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Kubernetes `$(VAR)` expansion with the literal values known so far; undefined when a reference is only known at run time. */
function expand(s: string, known: ReadonlyMap<string, string>, runtime: ReadonlySet<string>): string | undefined {
  let unknown = false;
  const out = s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    if (known.has(name!)) return known.get(name!)!;
    if (runtime.has(name!)) unknown = true;
    return m; // undefined variables stay as written
  });
  return unknown ? undefined : out;
}

/** Environment names the runtime adds: the pod's hostname, and service links. */
const RUNTIME_ENV = [
  'HOSTNAME=[A-Za-z0-9][A-Za-z0-9.-]{0,252}',
  '[A-Z][A-Z0-9_]{0,100}_(?:SERVICE_HOST|SERVICE_PORT(?:_[A-Z0-9_]{1,63})?|PORT(?:_[0-9]{1,5}_(?:TCP|UDP|SCTP)(?:_(?:PROTO|PORT|ADDR))?)?)=[A-Za-z0-9.:/\\[\\]-]{0,300}',
];
/** Names no host-given value may set (the dynamic loader reads them before the program runs). */
const LOADER_VARS = '(?!LD_PRELOAD=|LD_LIBRARY_PATH=|LD_AUDIT=)';

function capabilities(sc: Obj, container: string, warnings: string[]): string[] {
  const caps = obj(sc.capabilities);
  const norm = (c: string): string => (c.startsWith('CAP_') ? c : `CAP_${c}`).toUpperCase();
  const add = (strs(caps.add, `container ${container}: capabilities.add`) ?? []).map(norm);
  const drop = (strs(caps.drop, `container ${container}: capabilities.drop`) ?? []).map(norm);
  if (add.includes('CAP_ALL')) throw bad(`container ${container}: capabilities.add ALL is privileged; a confidential container cannot have it`);
  const out = drop.includes('CAP_ALL') ? [] : DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c));
  for (const c of add) if (!out.includes(c)) out.push(c);
  if (add.includes('CAP_SYS_ADMIN')) warnings.push(`container ${container}: CAP_SYS_ADMIN is added; with it the container can remount its own file systems`);
  return out;
}

function volumeMounts(c: Obj, volumes: ReadonlyMap<string, string>, container: string, warnings: string[]): MountRule[] {
  const out: MountRule[] = [];
  for (const vm of arr(c.volumeMounts).map(obj)) {
    const path = vm.mountPath;
    const name = String(vm.name);
    if (typeof path !== 'string' || !path.startsWith('/')) throw bad(`container ${container}: volumeMount ${name} has no absolute mountPath`);
    const kind = volumes.get(name);
    if (!kind) throw bad(`container ${container}: volumeMount ${name} names no volume of the pod`);
    if (!['emptyDir', 'configMap', 'secret', 'downwardAPI', 'projected'].includes(kind)) {
      warnings.push(`container ${container}: volume ${name} (${kind}) is host storage; the policy does not admit its mount at ${path}`);
      continue;
    }
    // the kubelet mounts API data (configMap, secret, downwardAPI, projected) read-only
    const readOnly = vm.readOnly === true || kind !== 'emptyDir';
    out.push({ destination: path.replace(/\/+$/, '') || '/', type: 'bind', source: 'shared', ...(readOnly ? { readOnly: true } : {}) });
  }
  return out;
}

function container(c: Obj, pod: Obj, volumes: ReadonlyMap<string, string>, o: GenerateOptions, warnings: string[]): ContainerPolicy {
  const name = c.name;
  if (typeof name !== 'string' || name === '') throw bad('a container has no name');
  const image = c.image;
  if (typeof image !== 'string' || image === '') throw bad(`container ${name}: no image`);
  const img = normalizeImage(image);
  if (!img.digest) {
    if (o.requireDigest) throw bad(`container ${name}: image ${image} is given by tag only; give it by digest (name@sha256:...)`);
    warnings.push(`container ${name}: image ${image} is pinned by name and tag only (no @sha256: digest): the registry decides which image runs under that tag`);
  }
  const sc = { ...obj(pod.securityContext), ...obj(c.securityContext) };
  if (obj(c.securityContext).privileged === true) throw bad(`container ${name}: privileged containers cannot be confidential`);
  if (obj(c.securityContext).allowPrivilegeEscalation === true) warnings.push(`container ${name}: allowPrivilegeEscalation is ignored; the guest always sets no_new_privs`);

  // environment: literal values pinned exactly, run-time values by name
  const known = new Map<string, string>();
  const runtime = new Set<string>();
  const env: string[] = [];
  for (const e of arr(c.env).map(obj)) {
    const n = e.name;
    if (typeof n !== 'string' || n === '') throw bad(`container ${name}: an env entry has no name`);
    if (e.valueFrom !== undefined) {
      runtime.add(n);
      env.push(`${escapeRe(n)}=.*`);
      continue;
    }
    const v = expand(typeof e.value === 'string' ? e.value : '', known, runtime);
    if (v === undefined) {
      runtime.add(n);
      env.push(`${escapeRe(n)}=.*`);
      warnings.push(`container ${name}: env ${n} refers to a value only known at run time; its value is not pinned`);
      continue;
    }
    known.set(n, v);
    env.push(escapeRe(`${n}=${v}`));
  }
  for (const f of arr(c.envFrom).map(obj)) {
    const prefix = typeof f.prefix === 'string' ? f.prefix : '';
    env.push(`${LOADER_VARS}${escapeRe(prefix)}[A-Za-z_][A-Za-z0-9_.-]*=.*`);
    warnings.push(`container ${name}: envFrom ${f.configMapRef ? 'configMap' : 'secret'} gives names only known at run time; any name${prefix ? ` starting ${prefix}` : ''} is allowed (not the loader's LD_ variables)`);
  }
  if (pod.enableServiceLinks !== false) env.push(RUNTIME_ENV[1]!);
  env.push(RUNTIME_ENV[0]!);

  // argv: the pod's command + args exactly; without a command, the image's entrypoint (after the pull)
  const command = strs(c.command, `container ${name}: command`);
  const args = strs(c.args, `container ${name}: args`);
  const exp = (l: string[] | undefined): string[] | undefined => {
    if (!l) return undefined;
    const r = l.map((a) => expand(a, known, runtime));
    if (r.some((a) => a === undefined)) throw bad(`container ${name}: command/args refer to an env value only known at run time; the argv could not be pinned`);
    return r as string[];
  };
  const cmd = exp(command);
  const argv = exp(args);

  const mounts: MountRule[] = [...OCI_DEFAULT_MOUNTS];
  const termination = typeof c.terminationMessagePath === 'string' ? c.terminationMessagePath : '/dev/termination-log';
  for (const d of KUBELET_FILE_DESTINATIONS) mounts.push({ destination: d === '/dev/termination-log' ? termination : d, type: 'bind', source: 'shared' });
  if (pod.automountServiceAccountToken !== false) mounts.push({ destination: SERVICE_ACCOUNT_DIR, type: 'bind', source: 'shared', readOnly: true });
  mounts.push(...volumeMounts(c, volumes, name, warnings));

  const user = typeof sc.runAsUser === 'number' ? { uid: sc.runAsUser, ...(typeof sc.runAsGroup === 'number' ? { gid: sc.runAsGroup } : {}) } : undefined;
  const sysctls = Object.fromEntries(arr(obj(pod.securityContext).sysctls).map(obj).filter((s) => typeof s.name === 'string' && typeof s.value === 'string').map((s) => [s.name as string, s.value as string]));

  return {
    name,
    image: imageText(img),
    ...(img.digest ? { imageDigest: img.digest } : {}),
    ...(cmd ? { command: [...cmd, ...(argv ?? [])] } : argv ? { args: argv } : {}),
    env,
    imageDefaults: true,
    ...(typeof c.workingDir === 'string' && c.workingDir !== '' ? { workingDir: c.workingDir } : {}),
    ...(user ? { user } : {}),
    mounts,
    capabilities: capabilities(sc, name, warnings),
    privileged: false,
    hostNamespaces: [],
    // shareProcessNamespace (and hostPID, whose "host" is the pod's VM): the pod's containers share
    // the PID namespace the guest keeps for the pod (containerd names the sandbox's in both modes)
    ...(pod.shareProcessNamespace === true || pod.hostPID === true ? { podPidNamespace: true } : {}),
    // the pod's seccomp profile is the kubelet's to send (RuntimeDefault, a node's Localhost file):
    // whatever it is, only a filter that takes syscalls away is admitted
    seccomp: SECCOMP_RESTRICTING,
    sysctls,
    devices: [],
    keepSetuid: o.keepSetuid?.includes(name) ?? false,
  };
}

/** Exec commands of probes and lifecycle hooks (the kubelet runs them through ExecProcess). */
function execCommands(containers: Obj[]): string[][] {
  const out: string[][] = [];
  for (const c of containers) {
    const handlers = [obj(c.livenessProbe).exec, obj(c.readinessProbe).exec, obj(c.startupProbe).exec, obj(obj(c.lifecycle).postStart).exec, obj(obj(c.lifecycle).preStop).exec];
    for (const h of handlers) {
      const cmd = strs(obj(h).command, `container ${String(c.name)}: exec command`);
      if (cmd && !out.some((x) => x.length === cmd.length && x.every((a, i) => a === cmd[i]))) out.push(cmd);
    }
  }
  return out;
}

/** The policy that admits exactly this pod (a Pod document or a workload with a pod template). */
export function generatePolicy(doc: unknown, o: GenerateOptions = {}): GeneratedPolicy {
  const { name, spec } = podOf(doc);
  const warnings: string[] = [];
  if (spec.hostIPC === true || spec.hostNetwork === true) warnings.push('hostIPC/hostNetwork have no effect inside the guest; the containers never share the guest\'s namespaces');
  if (spec.hostPID === true) warnings.push('hostPID gives the pod\'s containers one PID namespace in the guest (as shareProcessNamespace), never the host\'s or the guest agent\'s');
  const volumes = new Map<string, string>();
  for (const v of arr(spec.volumes).map(obj)) {
    const kind = Object.keys(v).find((k) => k !== 'name') ?? 'unknown';
    volumes.set(String(v.name), kind);
  }
  const all = [...arr(spec.initContainers), ...arr(spec.containers)].map(obj);
  if (all.length === 0) throw bad('the pod has no containers');
  for (const e of arr(spec.ephemeralContainers)) warnings.push(`ephemeral container ${String(obj(e).name)} is not admitted (debug containers see the TEE's contents)`);
  const containers = all.map((c) => container(c, spec, volumes, o, warnings));
  const rules: Record<string, PolicyRule> = { ...CONFIDENTIAL_RULES };
  const exec = execCommands(all);
  if (exec.length > 0) {
    rules.ExecProcess = { allow: true, commands: exec };
    warnings.push(`ExecProcess is allowed for the ${exec.length} probe/hook command(s) of the pod, in any of its containers`);
  }
  if (o.allowLogs) {
    rules.ReadStdout = { allow: true };
    rules.ReadStderr = { allow: true };
    warnings.push('ReadStdout/ReadStderr are allowed: the host reads what the containers print');
  }
  const policy: PolicyDocument = { version: POLICY_VERSION, name, default: 'deny', rules, containers };
  // what we write must be what the agent accepts
  parsePolicy(JSON.parse(JSON.stringify(policy)));
  return { policy, warnings };
}
