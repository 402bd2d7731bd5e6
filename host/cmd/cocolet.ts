#!/usr/bin/env node
/**
 * The `cocolet` command.
 *
 *   cocolet up [--once|--exit-when-running] [--state-dir DIR] [--timeout SECONDS]
 *              [--no-confidential | --confidential (a missing prerequisite is an error)]
 *              [--shim-dir DIR] [--container-runtime-endpoint SOCK]
 *              [--kubeconfig FILE [--bootstrap-kubeconfig FILE] [--node-name N] [--node-ip IP] [--address IP]]
 *   cocolet cluster up [--once] [--state-dir DIR] [--node-name N] [--no-confidential] ...
 *   cocolet kubelet [kubelet flags: --config, --pod-manifest-path, --container-runtime-endpoint,
 *              --root-dir, --node-name, --kubeconfig, --runtime-class-handler name=handler, ...]
 *   cocolet status [--root-dir DIR] [--json]
 *   cocolet logs [--root-dir DIR] [--previous] [--tail N] [--timestamps] <pod> [<container>]
 *   cocolet policy generate [--json|--annotate] [--require-digest] ... pod.yaml
 *   cocolet explain <tool> < input.json   (what-if tools: host/kubelet/cm/explain)
 *
 * `--state-dir` defaults to $COCOLET_STATE_DIR or /var/lib/cocolet; for status/logs the root dir
 * defaults to <state-dir>/kubelet (what `up` uses).
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../shared/log/logger.js';
import { isCocoletError } from '../../shared/errors/errors.js';
import { up, DEFAULT_STATE_DIR, DEFAULT_UP_TIMEOUT_MS } from '../node/up.js';
import { cmdLogs, cmdStatus } from '../kubelet/cli/inspect.js';
import { parseKubeletFlags, resolveSettings } from '../kubelet/config/flags.js';
import { runKubelet } from '../node/kubelet.js';

function repoRoot(): string {
  if (process.env.COCOLET_ROOT) return resolve(process.env.COCOLET_ROOT);
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 10; i++) {
    if (existsSync(join(d, 'package.json'))) return d;
    d = dirname(d);
  }
  return process.cwd();
}

const out = (s: string): void => void process.stdout.write(`${s}\n`);

const USAGE = `usage:
  cocolet up [--once|--exit-when-running] [--state-dir DIR] [--timeout SECONDS]
             [--no-confidential | --confidential] [--shim-dir DIR] [--container-runtime-endpoint SOCK]
      a standalone node running the example pods (standard + confidential) until Ctrl-C
  cocolet up --kubeconfig FILE [--bootstrap-kubeconfig FILE] [--node-name N] [--node-ip IP] [--address IP] ...
      this machine as a node of the cluster of FILE (pods come from the API server)
  cocolet cluster up [--once] [--state-dir DIR] [--node-name N] [--node-monitor-grace-period 50s] ...
      a local control plane (scripts/build-cluster's binaries) with this machine joined to it
  cocolet kubelet [--config FILE] [--pod-manifest-path DIR] [--container-runtime-endpoint unix://SOCK]
                  [--root-dir DIR] [--node-name NAME] [--kubeconfig FILE] [--runtime-class-handler NAME=HANDLER] ...
      the kubelet alone, with the upstream flag names
  cocolet status [--root-dir DIR] [--json]
  cocolet logs [--root-dir DIR] [--previous] [--tail N] [--timestamps] <pod> [<container>]
  cocolet policy generate [--json|--annotate] [--require-digest] [--keep-setuid NAME]... [--allow-logs]
                          [--insecure-registry HOST]... pod.yaml
      the guest agent policy admitting exactly that pod, and its init-data annotation
  cocolet explain <tool> < input.json
      what-if answers of the resource managers as JSON (\`cocolet explain help\` lists the tools)
--state-dir defaults to $COCOLET_STATE_DIR or /var/lib/cocolet; status and logs read <state-dir>/kubelet.`;

function takeFlag(args: string[], name: string): boolean {
  const i = args.indexOf(name);
  if (i < 0) return false;
  args.splice(i, 1);
  return true;
}

function takeValue(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === name) {
      const v = args[i + 1];
      args.splice(i, 2);
      return v;
    }
    if (a.startsWith(`${name}=`)) {
      args.splice(i, 1);
      return a.slice(name.length + 1);
    }
  }
  return undefined;
}

function signalController(): AbortController {
  const ac = new AbortController();
  const onSig = (): void => {
    if (ac.signal.aborted) process.exit(130);
    ac.abort();
  };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  return ac;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  const stateDir = takeValue(args, '--state-dir') ?? process.env.COCOLET_STATE_DIR ?? DEFAULT_STATE_DIR;
  switch (cmd) {
    case 'cluster':
    case 'up': {
      const sub = cmd === 'cluster' ? (args.shift() === 'up' ? 'cluster' : 'bad') : undefined;
      if (sub === 'bad') {
        out('usage: cocolet cluster up [--once] [--state-dir DIR] [--node-name N] [--node-monitor-grace-period 50s] [up flags]');
        return 2;
      }
      const once = takeFlag(args, '--once') || takeFlag(args, '--exit-when-running');
      const noConfidential = takeFlag(args, '--no-confidential');
      const requireConfidential = takeFlag(args, '--confidential');
      if (noConfidential && requireConfidential) {
        out('cocolet up: --confidential and --no-confidential exclude each other');
        return 2;
      }
      const timeout = takeValue(args, '--timeout');
      const shimDir = takeValue(args, '--shim-dir') ?? process.env.COCOLET_SHIM_DIR;
      const endpoint = takeValue(args, '--container-runtime-endpoint');
      const kubeconfig = takeValue(args, '--kubeconfig');
      const bootstrapKubeconfig = takeValue(args, '--bootstrap-kubeconfig');
      const nodeName = takeValue(args, '--node-name');
      const nodeIp = takeValue(args, '--node-ip');
      const address = takeValue(args, '--address');
      const grace = sub === 'cluster' ? takeValue(args, '--node-monitor-grace-period') : undefined;
      if (args.length) {
        out(`cocolet ${cmd}: unknown arguments: ${args.join(' ')}`);
        return 2;
      }
      if (bootstrapKubeconfig && !kubeconfig) {
        out('cocolet up: --bootstrap-kubeconfig needs --kubeconfig (where the issued credentials go)');
        return 2;
      }
      if (sub === 'cluster' && (kubeconfig || nodeIp || address)) {
        out('cocolet cluster up: --kubeconfig, --node-ip and --address are chosen by cluster up');
        return 2;
      }
      const ac = signalController();
      const logger = createLogger({ component: 'kubelet', level: process.env.COCOLET_LOG_LEVEL ?? 'warn' });
      const common = {
        stateDir: resolve(stateDir),
        root: repoRoot(),
        once,
        confidential: !noConfidential,
        requireConfidential,
        timeoutMs: timeout ? Number(timeout) * 1000 : DEFAULT_UP_TIMEOUT_MS,
        ...(shimDir ? { shimDir: resolve(shimDir) } : {}),
        shimBinary: join(dirname(fileURLToPath(import.meta.url)), 'containerd-shim-cocolet-v2.cjs'), // the bundle npm run build makes
        ...(endpoint ? { endpoint } : {}),
        ...(nodeName ? { nodeName } : {}),
        out,
        signal: ac.signal,
        logger,
      };
      if (sub === 'cluster') {
        const { clusterUp } = await import('../node/cluster.js');
        return clusterUp({ ...common, ...(grace ? { nodeMonitorGracePeriod: grace } : {}) });
      }
      return up({
        ...common,
        ...(kubeconfig ? { kubeconfig: resolve(kubeconfig) } : {}),
        ...(bootstrapKubeconfig ? { bootstrapKubeconfig: resolve(bootstrapKubeconfig) } : {}),
        ...(nodeIp ? { nodeIp } : {}),
        ...(address ? { address } : {}),
      });
    }
    case 'kubelet': {
      const { flags, rest } = parseKubeletFlags(args);
      if (rest.length) {
        out(`cocolet kubelet: unexpected arguments: ${rest.join(' ')}`);
        return 2;
      }
      return runKubelet(resolveSettings(flags), signalController().signal);
    }
    case 'status': {
      const rootDir = takeValue(args, '--root-dir') ?? join(stateDir, 'kubelet');
      return cmdStatus(rootDir, takeFlag(args, '--json'), out);
    }
    case 'logs': {
      const rootDir = takeValue(args, '--root-dir') ?? join(stateDir, 'kubelet');
      const previous = takeFlag(args, '--previous') || takeFlag(args, '-p');
      const timestamps = takeFlag(args, '--timestamps');
      const tail = takeValue(args, '--tail');
      const [pod, container] = args;
      if (!pod) {
        out('usage: cocolet logs [--root-dir DIR] [--previous] [--tail N] <pod> [<container>]');
        return 2;
      }
      return cmdLogs({ rootDir, pod, ...(container ? { container } : {}), previous, timestamps, ...(tail ? { tail: Number(tail) } : {}) }, out);
    }
    case 'policy': {
      const { cmdPolicy } = await import('../policy/generate-cmd.js');
      return cmdPolicy(args, { out, err: (s) => void process.stderr.write(`${s}\n`) });
    }
    case 'explain': {
      const { cmdExplain, readAll } = await import('../kubelet/cm/explain/index.js');
      return cmdExplain(args, { readStdin: () => readAll(process.stdin), out, err: (s) => void process.stderr.write(`${s}\n`) });
    }
    default:
      out(USAGE);
      return cmd === undefined || cmd === 'help' || cmd === '--help' ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    out(`cocolet: ${isCocoletError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
