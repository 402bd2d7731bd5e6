/**
 * The resource policy: which resources a verified TEE may have, and which reference-value sets
 * must have appraised as `affirming` for it. A JSON document of ordered rules; the first rule
 * whose pattern matches the resource path decides; no matching rule denies.
 *
 *   {"rules": [{"resource": "default/db/*", "require": ["prod"]},
 *              {"resource": "*\/*\/*", "allow": false}]}
 *
 * trustee's KBS takes Rego here; cocolet-kbs evaluates no Rego, but recognises trustee's sample
 * policies that need no engine (allow_all, deny_all, and affirming: every submodule's ear.status
 * affirming, i.e. the `default` set, which is cocolet's cpu0 status) so trustee's kbs-client
 * can set them (`set-resource-policy --allow-all | --deny-all | --affirming`).
 */
import type { Appraisal } from '../server/token.js';

export interface PolicyRule {
  /** `<repository>/<type>/<tag>`, each segment a name or `*`. */
  resource: string;
  /** false: matching resources are denied. Default true. */
  allow?: boolean;
  /** Reference-value sets that must appraise as affirming. */
  require?: string[];
}

export interface ResourcePolicy {
  rules: PolicyRule[];
}

export type PolicyDecision = { allow: true; rule: number } | { allow: false; reason: string };

export class PolicyParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyParseError';
  }
}

/** Nothing set: every resource needs the `default` reference values affirmed. */
export const DEFAULT_POLICY: ResourcePolicy = { rules: [{ resource: '*/*/*', require: ['default'] }] };

const SEG = /^(\*|[A-Za-z0-9._-]{1,128})$/;
const ID = /^[A-Za-z0-9._-]{1,64}$/;

export function parseResourcePolicyJson(v: unknown): ResourcePolicy {
  if (typeof v !== 'object' || v === null || !Array.isArray((v as { rules?: unknown }).rules)) throw new PolicyParseError('a resource policy is a JSON object {"rules": [...]}');
  const extra = Object.keys(v).filter((k) => k !== 'rules');
  if (extra.length > 0) throw new PolicyParseError(`unknown resource-policy key ${JSON.stringify(extra[0]!.slice(0, 40))}`);
  const rules = (v as { rules: unknown[] }).rules.map((r, i): PolicyRule => {
    if (typeof r !== 'object' || r === null) throw new PolicyParseError(`rules[${i}] must be an object`);
    const o = r as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!['resource', 'allow', 'require'].includes(k)) throw new PolicyParseError(`rules[${i}]: unknown key ${JSON.stringify(k.slice(0, 40))}`);
    if (typeof o.resource !== 'string' || o.resource.split('/').length !== 3 || !o.resource.split('/').every((s) => SEG.test(s))) {
      throw new PolicyParseError(`rules[${i}].resource must be <repository>/<type>/<tag> with * for any segment`);
    }
    const rule: PolicyRule = { resource: o.resource };
    if (o.allow !== undefined) {
      if (typeof o.allow !== 'boolean') throw new PolicyParseError(`rules[${i}].allow must be true or false`);
      rule.allow = o.allow;
    }
    if (o.require !== undefined) {
      if (!Array.isArray(o.require) || !o.require.every((x) => typeof x === 'string' && ID.test(x))) throw new PolicyParseError(`rules[${i}].require must list reference-value set ids`);
      rule.require = o.require as string[];
    }
    return rule;
  });
  return { rules };
}

const norm = (s: string): string => s.replace(/#[^\n]*/g, '').replace(/\s+/g, ' ').trim();
const REGO_ALLOW_ALL = norm('package policy\ndefault allow = false\nplugin = data.plugin\nallow if {\n plugin == "resource"\n}');
const REGO_DENY_ALL = norm('package policy\ndefault allow = false');
const REGO_AFFIRMING = norm(
  'package policy\nimport rego.v1\ndefault allow = false\nallow if {\n not any_not_affirming\n count(input.submods) > 0\n}\nany_not_affirming if {\n some _, submod in input.submods\n submod["ear.status"] != "affirming"\n}',
);

/** A policy as the admin endpoint receives it (the decoded `policy` text): JSON, or a recognised trustee sample Rego. */
export function parseResourcePolicyText(text: string): ResourcePolicy {
  const t = text.trim();
  if (t.startsWith('{')) {
    let j: unknown;
    try {
      j = JSON.parse(t);
    } catch (e) {
      throw new PolicyParseError(`the policy is not valid JSON (${e instanceof Error ? e.message : 'parse error'})`);
    }
    return parseResourcePolicyJson(j);
  }
  const n = norm(t);
  if (n === REGO_ALLOW_ALL) return { rules: [{ resource: '*/*/*', allow: true }] };
  if (n === REGO_DENY_ALL) return { rules: [] };
  if (n === REGO_AFFIRMING) return { rules: [{ resource: '*/*/*', require: ['default'] }] };
  throw new PolicyParseError('cocolet-kbs evaluates no Rego: give a JSON policy ({"rules": [...]}); of Rego it recognises only trustee\'s allow_all, deny_all and affirming sample policies');
}

function matches(pattern: string, path: string): boolean {
  const p = pattern.split('/');
  const s = path.split('/');
  return p.length === s.length && p.every((seg, i) => seg === '*' || seg === s[i]);
}

export function evaluatePolicy(policy: ResourcePolicy, path: string, appraisals: Record<string, Appraisal>): PolicyDecision {
  const i = policy.rules.findIndex((r) => matches(r.resource, path));
  if (i < 0) return { allow: false, reason: `no policy rule matches resource ${path}` };
  const rule = policy.rules[i]!;
  if (rule.allow === false) return { allow: false, reason: `policy rule ${i} (${rule.resource}) denies resource ${path}` };
  for (const id of rule.require ?? []) {
    const a = appraisals[id];
    if (!a) return { allow: false, reason: `resource ${path} requires reference values '${id}', which are not defined` };
    if (a.status !== 'affirming') return { allow: false, reason: `resource ${path} requires reference values '${id}' (${a.status}: ${a.failed.slice(0, 3).join('; ')})` };
  }
  return { allow: true, rule: i };
}
