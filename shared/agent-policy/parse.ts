/**
 * Strict parser for the policy document (types.ts): unknown fields, wrong types, bad regexes and
 * unclean paths are refused with an error naming the field (`policy: containers[0].mounts[2].destination ...`).
 * Version 1 documents are refused: they had no mount rules, so accepting them would re-open what
 * version 2 closes.
 */
import { CocoletError, ErrorCode } from '../errors/index.js';
import { POLICY_VERSION, SECCOMP_ACTIONS, SECCOMP_FLAGS, type ContainerPolicy, type SeccompRule, type MountRule, type MountSource, type PolicyDocument, type PolicyRule, type UserRule } from './types.js';

const DOC_KEYS = new Set(['version', 'name', 'default', 'rules', 'containers']);
const RULE_KEYS = new Set(['allow', 'commands', 'commandPatterns', 'env', 'paths', 'signals', 'allowHostMounts', 'allowGuestHooks']);
const CONTAINER_KEYS = new Set(['name', 'image', 'imageDigest', 'command', 'args', 'env', 'imageDefaults', 'workingDir', 'user', 'mounts', 'capabilities', 'privileged', 'hostNamespaces', 'podPidNamespace', 'seccomp', 'sysctls', 'devices', 'keepSetuid']);
const MOUNT_KEYS = new Set(['destination', 'type', 'source', 'options', 'readOnly']);
const USER_KEYS = new Set(['uid', 'gid', 'additionalGids']);
const SECCOMP_KEYS = new Set(['actions', 'flags']);
const MOUNT_SOURCES: readonly MountSource[] = ['guest', 'shared'];
/** Kernel file systems a `guest` mount may have; `bind` is the only type of a `shared` mount. */
export const GUEST_FS_TYPES: ReadonlySet<string> = new Set(['proc', 'sysfs', 'tmpfs', 'devpts', 'mqueue', 'cgroup', 'cgroup2', 'shm']);
const NAMESPACES = new Set(['pid', 'network', 'ipc', 'uts', 'mount', 'user', 'cgroup', 'time']);
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const CAP_RE = /^CAP_[A-Z_]{1,40}$/;
/** Bounds keep a hostile document (SetPolicy) from costing the agent much. */
const MAX_LIST = 4096;
const MAX_STRING = 4096;

export class PolicyParseError extends CocoletError {
  constructor(readonly field: string, what: string) {
    super(ErrorCode.PolicyInvalid, `policy: ${field ? `${field} ` : ''}${what}`, { context: { field } });
  }
}

type Obj = Record<string, unknown>;

function object(v: unknown, field: string, keys: ReadonlySet<string>): Obj {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new PolicyParseError(field, 'must be an object');
  for (const k of Object.keys(v)) if (!keys.has(k)) throw new PolicyParseError(`${field ? `${field}.` : ''}${k.slice(0, 80)}`, 'is not a known field');
  return v as Obj;
}

function str(v: unknown, field: string): string {
  if (typeof v !== 'string') throw new PolicyParseError(field, 'must be a string');
  if (v.length > MAX_STRING) throw new PolicyParseError(field, `is longer than ${MAX_STRING} characters`);
  return v;
}

function bool(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') throw new PolicyParseError(field, 'must be a boolean');
  return v;
}

function list<T>(v: unknown, field: string, item: (x: unknown, f: string) => T): T[] {
  if (!Array.isArray(v)) throw new PolicyParseError(field, 'must be a list');
  if (v.length > MAX_LIST) throw new PolicyParseError(field, `has more than ${MAX_LIST} entries`);
  return v.map((x, i) => item(x, `${field}[${i}]`));
}

function regex(v: unknown, field: string): string {
  const s = str(v, field);
  try {
    new RegExp(s);
  } catch {
    throw new PolicyParseError(field, `is not a valid regular expression: ${JSON.stringify(s.slice(0, 80))}`);
  }
  return s;
}

function id(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff) throw new PolicyParseError(field, 'must be an integer from 0 to 4294967295');
  return v;
}

/** An absolute path without `.`/`..` components, empty components or NUL. */
export function isCleanPath(p: string): boolean {
  return p.startsWith('/') && !p.includes('\0') && (p === '/' || p.slice(1).split('/').every((c) => c !== '' && c !== '.' && c !== '..'));
}

function path(v: unknown, field: string): string {
  const s = str(v, field);
  if (!isCleanPath(s)) throw new PolicyParseError(field, `must be a clean absolute path, got ${JSON.stringify(s.slice(0, 80))}`);
  return s;
}

function rule(v: unknown, field: string): PolicyRule {
  const r = object(v, field, RULE_KEYS);
  const out: PolicyRule = { allow: bool(r.allow, `${field}.allow`) };
  if (r.commands !== undefined) out.commands = list(r.commands, `${field}.commands`, (c, f) => list(c, f, str));
  if (r.commandPatterns !== undefined) out.commandPatterns = list(r.commandPatterns, `${field}.commandPatterns`, regex);
  if (r.env !== undefined) out.env = list(r.env, `${field}.env`, regex);
  if (r.paths !== undefined) out.paths = list(r.paths, `${field}.paths`, regex);
  if (r.signals !== undefined) {
    out.signals = list(r.signals, `${field}.signals`, (x, f) => {
      if (typeof x !== 'number' || !Number.isInteger(x) || x < 1 || x > 64) throw new PolicyParseError(f, 'must be a signal number from 1 to 64');
      return x;
    });
  }
  if (r.allowHostMounts !== undefined) out.allowHostMounts = bool(r.allowHostMounts, `${field}.allowHostMounts`);
  if (r.allowGuestHooks !== undefined) out.allowGuestHooks = bool(r.allowGuestHooks, `${field}.allowGuestHooks`);
  return out;
}

function mount(v: unknown, field: string): MountRule {
  const m = object(v, field, MOUNT_KEYS);
  const source = str(m.source, `${field}.source`) as MountSource;
  if (!MOUNT_SOURCES.includes(source)) throw new PolicyParseError(`${field}.source`, `must be one of ${MOUNT_SOURCES.join(', ')}`);
  const type = str(m.type, `${field}.type`);
  if (source === 'guest' && !GUEST_FS_TYPES.has(type)) throw new PolicyParseError(`${field}.type`, `of a guest mount must be one of ${[...GUEST_FS_TYPES].join(', ')}`);
  if (source === 'shared' && type !== 'bind') throw new PolicyParseError(`${field}.type`, 'of a shared mount must be bind');
  const out: MountRule = { destination: path(m.destination, `${field}.destination`), type, source };
  if (m.options !== undefined) out.options = list(m.options, `${field}.options`, str);
  if (m.readOnly !== undefined) out.readOnly = bool(m.readOnly, `${field}.readOnly`);
  return out;
}

function user(v: unknown, field: string): UserRule {
  const u = object(v, field, USER_KEYS);
  const out: UserRule = { uid: id(u.uid, `${field}.uid`) };
  if (u.gid !== undefined) out.gid = id(u.gid, `${field}.gid`);
  if (u.additionalGids !== undefined) out.additionalGids = list(u.additionalGids, `${field}.additionalGids`, id);
  return out;
}

function oneOf(known: readonly string[]): (x: unknown, f: string) => string {
  return (x, f) => {
    const s = str(x, f);
    if (!known.includes(s)) throw new PolicyParseError(f, `must be one of ${known.join(', ')}`);
    return s;
  };
}

function seccomp(v: unknown, field: string): SeccompRule {
  const r = object(v, field, SECCOMP_KEYS);
  if (r.actions === undefined) throw new PolicyParseError(`${field}.actions`, 'is required (the actions a filter may take)');
  return { actions: list(r.actions, `${field}.actions`, oneOf(SECCOMP_ACTIONS)), flags: r.flags === undefined ? [] : list(r.flags, `${field}.flags`, oneOf(SECCOMP_FLAGS)) };
}

function container(v: unknown, field: string): ContainerPolicy {
  const c = object(v, field, CONTAINER_KEYS);
  const name = str(c.name, `${field}.name`);
  if (name === '') throw new PolicyParseError(`${field}.name`, 'must not be empty');
  if (c.mounts === undefined) throw new PolicyParseError(`${field}.mounts`, 'is required (the only mounts the container may have)');
  if (c.capabilities === undefined) throw new PolicyParseError(`${field}.capabilities`, 'is required (the capabilities the container may hold)');
  const out: ContainerPolicy = {
    name,
    mounts: list(c.mounts, `${field}.mounts`, mount),
    capabilities: list(c.capabilities, `${field}.capabilities`, (x, f) => {
      const s = str(x, f);
      if (!CAP_RE.test(s)) throw new PolicyParseError(f, `is not a capability name (CAP_...): ${JSON.stringify(s.slice(0, 80))}`);
      return s;
    }),
  };
  if (c.image !== undefined) {
    out.image = str(c.image, `${field}.image`);
    if (out.image === '') throw new PolicyParseError(`${field}.image`, 'must not be empty');
  }
  if (c.imageDigest !== undefined) {
    out.imageDigest = str(c.imageDigest, `${field}.imageDigest`);
    if (!DIGEST_RE.test(out.imageDigest)) throw new PolicyParseError(`${field}.imageDigest`, 'must be sha256:<64 lowercase hex>');
  }
  if (c.command !== undefined) out.command = list(c.command, `${field}.command`, str);
  if (c.env !== undefined) out.env = list(c.env, `${field}.env`, regex);
  if (c.args !== undefined) out.args = list(c.args, `${field}.args`, str);
  if (c.imageDefaults !== undefined) out.imageDefaults = bool(c.imageDefaults, `${field}.imageDefaults`);
  if (c.workingDir !== undefined) out.workingDir = path(c.workingDir, `${field}.workingDir`);
  if (c.user !== undefined) out.user = user(c.user, `${field}.user`);
  if (c.privileged !== undefined) out.privileged = bool(c.privileged, `${field}.privileged`);
  if (c.hostNamespaces !== undefined) {
    out.hostNamespaces = list(c.hostNamespaces, `${field}.hostNamespaces`, (x, f) => {
      const s = str(x, f);
      if (!NAMESPACES.has(s)) throw new PolicyParseError(f, `must be one of ${[...NAMESPACES].join(', ')}`);
      return s;
    });
  }
  if (c.podPidNamespace !== undefined) out.podPidNamespace = bool(c.podPidNamespace, `${field}.podPidNamespace`);
  if (c.seccomp !== undefined) out.seccomp = seccomp(c.seccomp, `${field}.seccomp`);
  if (c.sysctls !== undefined) {
    const s = c.sysctls;
    if (!s || typeof s !== 'object' || Array.isArray(s)) throw new PolicyParseError(`${field}.sysctls`, 'must be an object of key: value strings');
    out.sysctls = Object.fromEntries(Object.entries(s).map(([k, val]) => [k, str(val, `${field}.sysctls.${k.slice(0, 80)}`)]));
  }
  if (c.devices !== undefined) out.devices = list(c.devices, `${field}.devices`, path);
  if (c.keepSetuid !== undefined) out.keepSetuid = bool(c.keepSetuid, `${field}.keepSetuid`);
  return out;
}

/** Parses and validates a policy document (JSON text or an already parsed object). */
export function parsePolicy(input: unknown): PolicyDocument {
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch (e) {
      throw new PolicyParseError('', `is not JSON (${(e as Error).message.slice(0, 120)})`);
    }
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new PolicyParseError('', 'document must be an object');
  const version = (raw as Obj).version;
  if (version === 1) throw new PolicyParseError('version', `1 is no longer accepted (it had no mount rules); write version ${POLICY_VERSION} (\`cocolet policy generate\` does)`);
  if (version !== POLICY_VERSION) throw new PolicyParseError('version', `must be ${POLICY_VERSION}`);
  const d = object(raw, '', DOC_KEYS);
  if (d.default !== 'allow' && d.default !== 'deny') throw new PolicyParseError('default', 'must be "allow" or "deny"');
  const name = d.name === undefined ? 'unnamed' : str(d.name, 'name');
  const rulesIn = d.rules === undefined ? {} : object(d.rules, 'rules', { has: () => true } as unknown as ReadonlySet<string>);
  const rules: Record<string, PolicyRule> = {}; // method names start upper-case: no prototype key can be one
  for (const [method, r] of Object.entries(rulesIn)) {
    if (!/^[A-Z][A-Za-z]{0,63}$/.test(method)) throw new PolicyParseError(`rules.${method.slice(0, 80)}`, 'is not an RPC method name');
    rules[method] = rule(r, `rules.${method}`);
  }
  const containers = d.containers === undefined ? [] : list(d.containers, 'containers', container);
  const names = new Set<string>();
  containers.forEach((c, i) => {
    if (names.has(c.name)) throw new PolicyParseError(`containers[${i}].name`, `${JSON.stringify(c.name.slice(0, 80))} appears twice`);
    names.add(c.name);
  });
  return { version: POLICY_VERSION, name, default: d.default, rules, containers };
}
