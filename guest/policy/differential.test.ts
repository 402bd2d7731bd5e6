// The compiled checks of a container entry (container.ts: destinations guessed in policy order,
// option lists compared with a list already found to fit in the same request, capability sets equal
// to one already checked skipped, few env literals compared one by one) decide exactly what the plain
// reading of the policy below decides: same allowed/denied, same rule, same reason, on mutated
// requests decoded from the wire (fresh strings, as the agent sees them) in one long sequence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { CreateContainerRequestSchema, type CreateContainerRequest } from '../../shared/gen/kata/agent_pb.js';
import { generatePolicy } from '../../shared/agent-policy/generate.js';
import { twentyContainerPod } from '../../shared/agent-policy/testing.js';
import { ANY_ORDINARY_CONTAINER, CONFIDENTIAL_DEFAULT_POLICY } from '../../shared/agent-policy/defaults.js';
import type { ContainerPolicy, PolicyDocument } from '../../shared/agent-policy/types.js';
import { PolicyEngine } from './engine.js';
import { parsePolicy } from './document.js';
import { classifyMount, NEUTRAL_OPTION_RE, NEUTRAL_OPTIONS } from './container.js';
import { hasTraversal } from './inspect.js';
import { SHARED_COPY, twentyPodRequest } from './testing.js';
import { POLICY_INTERNER } from './vocabulary.js';
import { installStringInterner, uninstallStringInterner } from '../../shared/ttrpc/intern.js';

/** The plain reading of the parts the compiled form speeds up: env, mounts, capabilities (in the order the entry checks them). */
function plainCheck(p: ContainerPolicy, r: CreateContainerRequest): string | undefined {
  const proc = r.OCI?.Process;
  if (p.env) {
    const re = new RegExp(`^(?:${p.env.map((x) => `(?:${x})`).join('|')})$`, 's');
    for (const e of proc?.Env ?? []) if (!re.test(e) && !p.imageDefaults) return `CreateContainer.env: environment variable ${JSON.stringify(e.split('=')[0]!.slice(0, 80))} is not allowed`;
  }
  if (r.sharedMounts.length > 0) return 'CreateContainer.mounts: shared mounts are not allowed';
  for (const m of r.OCI?.Mounts ?? []) {
    const k = classifyMount(m);
    const rules = p.mounts.filter((x) => x.destination === m.destination && !hasTraversal(x.destination));
    if (rules.length === 0 && hasTraversal(m.destination)) return `CreateContainer.mounts: destination ${JSON.stringify(m.destination.slice(0, 200))} is not a clean absolute path`;
    const what = k.type === 'bind' ? `${m.destination.slice(0, 200)} (bind of ${k.source === 'shared' ? 'a host-copied file' : 'a host path'})` : `${m.destination.slice(0, 200)} (${k.type.slice(0, 40)})`;
    const candidates = rules.filter((x) => x.type === k.type && x.source === k.source);
    if (candidates.length === 0) return `CreateContainer.mounts: ${what} is not an allowed mount`;
    let problem: string | undefined;
    for (const rule of candidates) {
      const required = rule.options ?? [];
      const accepted = new Set([...NEUTRAL_OPTIONS, ...required, ...(rule.readOnly ? [] : ['rw'])]);
      problem = required.find((o) => !m.options.includes(o)) !== undefined ? `lacks option ${required.find((o) => !m.options.includes(o))}`
        : rule.readOnly && (!m.options.includes('ro') || m.options.includes('rw')) ? 'must be read-only'
          : m.options.filter((o) => !accepted.has(o) && !NEUTRAL_OPTION_RE.test(o)).map((o) => `option ${JSON.stringify(o.slice(0, 40))} is not allowed`)[0];
      if (!problem) break;
    }
    if (problem) return `CreateContainer.mounts: ${what} ${problem}`;
  }
  const caps = proc?.Capabilities;
  for (const set of caps ? [caps.Bounding, caps.Effective, caps.Permitted, caps.Inheritable, caps.Ambient] : []) {
    const bad = set.find((c) => !p.capabilities.includes(c));
    if (bad !== undefined) return `CreateContainer.capabilities: capability ${JSON.stringify(bad.slice(0, 40))} is not allowed`;
  }
  return undefined;
}

/** A small seeded generator (mulberry32), so a failure names an input that can be made again. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const OPTIONS = ['rw', 'ro', 'bind', 'rbind', 'rprivate', 'private', 'rshared', 'shared', 'nosuid', 'suid', 'noexec', 'exec', 'nodev', 'dev', 'relatime', 'strictatime', 'mode=755', 'mode=7777', 'size=65536k', 'size=1e9', 'gid=5', 'uid=0', 'ptmxmode=0666', 'newinstance', '', 'RW', 'nosuid\0'];
const TYPES = ['proc', 'sysfs', 'tmpfs', 'devpts', 'mqueue', 'cgroup', 'cgroup2', 'shm', 'bind', '', 'ext4', 'overlay', 'none'];
const SOURCES = ['proc', 'tmpfs', 'none', `${SHARED_COPY}-hosts`, `${SHARED_COPY}-../../etc`, `${SHARED_COPY}/./x`, `${SHARED_COPY}\0x`, '/etc/shadow', '/run/kata-containers/shared/containers', '/run/kata-containers/shared/containers/..', 'relative'];
const DESTS = ['/proc', '/dev', '/dev/pts', '/dev/shm', '/run', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/dev/termination-log', '/var/run/secrets/kubernetes.io/serviceaccount', '/cache/3', '/etc/app', '/hostproc', '/proc/..', '/etc/./hosts', 'proc', '', '/bin/sh', '/dev/../sys'];
const CAPS = ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_ADMIN', 'CAP_SETUID', 'CAP_BPF', 'cap_chown', ''];
const ENVS = ['MODE=prod', 'MODE=dev', 'INDEX=3', 'INDEX=33', 'POD_IP=1.2.3.4', 'EVIL=1', 'HOSTNAME=x', 'HOSTNAME=', 'PATH=/bin', 'KUBERNETES_SERVICE_HOST=10.0.0.1', 'LD_PRELOAD=/x.so', ''];

/** One mutation of a request, in place (a few kinds, each touching what the compiled form treats specially). */
function mutate(r: CreateContainerRequest, rand: () => number): void {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const mounts = r.OCI!.Mounts;
  const m = mounts.length > 0 ? pick(mounts) : undefined;
  const caps = r.OCI!.Process!.Capabilities!;
  switch (Math.floor(rand() * 14)) {
    case 0: if (m) m.options.push(pick(OPTIONS)); break;
    case 1: if (m && m.options.length > 0) m.options.splice(Math.floor(rand() * m.options.length), 1); break;
    case 2: if (m) m.options = [...pick(mounts).options]; break; // another mount's list: the same list twice in a request
    case 3: if (m) m.options.reverse(); break;
    case 4: if (m) m.type = pick(TYPES); break;
    case 5: if (m) m.source = pick(SOURCES); break;
    case 6: if (m) m.destination = pick(DESTS); break;
    case 7: mounts.sort(() => rand() - 0.5); break; // order unlike the policy's
    case 8: if (m) mounts.splice(Math.floor(rand() * mounts.length), 0, { ...m, options: [...m.options] }); break;
    case 9: if (m) mounts.splice(mounts.indexOf(m), 1); break;
    case 10: { const set = pick(['Bounding', 'Effective', 'Permitted', 'Inheritable', 'Ambient'] as const); caps[set] = rand() < 0.5 ? [...caps.Bounding] : [...caps[set], pick(CAPS)]; break; }
    case 11: caps.Bounding = [...caps.Bounding].reverse(); break;
    case 12: { const env = r.OCI!.Process!.Env; env.splice(Math.floor(rand() * (env.length + 1)), rand() < 0.3 ? 1 : 0, pick(ENVS)); break; }
    default: r.OCI!.Process!.Env.sort(() => rand() - 0.5);
  }
}

const twenty = generatePolicy(twentyContainerPod()).policy;
const varied: PolicyDocument = parsePolicy({
  version: 2, default: 'deny', rules: { CreateContainer: { allow: true } },
  containers: [
    // rules sharing option lists across types, read-only and not, two rules for one destination, few and many env literals
    { ...ANY_ORDINARY_CONTAINER, name: 'c3', capabilities: ['CAP_CHOWN', 'CAP_KILL'], env: ['MODE=prod', 'INDEX=3', 'HOSTNAME=[a-z]+', 'A=1', 'B=2', 'C=3', 'D=4', 'E=5', 'F=6', 'PATH=\\/bin'],
      mounts: [...ANY_ORDINARY_CONTAINER.mounts, { destination: '/cache/3', type: 'bind', source: 'shared' }, { destination: '/cache/3', type: 'bind', source: 'shared', options: ['rbind'], readOnly: true },
        { destination: '/etc/app', type: 'tmpfs', source: 'guest', options: ['nosuid', 'noexec', 'nodev'], readOnly: true }, { destination: '/hostproc', type: 'proc', source: 'guest', options: ['nosuid', 'noexec', 'nodev'] }] },
  ],
});

/** 30,000 mutated requests through fresh engines of the three policies, each decision against the plain reading. */
function differential(seed: number): void {
  const rand = rng(seed);
  const engines = [twenty, varied, CONFIDENTIAL_DEFAULT_POLICY].map((doc) => ({ doc, engine: new PolicyEngine(doc) }));
  const wire = Array.from({ length: 20 }, (_, i) => toBinary(CreateContainerRequestSchema, twentyPodRequest(i)));
  let allowed = 0;
  let mountDenials = 0;
  for (let n = 0; n < 30_000; n++) {
    const i = n % 20;
    const base = fromBinary(CreateContainerRequestSchema, wire[i]!); // a copy: create() shares the fixture's arrays
    base.OCI!.Process!.Capabilities!.Inheritable = [];
    const steps = Math.floor(rand() * 4);
    for (let k = 0; k < steps; k++) mutate(base, rand);
    const r = fromBinary(CreateContainerRequestSchema, toBinary(CreateContainerRequestSchema, base));
    for (const { doc, engine } of engines) {
      const entry = doc.containers.find((c) => c.name === `c${i}`) ?? doc.containers.find((c) => c.name === '*');
      if (!entry) continue;
      const d = engine.evaluate('CreateContainer', r);
      // only the parts the plain reading covers may decide: the request's image, argv, user and the rest are the entry's
      const got = d.allowed ? undefined : `${d.rule}: ${d.reason}`;
      if (got !== undefined && !/^CreateContainer\.(env|mounts|capabilities):/.test(got)) continue;
      assert.equal(got, plainCheck(entry, r), `input ${n} (container c${i}, policy ${doc.name})`);
      if (got === undefined) allowed++;
      else if (got.startsWith('CreateContainer.mounts')) mountDenials++;
    }
  }
  // both sides were exercised (the counts are what this seed gives; a change in them means the test changed)
  assert.ok(allowed > 5000, `allowed ${allowed}`);
  assert.ok(mountDenials > 5000, `mount denials ${mountDenials}`);
}

test('compiled container checks decide as the plain reading of the policy, on 30000 mutated requests from the wire', () => {
  differential(10);
});

// as the agent decodes: the policy's fixed words interned (identity compares) and the option lists of such words that fit a
// rule remembered across requests (OptionRule.known) — the same decisions
test('the same, decoded through the agent\'s interner of the policy\'s words', (t) => {
  installStringInterner(POLICY_INTERNER);
  t.after(() => uninstallStringInterner());
  differential(11);
});
