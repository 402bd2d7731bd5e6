/**
 * One container entry of the policy document, compiled for fast checks (regexes built once, mount
 * rules indexed by destination), and the field-by-field check of a CreateContainer request
 * against it. Each denial names the field: `CreateContainer.mounts: /hostproc (proc) is not an
 * allowed mount`. Pure; the engine picks the entry, the gate logs and counts.
 */
import type { CreateContainerRequest } from '../../shared/gen/kata/agent_pb.js';
import type { Mount, Spec } from '../../shared/gen/kata/oci_pb.js';
import { GUEST_FS_TYPES } from '../../shared/agent-policy/parse.js';
import { imageMatches, normalizeImage, type NormalizedImage } from '../../shared/agent-policy/image.js';
import type { ContainerPolicy, MountRule } from '../../shared/agent-policy/types.js';
import { SECCOMP_RESTRICTING } from '../../shared/agent-policy/defaults.js';
import { hasTraversal, imageReference, isBindMount, isSharedBind, isSharedSource } from './inspect.js';
import { activeStringInterner, internalize } from '../../shared/ttrpc/intern.js';
import { LINUX_SYSCALL_NAMES } from './syscalls.js';

/** A failed check: the field (`CreateContainer.mounts`) and why, in a few words (no payloads beyond names/paths). */
export interface Violation {
  field: string;
  reason: string;
}

/** Options that grant nothing: access times, sizes and modes of fresh file systems, propagation kept private, restrictions. */
export const NEUTRAL_OPTIONS: ReadonlySet<string> = new Set([
  'relatime', 'norelatime', 'strictatime', 'nostrictatime', 'noatime', 'nodiratime', 'lazytime', 'bind', 'rbind',
  'private', 'rprivate', 'slave', 'rslave', 'unbindable', 'runbindable', 'ro', 'nosuid', 'noexec', 'nodev', 'newinstance',
]);
export const NEUTRAL_OPTION_RE = /^(?:(?:mode|ptmxmode)=[0-7]{1,4}|size=\d{1,20}[kmg%]?|nr_inodes=\d{1,20}[kmg]?|(?:gid|uid)=\d{1,10})$/i;

/** Seccomp actions that give a syscall to another process to handle (named in the denial). */
const HANDING_ACTIONS: ReadonlySet<string> = new Set(['SCMP_ACT_NOTIFY', 'SCMP_ACT_TRACE']);
const SECCOMP_OPS: ReadonlySet<string> = new Set(['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ']);
const SECCOMP_ARCH_RE = /^SCMP_ARCH_[A-Z0-9_]{1,20}$/;
const SYSCALL_NAME_RE = /^[a-z0-9_]{1,64}$/;
/**
 * The kernel's syscall names (each matches SYSCALL_NAME_RE): a filter's name found here needs no
 * regex test. Internalized, so a name the decoder interned is found by identity (its hash is kept).
 */
const KNOWN_SYSCALLS: ReadonlySet<string> = new Set(LINUX_SYSCALL_NAMES.filter((n) => SYSCALL_NAME_RE.test(n)).map(internalize));
/** Bounds on a filter (containerd's default profile has ~20 rules naming ~400 syscalls). */
const SECCOMP_MAX_RULES = 1024;
const SECCOMP_MAX_ARCHES = 16;

type MountClass = { type: string; source: 'guest' | 'shared' | 'host' };

/** What a requested mount really is: runc bind-mounts whenever the options say bind, whatever the type. */
export function classifyMount(m: Pick<Mount, 'type' | 'source' | 'options'>): MountClass {
  if (isBindMount(m)) return { type: 'bind', source: isSharedBind(m) ? 'shared' : 'host' };
  return { type: m.type, source: GUEST_FS_TYPES.has(m.type) ? 'guest' : 'host' };
}

function describe(dest: string, k: MountClass): string {
  if (k.type === 'bind') return `${dest} (bind of ${k.source === 'shared' ? 'a host-copied file' : 'a host path'})`;
  return `${dest} (${k.type.slice(0, 40)})`;
}

/**
 * A small set of short strings, looked up by length and then compared with ===: a freshly decoded
 * string is not hashed (a Set computes its hash, reading every character, on first use), and most
 * candidates differ in length (a mount rule's accepted options: at most five share one; the
 * default capabilities: four).
 */
class LengthTable {
  private readonly byLength: (readonly string[])[] = [];

  constructor(items: Iterable<string>) {
    for (const item of new Set(items)) {
      const s = internalize(item); // a word the decoder interned is this same string: === is a pointer compare
      while (this.byLength.length <= s.length) this.byLength.push([]);
      (this.byLength[s.length] as string[]).push(s);
    }
  }

  has(s: string): boolean {
    const bucket = this.byLength[s.length];
    if (bucket === undefined) return false;
    for (let i = 0; i < bucket.length; i++) if (bucket[i] === s) return true;
    return false;
  }
}

/** What a mount rule says about options: its required options, and every option it takes without a pattern test. */
interface OptionRule {
  required: readonly string[];
  /** The neutral options, the rule's own, and `rw` unless the rule is read-only. */
  accepted: LengthTable;
  readOnly: boolean;
  /**
   * The last checkMounts call that found a mount's options to fit this rule, and that mount. A pod's
   * mounts repeat a few lists (the kubelet's binds all carry rbind,rprivate,rw; proc and mqueue the
   * same three), and comparing a list string by string costs a fraction of hashing each freshly
   * decoded option for a set look-up; the answer is the same, as optionProblem depends on the rule
   * and the list alone. Used within one call only: nothing one request sent is trusted for another.
   */
  fittedCall: number;
  /** Which of that request's mounts it was (an index, not the list: the policy holds no reference to a request's objects). */
  fittedMount: number;
  /**
   * Option lists found to fit this rule, at most KNOWN_LISTS, each made only of the decoder's fixed
   * vocabulary words (vocabulary.ts: containerd's and the kubelet's option lists repeat in every
   * container's request, and a list of such words is none of a request's own data). A list equal
   * item by item (=== : interned words compare by identity) fits without the checks, as
   * optionProblem depends on the rule and the list alone.
   */
  known: (readonly string[])[];
}

/** How many option lists each option rule remembers (see OptionRule.known). */
const KNOWN_LISTS = 4;

/** A mount rule ready for checks. */
interface CompiledMount {
  type: string;
  source: string;
  /**
   * Whether a request mount of this rule's type (not a bind) has this rule's source class: that
   * class follows from the type alone (a guest fs type or not), so it is known here and a request's
   * type needs no set look-up once it equals the rule's.
   */
  typeGivesSource: boolean;
  /** Shared by every rule with the same options and read-only flag, whatever its type (see checkMounts' memo). */
  options: OptionRule;
}

/**
 * The compiled pieces the entries of one policy share. A pod's containers mostly have the same
 * mount rules, capabilities and env patterns; one compiled copy of each (one Set, one regex) keeps
 * the working set of a check small, so a 20-container policy costs a check about what a
 * one-container policy does instead of touching twenty copies (which other processes' load evicts
 * from the CPU caches). Keys are the pieces' full contents; made per document, dropped with it.
 */
export class CompileCache {
  private readonly mounts = new Map<string, CompiledMount>();
  private readonly optionRules = new Map<string, OptionRule>();
  private readonly tables = new Map<string, LengthTable>();
  private readonly sets = new Map<string, ReadonlySet<string>>();
  private readonly patterns = new Map<string, FullMatchPatterns>();
  private readonly regexes = new Map<string, RegExp>();

  mount(m: MountRule): CompiledMount {
    const readOnly = m.readOnly === true;
    const key = JSON.stringify([m.type, m.source, m.options ?? [], readOnly]);
    let c = this.mounts.get(key);
    if (c === undefined) {
      const typeGivesSource = m.type !== 'bind' && m.type !== '' && m.source === (GUEST_FS_TYPES.has(m.type) ? 'guest' : 'host');
      this.mounts.set(key, (c = { type: internalize(m.type), source: internalize(m.source), typeGivesSource, options: this.optionRule(m.options ?? [], readOnly) }));
    }
    return c;
  }

  private optionRule(required: readonly string[], readOnly: boolean): OptionRule {
    const key = JSON.stringify([required, readOnly]);
    let o = this.optionRules.get(key);
    if (o === undefined) {
      o = { required: required.map(internalize), accepted: this.table([...NEUTRAL_OPTIONS, ...required, ...(readOnly ? [] : ['rw'])]), readOnly, fittedCall: 0, fittedMount: 0, known: [] };
      this.optionRules.set(key, o);
    }
    return o;
  }

  /** One Set per distinct collection of strings (order and repeats do not matter to a Set). */
  /** One LengthTable per distinct collection of strings. */
  table(items: readonly string[]): LengthTable {
    const key = JSON.stringify([...new Set(items)].sort());
    let c = this.tables.get(key);
    if (c === undefined) this.tables.set(key, (c = new LengthTable(items)));
    return c;
  }

  set(items: readonly string[]): ReadonlySet<string> {
    const key = JSON.stringify([...new Set(items)].sort());
    let c = this.sets.get(key);
    if (c === undefined) this.sets.set(key, (c = new Set(items)));
    return c;
  }

  /** One FullMatchPatterns per distinct list (order kept: it numbers the groups back-references use). */
  fullMatch(list: readonly string[]): FullMatchPatterns {
    const key = JSON.stringify(list);
    let c = this.patterns.get(key);
    if (c === undefined) this.patterns.set(key, (c = new FullMatchPatterns(list, this)));
    return c;
  }

  /** One compiled regex per distinct source (flags `s`, never `g`/`y`: no lastIndex state to share). */
  regex(source: string): RegExp {
    let re = this.regexes.get(source);
    if (re === undefined) this.regexes.set(source, (re = new RegExp(source, 's')));
    return re;
  }
}

/** options.includes(o), as a loop the compiler inlines (no builtin call per option). */
function has(options: readonly string[], o: string): boolean {
  for (let i = 0; i < options.length; i++) if (options[i] === o) return true;
  return false;
}

/** Whether a seccomp rule's names are 1..SECCOMP_MAX_RULES syscall names (a name of the kernel's table, else one that looks like one). */
function syscallNames(names: readonly string[]): boolean {
  if (names.length === 0 || names.length > SECCOMP_MAX_RULES) return false;
  for (let i = 0; i < names.length; i++) {
    const n = names[i]!;
    if (!KNOWN_SYSCALLS.has(n) && !SYSCALL_NAME_RE.test(n)) return false;
  }
  return true;
}

/** Whether `options` is one of the lists already found to fit the rule. */
function knownList(rule: OptionRule, options: readonly string[]): boolean {
  const known = rule.known;
  for (let i = 0; i < known.length; i++) if (sameList(known[i], options)) return true;
  return false;
}

/** Remembers a list that fits the rule when every item is a word of the decoder's vocabulary (a copy: the request keeps its array). */
function remember(rule: OptionRule, options: readonly string[]): void {
  const words = activeStringInterner();
  if (words === undefined) return;
  for (let i = 0; i < options.length; i++) if (!words.has(options[i]!)) return;
  rule.known.push(options.map(internalize));
}

/** Why the options of a mount break its rule, or undefined when they fit. */
function optionProblem(rule: OptionRule, options: readonly string[]): string | undefined {
  for (const o of rule.required) if (!has(options, o)) return `lacks option ${o}`;
  if (rule.readOnly && (!has(options, 'ro') || has(options, 'rw'))) return 'must be read-only';
  for (const o of options) {
    if (rule.accepted.has(o) || NEUTRAL_OPTION_RE.test(o)) continue;
    return `option ${JSON.stringify(o.slice(0, 40))} is not allowed`;
  }
  return undefined;
}

/** Characters a regex treats specially (outside a class); escaped, each stands for itself, as does an escaped `/`. */
const REGEX_SYNTAX = '.*+?^${}()|[]\\';
const ESCAPED_LITERALS = REGEX_SYNTAX + '/';

/** The one string a pattern matches in full when it is a literal (plain characters and escaped syntax only), else undefined. */
export function literalPattern(p: string): string | undefined {
  let out = '';
  for (let i = 0; i < p.length; i++) {
    const ch = p[i]!;
    if (ch === '\\') {
      const next = p[i + 1];
      if (next === undefined || !ESCAPED_LITERALS.includes(next)) return undefined; // \d, \n, \1, ...: not a literal
      out += next;
      i++;
    } else if (REGEX_SYNTAX.includes(ch)) {
      return undefined;
    } else {
      out += ch;
    }
  }
  return out;
}

/** Up to this many literal patterns are compared one by one rather than looked up. */
const FEW_LITERALS = 8;

/**
 * A list of patterns, each matched against the whole string: the literal ones as a set (one hash
 * lookup), the others as one full-match regex (one test). Matches exactly what the single
 * alternation `^(?:(?:p1)|(?:p2)|...)$` matches: a literal has no groups, so taking it out renumbers
 * no back-reference.
 */
export class FullMatchPatterns {
  private readonly exact: ReadonlySet<string>;
  /** The literals again when there are few: compared with === (a length compare mostly), no hash of a fresh string. */
  private readonly few: readonly string[] | undefined;
  private readonly re: RegExp | undefined;

  constructor(patterns: readonly string[], cache?: CompileCache) {
    const rest: string[] = [];
    const exact: string[] = [];
    for (const p of patterns) {
      const lit = literalPattern(p);
      if (lit === undefined) rest.push(`(?:${p})`);
      else exact.push(lit);
    }
    this.exact = cache ? cache.set(exact) : new Set(exact);
    this.few = this.exact.size <= FEW_LITERALS ? [...this.exact].map(internalize) : undefined;
    const source = `^(?:${rest.join('|')})$`;
    this.re = rest.length === 0 ? undefined : cache ? cache.regex(source) : new RegExp(source, 's');
  }

  test(s: string): boolean {
    const few = this.few;
    if (few !== undefined) {
      for (let i = 0; i < few.length; i++) if (few[i] === s) return true;
    } else if (this.exact.has(s)) return true;
    return this.re !== undefined && this.re.test(s);
  }
}

const nonEmpty = (x: readonly unknown[] | undefined): boolean => (x?.length ?? 0) > 0;

/** Whether two lists hold the same items in the same order (=== per item: strings are not hashed); false when either is missing. */
function sameList<T>(a: readonly T[] | undefined, b: readonly T[] | undefined): boolean {
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export interface PulledImageConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
}

/** Numbers checkMounts calls (OptionRule.fittedCall); checks are synchronous, so one call's memo is never another's. */
let mountCheckCall = 0;

export class CompiledContainer {
  /** The clean destinations the entry's mount rules name, in the policy's order, their rules at the same index, and each one's index. */
  private readonly dests: string[] = [];
  private readonly rulesAt: CompiledMount[][] = [];
  private readonly destIndex = new Map<string, number>();
  /** The env patterns (a set lookup, then at most one regex test per entry). */
  private readonly env: FullMatchPatterns | undefined;
  private readonly image: NormalizedImage | undefined;
  private readonly caps: LengthTable;
  private readonly hostNs: ReadonlySet<string>;
  private readonly devices: ReadonlySet<string>;
  private readonly seccompActions: ReadonlySet<string>;
  private readonly seccompFlags: ReadonlySet<string>;

  /** The decision allowing a request for this entry (made once: an allow builds nothing). */
  readonly allowed: Readonly<{ allowed: true; rule: string; reason: string; container: CompiledContainer }>;

  /** `cache`: the pieces shared with the other entries of the same document (see CompileCache). */
  constructor(readonly policy: ContainerPolicy, cache: CompileCache = new CompileCache()) {
    this.allowed = Object.freeze({ allowed: true, rule: 'rules.CreateContainer.allow', reason: 'allowed', container: this });
    for (const m of policy.mounts) {
      // a request's destination with `.`/`..` is refused before the lookup, so a rule with one can match nothing
      if (hasTraversal(m.destination)) continue;
      let i = this.destIndex.get(m.destination);
      if (i === undefined) {
        this.destIndex.set(m.destination, (i = this.dests.length));
        this.dests.push(internalize(m.destination));
        this.rulesAt.push([]);
      }
      this.rulesAt[i]!.push(cache.mount(m));
    }
    this.env = policy.env ? cache.fullMatch(policy.env) : undefined;
    this.image = policy.image ? normalizeImage(policy.image) : undefined;
    this.caps = cache.table(policy.capabilities);
    this.hostNs = cache.set(policy.hostNamespaces ?? []);
    this.devices = cache.set(policy.devices ?? []);
    this.seccompActions = cache.set((policy.seccomp ?? SECCOMP_RESTRICTING).actions);
    this.seccompFlags = cache.set((policy.seccomp ?? SECCOMP_RESTRICTING).flags);
  }

  get name(): string {
    return this.policy.name;
  }

  /** The first way the request breaks this entry (checked before anything is pulled), or undefined. */
  check(r: CreateContainerRequest): Violation | undefined {
    const spec = r.OCI;
    return this.checkImage(r) ?? this.checkProcess(spec) ?? this.checkMounts(r) ?? this.checkPrivileges(r) ?? this.checkSeccomp(spec);
  }

  /** The host's seccomp filter: only the entry's actions and flags, never a syscall faked as successful. */
  private checkSeccomp(spec: Spec | undefined): Violation | undefined {
    const f = spec?.Linux?.Seccomp;
    if (!f) return undefined;
    const field = 'CreateContainer.seccomp';
    const action = (a: string): Violation | undefined =>
      this.seccompActions.has(a) ? undefined : { field, reason: `seccomp action ${JSON.stringify(a.slice(0, 40))} is not allowed${HANDING_ACTIONS.has(a) ? ' (it hands the container\'s syscalls to another process)' : ''}` };
    const bad = action(f.DefaultAction);
    if (bad) return bad;
    for (const flag of f.Flags) if (!this.seccompFlags.has(flag)) return { field, reason: `seccomp flag ${JSON.stringify(flag.slice(0, 60))} is not allowed` };
    if (f.Architectures.length > SECCOMP_MAX_ARCHES || f.Syscalls.length > SECCOMP_MAX_RULES) return { field, reason: 'the seccomp filter is too large' };
    for (const a of f.Architectures) if (!SECCOMP_ARCH_RE.test(a)) return { field, reason: `seccomp architecture ${JSON.stringify(a.slice(0, 40))} is not one` };
    for (const sc of f.Syscalls) {
      const bad = action(sc.Action);
      if (bad) return bad;
      // errno 0: the syscall "succeeds" without running (a setuid that drops nothing)
      if (sc.Action === 'SCMP_ACT_ERRNO' && sc.ErrnoRet.case === 'errnoret' && sc.ErrnoRet.value === 0) return { field, reason: `SCMP_ACT_ERRNO with errno 0 would make ${JSON.stringify((sc.Names[0] ?? '').slice(0, 40))} seem to succeed` };
      if (!syscallNames(sc.Names)) return { field, reason: 'a seccomp rule names no syscall, or not one' };
      if (sc.Args.length > 6) return { field, reason: 'a seccomp rule compares more than 6 syscall arguments' };
      for (const arg of sc.Args) if (arg.Index > 5n || !SECCOMP_OPS.has(arg.Op)) return { field, reason: `seccomp argument rule (index ${arg.Index}, op ${JSON.stringify(arg.Op.slice(0, 30))}) is not one` };
    }
    return undefined;
  }

  private checkImage(r: CreateContainerRequest): Violation | undefined {
    if (!this.image) return undefined;
    const ref = imageReference(r);
    if (!ref) return { field: 'CreateContainer.image', reason: 'no image reference' };
    if (ref === this.policy.image) return undefined; // normalizes to the policy's own image, which matches itself
    if (!imageMatches(this.image, normalizeImage(ref))) return { field: 'CreateContainer.image', reason: `image ${JSON.stringify(ref.slice(0, 200))} is not the policy's` };
    return undefined;
  }

  private checkProcess(spec: Spec | undefined): Violation | undefined {
    const p = this.policy;
    const proc = spec?.Process;
    const argv = proc?.Args ?? [];
    if (p.command && !sameList(p.command, argv)) return { field: 'CreateContainer.command', reason: 'command is not the policy\'s' };
    // an entry that leaves env to the image decides it after the pull (checkImageConfig: each entry the policy's or the
    // image's), so here nothing could deny it: no entry is tested
    if (this.env && !p.imageDefaults) {
      for (const e of proc?.Env ?? []) {
        if (this.env.test(e)) continue;
        return { field: 'CreateContainer.env', reason: `environment variable ${JSON.stringify(e.split('=')[0]!.slice(0, 80))} is not allowed` };
      }
    }
    if (p.workingDir !== undefined && (proc?.Cwd || '/') !== p.workingDir) return { field: 'CreateContainer.workingDir', reason: 'working directory is not the policy\'s' };
    if (p.user) {
      const u = proc?.User;
      if ((u?.UID ?? 0) !== p.user.uid || (p.user.gid !== undefined && (u?.GID ?? 0) !== p.user.gid)) return { field: 'CreateContainer.user', reason: `user ${u?.UID ?? 0}:${u?.GID ?? 0} is not the policy's` };
      if (p.user.additionalGids && !sameList([...(u?.AdditionalGids ?? [])].sort((a, b) => a - b), [...p.user.additionalGids].sort((a, b) => a - b))) {
        return { field: 'CreateContainer.user', reason: 'additional groups are not the policy\'s' };
      }
    }
    if (proc?.User?.Username) return { field: 'CreateContainer.user', reason: 'user names are not resolved; give numeric ids' };
    return undefined;
  }

  private checkMounts(r: CreateContainerRequest): Violation | undefined {
    if ((r.sharedMounts?.length ?? 0) > 0) return { field: 'CreateContainer.mounts', reason: 'shared mounts are not allowed' };
    const call = ++mountCheckCall;
    const dests = this.dests;
    let next = 0; // where the next request mount's destination is looked for first: requests mostly list mounts in the policy's order
    const mounts = r.OCI?.Mounts ?? [];
    for (let index = 0; index < mounts.length; index++) {
      const m = mounts[index]!;
      const bind = isBindMount(m);
      const dest = typeof m.destination === 'string' ? m.destination : '';
      // the rules for dest, as destIndex.get(dest) finds them; a hit on the guess needs no hash of the fresh string
      const at = next < dests.length && dests[next] === dest ? next : next + 1 < dests.length && dests[next + 1] === dest ? next + 1 : this.destIndex.get(dest);
      // only clean destinations are indexed: a miss is either traversal or a mount no rule names
      if (at === undefined && hasTraversal(dest)) return { field: 'CreateContainer.mounts', reason: `destination ${JSON.stringify(dest.slice(0, 200))} is not a clean absolute path` };
      let candidates = 0;
      let problem: string | undefined;
      if (at !== undefined) {
        next = at + 1;
        const options = m.options ?? [];
        let shared: boolean | undefined; // isSharedSource(m.source), once a bind rule needs it
        const rules = this.rulesAt[at]!;
        for (let k = 0; k < rules.length; k++) {
          const c = rules[k]!;
          // the rule's type and source class are the mount's (what classifyMount says)
          if (bind) {
            if (c.type !== 'bind') continue;
            if (shared === undefined) shared = isSharedSource(m.source);
            if (c.source !== (shared ? 'shared' : 'host')) continue;
          } else if (c.type !== m.type || !c.typeGivesSource) continue;
          candidates++;
          const o = c.options;
          if (knownList(o, options) || (o.fittedCall === call && sameList(mounts[o.fittedMount]!.options, options))) {
            problem = undefined;
            break;
          }
          problem = optionProblem(o, options);
          if (!problem) {
            o.fittedCall = call;
            o.fittedMount = index;
            if (o.known.length < KNOWN_LISTS) remember(o, options);
            break;
          }
        }
      }
      if (candidates === 0 || problem) {
        const type = bind ? 'bind' : m.type;
        const source = bind ? (isSharedSource(m.source) ? 'shared' : 'host') : GUEST_FS_TYPES.has(m.type) ? 'guest' : 'host';
        return { field: 'CreateContainer.mounts', reason: `${describe(dest.slice(0, 200), { type, source })} ${problem ?? 'is not an allowed mount'}` };
      }
    }
    return undefined;
  }

  private checkPrivileges(r: CreateContainerRequest): Violation | undefined {
    const spec = r.OCI;
    const p = this.policy;
    const caps = spec?.Process?.Capabilities;
    if (caps) {
      // a set equal to one checked before it has nothing new (runtimes send bounding = effective = permitted): no hashing again
      const { Bounding: b, Effective: e, Permitted: p, Inheritable: i, Ambient: a } = caps;
      const bad = this.capNotAllowed(b)
        ?? (sameList(e, b) ? undefined : this.capNotAllowed(e))
        ?? (sameList(p, b) || sameList(p, e) ? undefined : this.capNotAllowed(p))
        ?? this.capNotAllowed(i) ?? this.capNotAllowed(a);
      if (bad !== undefined) return { field: 'CreateContainer.capabilities', reason: `capability ${JSON.stringify(bad.slice(0, 40))} is not allowed` };
    }
    if (!p.privileged) {
      if (spec?.Process?.ApparmorProfile === 'unconfined') return { field: 'CreateContainer.privileged', reason: 'apparmor unconfined is privileged' };
      const h = spec?.Hooks;
      if (h && (nonEmpty(h.Prestart) || nonEmpty(h.Poststart) || nonEmpty(h.Poststop) || nonEmpty(h.CreateRuntime) || nonEmpty(h.CreateContainer) || nonEmpty(h.StartContainer))) {
        return { field: 'CreateContainer.privileged', reason: 'OCI hooks are privileged' };
      }
    }
    for (const n of spec?.Linux?.Namespaces ?? []) {
      if (n.Path !== '' && !this.hostNs.has(n.Type)) return { field: 'CreateContainer.hostNamespaces', reason: `joining the ${JSON.stringify(n.Type.slice(0, 20))} namespace at a path is not allowed` };
    }
    if (r.sandboxPidns && p.podPidNamespace !== true) return { field: 'CreateContainer.podPidNamespace', reason: 'joining the pod\'s PID namespace is not allowed' };
    const allowed = p.sysctls ?? {};
    const sysctl = spec?.Linux?.Sysctl ?? {};
    for (const k in sysctl) {
      if (!Object.hasOwn(sysctl, k)) continue; // own enumerable keys, as Object.entries
      if (!Object.hasOwn(allowed, k) || allowed[k] !== sysctl[k]) return { field: 'CreateContainer.sysctls', reason: `sysctl ${JSON.stringify(k.slice(0, 80))} is not allowed` };
    }
    for (const d of spec?.Linux?.Devices ?? []) {
      if (!this.devices.has(d.Path)) return { field: 'CreateContainer.devices', reason: `device ${JSON.stringify(d.Path.slice(0, 80))} is not allowed` };
    }
    if ((r.devices?.length ?? 0) > 0) return { field: 'CreateContainer.devices', reason: 'host-attached devices are not allowed' };
    if (r.stringUser) return { field: 'CreateContainer.user', reason: 'string_user is not allowed' };
    if ((spec?.Linux?.UIDMappings?.length ?? 0) > 0 || (spec?.Linux?.GIDMappings?.length ?? 0) > 0) return { field: 'CreateContainer.user', reason: 'user namespace id mappings are not allowed' };
    return undefined;
  }

  /** The first capability of a set this entry does not allow. */
  private capNotAllowed(set: readonly string[] | undefined): string | undefined {
    if (set) for (let i = 0; i < set.length; i++) if (!this.caps.has(set[i]!)) return set[i];
    return undefined;
  }

  /** The digest pin, checked once the guest resolved the manifest (before any layer is fetched). */
  checkDigest(manifestDigest: string): Violation | undefined {
    const want = this.policy.imageDigest;
    if (want && manifestDigest !== want) return { field: 'CreateContainer.imageDigest', reason: `image digest ${manifestDigest.slice(0, 80)} is not the policy's` };
    return undefined;
  }

  /** What the entry leaves to the image, checked against the pulled image's config. */
  checkImageConfig(r: CreateContainerRequest, image: PulledImageConfig | undefined): Violation | undefined {
    const p = this.policy;
    if (!p.imageDefaults) return undefined;
    const proc = r.OCI?.Process;
    const argv = proc?.Args ?? [];
    if (!p.command) {
      const want = [...(image?.Entrypoint ?? []), ...(p.args ?? image?.Cmd ?? [])];
      if (argv.length > 0 && !sameList(argv, want)) return { field: 'CreateContainer.command', reason: 'command is not the image\'s entrypoint with the policy\'s args' };
      if (argv.length === 0 && p.args && !sameList([...(image?.Entrypoint ?? []), ...(image?.Cmd ?? [])], want)) return { field: 'CreateContainer.command', reason: 'the image\'s default command is not the policy\'s' };
    }
    if (this.env) {
      const imageEnv = new Set(image?.Env ?? []);
      for (const e of proc?.Env ?? []) {
        if (this.env.test(e) || imageEnv.has(e)) continue;
        return { field: 'CreateContainer.env', reason: `environment variable ${JSON.stringify(e.split('=')[0]!.slice(0, 80))} is neither allowed nor the image's` };
      }
    }
    if (p.workingDir === undefined) {
      const cwd = proc?.Cwd || '/';
      if (cwd !== '/' && cwd !== (image?.WorkingDir || '/')) return { field: 'CreateContainer.workingDir', reason: 'working directory is not the image\'s' };
    }
    if (p.user === undefined) {
      // the image's numeric user[:group] (none: root); a name would need the image's /etc/passwd
      const m = /^(\d{1,10})?(?::(\d{1,10}))?$/.exec(image?.User ?? '');
      const uid = proc?.User?.UID ?? 0;
      const gid = proc?.User?.GID ?? 0;
      if (m && (uid !== Number(m[1] ?? 0) || (m[2] !== undefined && gid !== Number(m[2])))) return { field: 'CreateContainer.user', reason: `user ${uid}:${gid} is not the image's` };
    }
    return undefined;
  }
}
