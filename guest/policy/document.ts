/**
 * The agent policy document: a declarative, readable JSON document (no Rego engine). Rules are
 * keyed by RPC method name (`CreateContainer`, `ExecProcess`, …); a method without a rule takes
 * `default`. A rule allows or denies the request and may narrow an allow with field matchers.
 *
 * ```json
 * { "version": 1, "name": "my-pod", "default": "deny",
 *   "rules": {
 *     "CreateContainer": { "allow": true, "images": ["^registry\\.example/app@sha256:"],
 *                          "env": ["^PATH=", "^HOME="], "allowHostMounts": false, "allowPrivileged": false },
 *     "ExecProcess": { "allow": true, "commands": [["/bin/date"]] },
 *     "CopyFile": { "allow": true, "paths": ["^/run/kata-containers/shared/containers/[0-9a-f]{64}-[a-z0-9]{16}-[^/]+$"] } } }
 * ```
 */
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';

export type { PolicyRule, PolicyDocument } from '../../shared/agent-policy/types.js';
import type { PolicyRule, PolicyDocument } from '../../shared/agent-policy/types.js';

const RULE_KEYS = new Set(['allow', 'images', 'commands', 'commandPatterns', 'env', 'paths', 'allowHostMounts', 'allowPrivileged', 'allowGuestHooks']);

function invalid(msg: string): CocoletError {
  return new CocoletError(ErrorCode.PolicyInvalid, `policy: ${msg}`);
}

function strings(v: unknown, where: string, regex: boolean): string[] {
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw invalid(`${where} must be a list of strings`);
  if (regex) {
    for (const s of v as string[]) {
      if (s.startsWith('sha256:')) continue;
      try {
        new RegExp(s);
      } catch {
        throw invalid(`${where} has an invalid regular expression ${JSON.stringify(s)}`);
      }
    }
  }
  return v as string[];
}

/** Parses and validates a policy document (JSON text or an already parsed object). */
export function parsePolicy(input: string | unknown): PolicyDocument {
  let raw: unknown = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch (e) {
      throw invalid(`not JSON (${(e as Error).message})`);
    }
  }
  if (!raw || typeof raw !== 'object') throw invalid('document must be an object');
  const d = raw as Record<string, unknown>;
  if (d.version !== 1) throw invalid('version must be 1');
  if (d.default !== 'allow' && d.default !== 'deny') throw invalid('default must be "allow" or "deny"');
  const rulesIn = d.rules ?? {};
  if (typeof rulesIn !== 'object' || Array.isArray(rulesIn)) throw invalid('rules must be an object');
  const rules: Record<string, PolicyRule> = {};
  for (const [method, r] of Object.entries(rulesIn as Record<string, unknown>)) {
    if (!/^[A-Z][A-Za-z]+$/.test(method)) throw invalid(`rule name ${JSON.stringify(method)} is not a method name`);
    if (!r || typeof r !== 'object') throw invalid(`rules.${method} must be an object`);
    const rr = r as Record<string, unknown>;
    for (const k of Object.keys(rr)) if (!RULE_KEYS.has(k)) throw invalid(`rules.${method}.${k} is not a known field`);
    if (typeof rr.allow !== 'boolean') throw invalid(`rules.${method}.allow must be a boolean`);
    const rule: PolicyRule = { allow: rr.allow };
    if (rr.images !== undefined) rule.images = strings(rr.images, `rules.${method}.images`, true);
    if (rr.commandPatterns !== undefined) rule.commandPatterns = strings(rr.commandPatterns, `rules.${method}.commandPatterns`, true);
    if (rr.env !== undefined) rule.env = strings(rr.env, `rules.${method}.env`, true);
    if (rr.paths !== undefined) rule.paths = strings(rr.paths, `rules.${method}.paths`, true);
    if (rr.commands !== undefined) {
      if (!Array.isArray(rr.commands)) throw invalid(`rules.${method}.commands must be a list of argv lists`);
      rule.commands = (rr.commands as unknown[]).map((c, i) => strings(c, `rules.${method}.commands[${i}]`, false));
    }
    for (const k of ['allowHostMounts', 'allowPrivileged', 'allowGuestHooks'] as const) {
      if (rr[k] !== undefined) {
        if (typeof rr[k] !== 'boolean') throw invalid(`rules.${method}.${k} must be a boolean`);
        rule[k] = rr[k] as boolean;
      }
    }
    rules[method] = rule;
  }
  return { version: 1, name: typeof d.name === 'string' ? d.name : 'unnamed', default: d.default, rules };
}
