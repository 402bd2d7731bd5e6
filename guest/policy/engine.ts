/**
 * The policy engine: one decision per request, from the policy document and the request's
 * fields. Pure and synchronous; the gate (gate.ts) logs and counts decisions.
 */
import type { CopyFileRequest, CreateContainerRequest, CreateSandboxRequest, ExecProcessRequest } from '../../shared/gen/kata/agent_pb.js';
import type { PolicyDocument, PolicyRule } from './document.js';
import { hasTraversal, hostStorages, imageReference, isHostMount, privilegeRequests } from './inspect.js';

export interface Decision {
  allowed: boolean;
  /** The rule that decided, e.g. `rules.ExecProcess.allow` or `default`. */
  rule: string;
  /** Why, in a few words (no request payloads). */
  reason: string;
}

function allow(rule: string): Decision {
  return { allowed: true, rule, reason: 'allowed' };
}
function deny(rule: string, reason: string): Decision {
  return { allowed: false, rule, reason };
}

function matchAny(patterns: readonly string[], s: string): boolean {
  return patterns.some((p) => !p.startsWith('sha256:') && new RegExp(p).test(s));
}

function checkArgv(method: string, rule: PolicyRule, argv: readonly string[]): Decision | undefined {
  if (!rule.commands && !rule.commandPatterns) return undefined;
  const exact = rule.commands?.some((c) => c.length === argv.length && c.every((a, i) => a === argv[i])) ?? false;
  const pattern = rule.commandPatterns ? matchAny(rule.commandPatterns, argv.join(' ')) : false;
  return exact || pattern ? undefined : deny(`rules.${method}.commands`, 'command not allowed');
}

function checkEnv(method: string, rule: PolicyRule, env: readonly string[]): Decision | undefined {
  if (!rule.env) return undefined;
  const bad = env.find((e) => !matchAny(rule.env!, e));
  return bad === undefined ? undefined : deny(`rules.${method}.env`, `environment variable ${bad.split('=')[0]} not allowed`);
}

export class PolicyEngine {
  /** `processMode`: the agent runs on the host (NOT confidential), where the host's prepared rootfs is not host-chosen storage. */
  constructor(readonly doc: PolicyDocument, private readonly processMode = false) {}

  get name(): string {
    return this.doc.name;
  }

  /** The decision for one request (method = RPC method name). */
  evaluate(method: string, request: unknown): Decision {
    const rule = this.doc.rules[method];
    if (!rule) return this.doc.default === 'allow' ? allow('default') : deny('default', 'no rule allows this request');
    const base = `rules.${method}`;
    if (!rule.allow) return deny(`${base}.allow`, 'request type denied');
    const req = request as Record<string, unknown> | undefined;
    switch (method) {
      case 'CreateContainer':
        return this.createContainer(rule, req as unknown as CreateContainerRequest) ?? allow(`${base}.allow`);
      case 'ExecProcess': {
        const r = req as unknown as ExecProcessRequest;
        if (r.stringUser) return deny(`${base}.allow`, 'string_user not allowed');
        const argv = r.process?.Args ?? [];
        return checkArgv(method, rule, argv) ?? checkEnv(method, rule, r.process?.Env ?? []) ?? allow(`${base}.allow`);
      }
      case 'CopyFile': {
        const r = req as unknown as CopyFileRequest;
        if (hasTraversal(r.path)) return deny(`${base}.paths`, 'path traversal');
        if (rule.paths && !matchAny(rule.paths, r.path)) return deny(`${base}.paths`, 'path not allowed');
        return allow(`${base}.allow`);
      }
      case 'CreateSandbox': {
        const r = req as unknown as CreateSandboxRequest;
        if (!rule.allowGuestHooks && (r.guestHookPath !== '' || r.kernelModules.length > 0)) return deny(`${base}.allowGuestHooks`, 'guest hooks or kernel modules not allowed');
        if (!rule.allowHostMounts && hostStorages(r.storages).length > 0) return deny(`${base}.allowHostMounts`, 'host-chosen storage not allowed');
        return allow(`${base}.allow`);
      }
      default:
        return allow(`${base}.allow`);
    }
  }

  private createContainer(rule: PolicyRule, r: CreateContainerRequest): Decision | undefined {
    const base = 'rules.CreateContainer';
    if (!rule.allowHostMounts) {
      if (hostStorages(r.storages, this.processMode).length > 0) return deny(`${base}.allowHostMounts`, 'host-chosen storage not allowed');
      const m = r.OCI?.Mounts.find((x) => isHostMount(x));
      if (m) return deny(`${base}.allowHostMounts`, `host mount at ${m.destination} not allowed`);
      if (r.devices.length > 0) return deny(`${base}.allowHostMounts`, 'host devices not allowed');
    }
    if (!rule.allowPrivileged) {
      const why = privilegeRequests(r.OCI);
      if (why.length > 0) return deny(`${base}.allowPrivileged`, `privileged container (${why.join('; ')})`);
    }
    if (rule.images) {
      const ref = imageReference(r);
      const patterns = rule.images.filter((p) => !p.startsWith('sha256:'));
      if (!ref) return deny(`${base}.images`, 'no image reference');
      if (patterns.length > 0 && !matchAny(patterns, ref)) return deny(`${base}.images`, 'image not allowed');
    }
    return checkArgv('CreateContainer', rule, r.OCI?.Process?.Args ?? []) ?? checkEnv('CreateContainer', rule, r.OCI?.Process?.Env ?? []);
  }

  /** Whether the policy pins image digests (then the image must be pulled to learn its digest). */
  pinsImageDigests(): boolean {
    return (this.doc.rules.CreateContainer?.images ?? []).some((p) => p.startsWith('sha256:'));
  }

  /** Digest pins (`sha256:` entries of CreateContainer.images) checked once the manifest is known. */
  checkImageDigest(digest: string): Decision {
    const pins = this.doc.rules.CreateContainer?.images?.filter((p) => p.startsWith('sha256:')) ?? [];
    if (pins.length === 0 || pins.includes(digest)) return allow('rules.CreateContainer.images');
    return deny('rules.CreateContainer.images', 'image digest not allowed');
  }
}
