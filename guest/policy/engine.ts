/**
 * The policy engine: one decision per request, from the policy document and the request's
 * fields. Pure and synchronous; regexes and container entries are compiled once per document; the
 * gate (gate.ts) logs and counts decisions.
 */
import type { CopyFileRequest, CreateContainerRequest, CreateSandboxRequest, ExecProcessRequest, SignalProcessRequest } from '../../shared/gen/kata/agent_pb.js';
import type { PolicyDocument, PolicyRule } from './document.js';
import { CompileCache, CompiledContainer, type PulledImageConfig, type Violation } from './container.js';
import { hasHostStorage, hasTraversal } from './inspect.js';
import { NETWORK_METHODS, checkNetworkRequest } from './network.js';

/** CRI annotation naming the container (the policy's `containers[].name`). */
export const CONTAINER_NAME_ANNOTATION = 'io.kubernetes.cri.container-name';

export interface Decision {
  allowed: boolean;
  /** The rule that decided, e.g. `rules.ExecProcess.allow`, `CreateContainer.mounts` or `default`. */
  rule: string;
  /** Why, in a few words (no request payloads). */
  reason: string;
  /** CreateContainer: the container entry the request matched. */
  container?: CompiledContainer;
}

function allow(rule: string, container?: CompiledContainer): Decision {
  return container ? { allowed: true, rule, reason: 'allowed', container } : { allowed: true, rule, reason: 'allowed' };
}
const ALLOW_DEFAULT: Readonly<Decision> = Object.freeze(allow('default'));
function deny(rule: string, reason: string): Decision {
  return { allowed: false, rule, reason };
}
const violation = (v: Violation): Decision => deny(v.field, v.reason);

interface CompiledRule {
  rule: PolicyRule;
  /** `rules.<method>` (denials name it). */
  base: string;
  /** The decision allowing a request by this rule (made once). */
  allowed: Readonly<Decision>;
  commandPatterns?: RegExp[];
  env?: RegExp[];
  paths?: RegExp[];
}

const compile = (ps: string[] | undefined): RegExp[] | undefined => ps?.map((p) => new RegExp(p));

function checkArgv(method: string, c: CompiledRule, argv: readonly string[]): Decision | undefined {
  const { rule } = c;
  if (!rule.commands && !c.commandPatterns) return undefined;
  const exact = rule.commands?.some((x) => x.length === argv.length && x.every((a, i) => a === argv[i])) ?? false;
  const joined = argv.join(' ');
  const pattern = c.commandPatterns?.some((re) => re.test(joined)) ?? false;
  return exact || pattern ? undefined : deny(`rules.${method}.commands`, 'command not allowed');
}

function checkEnv(method: string, c: CompiledRule, env: readonly string[]): Decision | undefined {
  if (!c.env) return undefined;
  const bad = env.find((e) => !c.env!.some((re) => re.test(e)));
  return bad === undefined ? undefined : deny(`rules.${method}.env`, `environment variable ${JSON.stringify(bad.split('=')[0]!.slice(0, 80))} not allowed`);
}

export class PolicyEngine {
  private readonly rules = new Map<string, CompiledRule>();
  private readonly byName = new Map<string, CompiledContainer>();
  private readonly anyName: CompiledContainer | undefined;

  /** `processMode`: the agent runs on the host (NOT confidential), where the host's prepared rootfs is not host-chosen storage. */
  constructor(readonly doc: PolicyDocument, private readonly processMode = false) {
    for (const [method, rule] of Object.entries(doc.rules)) {
      this.rules.set(method, { rule, base: `rules.${method}`, allowed: Object.freeze(allow(`rules.${method}.allow`)), commandPatterns: compile(rule.commandPatterns), env: compile(rule.env), paths: compile(rule.paths) });
    }
    const cache = new CompileCache(); // the entries share their identical mount rules, sets and regexes
    for (const c of doc.containers) this.byName.set(c.name, new CompiledContainer(c, cache));
    this.anyName = this.byName.get('*');
  }

  get name(): string {
    return this.doc.name;
  }

  /** The decision for one request (method = RPC method name). */
  evaluate(method: string, request: unknown): Decision {
    const c = this.rules.get(method);
    if (!c) {
      if (this.doc.default !== 'allow') return deny('default', 'no rule allows this request');
      // the network guards hold under an allow-by-default policy too
      const v = NETWORK_METHODS.has(method) ? checkNetworkRequest(method, request) : undefined;
      return v ? violation(v) : ALLOW_DEFAULT;
    }
    const base = c.base;
    if (!c.rule.allow) return deny(`${base}.allow`, 'request type denied');
    switch (method) {
      case 'CreateContainer':
        return this.createContainer(c.rule, request as CreateContainerRequest);
      case 'ExecProcess': {
        const r = request as ExecProcessRequest;
        if (r.stringUser) return deny(`${base}.allow`, 'string_user not allowed');
        return checkArgv(method, c, r.process?.Args ?? []) ?? checkEnv(method, c, r.process?.Env ?? []) ?? c.allowed;
      }
      case 'CopyFile': {
        const r = request as CopyFileRequest;
        if (hasTraversal(r.path)) return deny(`${base}.paths`, 'path traversal');
        if (c.paths && !c.paths.some((re) => re.test(r.path))) return deny(`${base}.paths`, 'path not allowed');
        return c.allowed;
      }
      case 'SignalProcess': {
        const r = request as SignalProcessRequest;
        if (c.rule.signals && !c.rule.signals.includes(r.signal)) return deny(`${base}.signals`, `signal ${Number(r.signal)} not allowed`);
        return c.allowed;
      }
      case 'CreateSandbox': {
        const r = request as CreateSandboxRequest;
        if (!c.rule.allowGuestHooks && (r.guestHookPath !== '' || r.kernelModules.length > 0)) return deny(`${base}.allowGuestHooks`, 'guest hooks or kernel modules not allowed');
        if (!c.rule.allowHostMounts && hasHostStorage(r.storages)) return deny(`${base}.allowHostMounts`, 'host-chosen storage not allowed');
        return c.allowed;
      }
      case 'UpdateInterface':
      case 'UpdateRoutes':
      case 'AddARPNeighbors': {
        const v = checkNetworkRequest(method, request);
        return v ? violation(v) : c.allowed;
      }
      default:
        return c.allowed;
    }
  }

  /** The container entry a request names (CRI container-name annotation), else the `*` entry. */
  containerFor(r: CreateContainerRequest): CompiledContainer | undefined {
    const name = r.OCI?.Annotations?.[CONTAINER_NAME_ANNOTATION];
    return (name !== undefined ? this.byName.get(name) : undefined) ?? this.anyName;
  }

  private createContainer(rule: PolicyRule, r: CreateContainerRequest): Decision {
    if (!rule.allowHostMounts && hasHostStorage(r.storages ?? [], this.processMode)) return deny('rules.CreateContainer.allowHostMounts', 'host-chosen storage not allowed');
    const entry = this.containerFor(r);
    if (!entry) {
      const name = r.OCI?.Annotations?.[CONTAINER_NAME_ANNOTATION];
      return deny('CreateContainer.containers', name === undefined ? 'the request names no container and the policy has no "*" entry' : `no container ${JSON.stringify(name.slice(0, 80))} in the policy`);
    }
    const v = entry.check(r);
    return v ? violation(v) : entry.allowed;
  }

  /** Whether the policy pins any image digest (then the image must be pulled to learn its digest). */
  pinsImageDigests(): boolean {
    return this.doc.containers.some((c) => c.imageDigest !== undefined);
  }

  /** The digest pin of the entry a request matched, checked once the manifest is known. */
  checkImageDigest(r: CreateContainerRequest, digest: string): Decision {
    const entry = this.containerFor(r);
    if (!entry) return deny('CreateContainer.containers', 'no container entry');
    const v = entry.checkDigest(digest);
    return v ? violation(v) : allow('CreateContainer.imageDigest');
  }

  /** What the entry leaves to the image (command, env, working dir), checked against the pulled image's config. */
  checkImageConfig(r: CreateContainerRequest, config: PulledImageConfig | undefined): Decision {
    const entry = this.containerFor(r);
    if (!entry) return deny('CreateContainer.containers', 'no container entry');
    const v = entry.checkImageConfig(r, config);
    return v ? violation(v) : allow('CreateContainer.imageDefaults');
  }

  /** Whether the entry a request matched keeps setuid/setgid bits from image layers (default no). */
  keepsSetuid(r: CreateContainerRequest): boolean {
    return this.containerFor(r)?.policy.keepSetuid === true;
  }
}
