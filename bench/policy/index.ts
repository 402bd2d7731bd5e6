/**
 * `npm run bench -- policy`: policy decisions per second for CreateContainer through the agent's
 * PolicyGate, on the policy `cocolet policy generate` writes for a 20-container pod, against the
 * same gate with an allow-all policy (default allow, no rules: no field is looked at), measured
 * in the same run, interleaved. Also the mean and p99 time of one decision. The requests are the
 * ones the shim sends for that pod (containerd's CRI mounts, the kubelet's binds, the volumes,
 * env with service links): each is checked to be ALLOWED before anything is measured.
 * Goal: the generated policy's decision time <= 1.2x the allow-all time.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { CreateContainerRequestSchema, type CreateContainerRequest } from '../../shared/gen/kata/agent_pb.js';
import { createLogger, silentLogger } from '../../shared/log/logger.js';
import { generatePolicy } from '../../shared/agent-policy/generate.js';
import { twentyContainerPod } from '../../shared/agent-policy/testing.js';
import type { PolicyDocument } from '../../shared/agent-policy/types.js';
import { PolicyGate } from '../../guest/policy/gate.js';
import { CRI_DEFAULT_MOUNTS } from '../../guest/policy/testing.js';
import { BenchReport, percentile } from '../report.js';

const SECONDS = Number(process.env.COCOLET_BENCH_SECONDS ?? 2);
const ROUNDS = 6;
const SHARED = `/run/kata-containers/shared/containers/${'a'.repeat(64)}-0123456789abcdef`;
const ALLOW_ALL: PolicyDocument = { version: 2, name: 'allow-all', default: 'allow', rules: {}, containers: [] };

/** The request the shim sends for container i of the pod. */
function request(i: number): CreateContainerRequest {
  return create(CreateContainerRequestSchema, {
    containerId: `c${i}-${'f'.repeat(56)}`, execId: `c${i}`,
    storages: [{ driver: 'image_guest_pull', source: `registry.example/team/app-${i}@sha256:${i.toString(16).padStart(2, '0').repeat(32)}` }],
    OCI: {
      Process: {
        Args: ['/app', `--id=${i}`, '--serve', `--port=${8000 + i}`],
        Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=twenty', 'MODE=prod', `INDEX=${i}`, 'POD_IP=10.244.0.7',
          'KUBERNETES_SERVICE_HOST=10.96.0.1', 'KUBERNETES_SERVICE_PORT=443', 'KUBERNETES_PORT=tcp://10.96.0.1:443', 'KUBERNETES_PORT_443_TCP_PROTO=tcp'],
        Cwd: '/', User: { UID: 1000 + i, GID: 1000 },
        Capabilities: { Bounding: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'], Effective: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'], Permitted: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'] },
      },
      Mounts: [
        ...CRI_DEFAULT_MOUNTS,
        ...['/etc/hosts', '/dev/termination-log', '/etc/hostname', '/etc/resolv.conf'].map((d) => ({ destination: d, type: 'bind', source: `${SHARED}-${d.split('/').pop()}`, options: ['rbind', 'rprivate', 'rw'] })),
        { destination: '/var/run/secrets/kubernetes.io/serviceaccount', type: 'bind', source: `${SHARED}-sa`, options: ['rbind', 'rprivate', 'ro'] },
        { destination: `/cache/${i}`, type: 'bind', source: `${SHARED}-cache`, options: ['rbind', 'rprivate', 'rw'] },
        { destination: '/etc/app', type: 'bind', source: `${SHARED}-cfg`, options: ['rbind', 'rprivate', 'ro'] },
      ],
      Annotations: { 'io.kubernetes.cri.container-name': `c${i}`, 'io.kubernetes.cri.sandbox-name': 'twenty', 'io.kubernetes.cri.image-name': `registry.example/team/app-${i}` },
      Linux: { Namespaces: [{ Type: 'pid' }, { Type: 'ipc' }, { Type: 'uts' }, { Type: 'mount' }, { Type: 'network' }], MaskedPaths: ['/proc/kcore'], ReadonlyPaths: ['/proc/sys'] },
    },
  } as never);
}

/** Decisions per second over the 20 requests for about `seconds`. */
function rate(gate: PolicyGate, reqs: readonly CreateContainerRequest[], seconds: number): number {
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let n = 0;
  while (performance.now() < deadline) {
    for (let k = 0; k < 50; k++) for (const r of reqs) gate.check('CreateContainer', r);
    n += 50 * reqs.length;
  }
  return n / ((performance.now() - start) / 1000);
}

/** Requests per second as the agent sees them: the request's bytes decoded, then the gate's check. */
function decodedRate(gate: PolicyGate, wire: readonly Uint8Array[], seconds: number): number {
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let n = 0;
  while (performance.now() < deadline) {
    for (let k = 0; k < 10; k++) for (const b of wire) gate.check('CreateContainer', fromBinary(CreateContainerRequestSchema, b));
    n += 10 * wire.length;
  }
  return n / ((performance.now() - start) / 1000);
}

/** Single-decision times (microseconds). */
function times(gate: PolicyGate, reqs: readonly CreateContainerRequest[], samples: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const r = reqs[i % reqs.length]!;
    const t0 = performance.now();
    gate.check('CreateContainer', r);
    out.push((performance.now() - t0) * 1000);
  }
  return out;
}

function main(): void {
  const { policy } = generatePolicy(twentyContainerPod());
  const reqs = Array.from({ length: 20 }, (_, i) => request(i));
  const gen = new PolicyGate(policy, silentLogger());
  const all = new PolicyGate(ALLOW_ALL, silentLogger());
  // refuse to measure a failing path: every request must be allowed by both
  for (const r of reqs) {
    gen.check('CreateContainer', r);
    all.check('CreateContainer', r);
  }
  for (let i = 0; i < 20_000; i++) {
    gen.check('CreateContainer', reqs[i % 20]!);
    all.check('CreateContainer', reqs[i % 20]!);
  }
  // interleaved rounds: both gates see the same machine load
  let genN = 0;
  let allN = 0;
  for (let round = 0; round < ROUNDS; round++) {
    genN += rate(gen, reqs, SECONDS / ROUNDS);
    allN += rate(all, reqs, SECONDS / ROUNDS);
  }
  const genRate = genN / ROUNDS;
  const allRate = allN / ROUNDS;
  const wire = reqs.map((r) => toBinary(CreateContainerRequestSchema, r));
  let genW = 0;
  let allW = 0;
  for (let round = 0; round < ROUNDS; round++) {
    genW += decodedRate(gen, wire, SECONDS / ROUNDS);
    allW += decodedRate(all, wire, SECONDS / ROUNDS);
  }
  // as deployed: the agent logs every decision at info (one JSON line; here written nowhere)
  const nowhere = { write: (): void => undefined };
  const genL = new PolicyGate(policy, createLogger({ component: 'agent', level: 'info', destination: nowhere }));
  const allL = new PolicyGate(ALLOW_ALL, createLogger({ component: 'agent', level: 'info', destination: nowhere }));
  let genLN = 0;
  let allLN = 0;
  for (let round = 0; round < ROUNDS; round++) {
    genLN += rate(genL, reqs, SECONDS / ROUNDS);
    allLN += rate(allL, reqs, SECONDS / ROUNDS);
  }
  const genT = times(gen, reqs, 200_000);
  const allT = times(all, reqs, 200_000);
  const report = new BenchReport('policy');
  report.add({ figure: 'createcontainer_decisions_per_s_20c', unit: 'decisions/s', value: genRate, peer: 'allow-all-gate', peer_value: allRate, better: 'higher' });
  report.add({ figure: 'createcontainer_decision_mean_us_20c', unit: 'us', value: 1e6 / genRate, peer: 'allow-all-gate', peer_value: 1e6 / allRate, better: 'lower' });
  report.add({ figure: 'createcontainer_decision_p99_us_20c', unit: 'us', value: percentile(genT, 99), peer: 'allow-all-gate', peer_value: percentile(allT, 99), better: 'lower' });
  report.add({ figure: 'createcontainer_decoded_requests_per_s_20c', unit: 'requests/s', value: genW / ROUNDS, peer: 'allow-all-gate', peer_value: allW / ROUNDS, better: 'higher' });
  report.add({ figure: 'createcontainer_logged_decisions_per_s_20c', unit: 'decisions/s', value: genLN / ROUNDS, peer: 'allow-all-gate', peer_value: allLN / ROUNDS, better: 'higher' });
  report.note(`decision time ratio (generated / allow-all) ${(allRate / genRate).toFixed(2)}x; goal <= 1.2x`);
  report.note(`with the agent's info log line per decision ${(allLN / genLN).toFixed(2)}x the allow-all time`);
  report.note(`per request as the agent sees it (protobuf decode + decision) ${(allW / genW).toFixed(2)}x the allow-all time`);
  report.note(`generated policy: ${policy.containers.length} containers, ${policy.containers[0]!.mounts.length} mount rules and ${policy.containers[0]!.env!.length} env patterns each; each request has ${reqs[0]!.OCI!.Mounts.length} mounts and ${reqs[0]!.OCI!.Process!.Env.length} env entries`);
  report.print();
}

main();
