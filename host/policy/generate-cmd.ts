/**
 * `cocolet policy generate [flags] pod.yaml`: prints the agent policy that admits exactly that pod
 * and the init-data annotation to put on it (shared/agent-policy/generate.ts does the work).
 *
 *   --json                     one JSON object: { policy, initdata (TOML), annotation: { key: value }, warnings }
 *   --annotate                 the pod manifest with the annotation added (YAML), instead of the listing
 *   --require-digest           an image given by tag only is an error (default: pinned by tag, with a warning)
 *   --keep-setuid NAME         container NAME keeps setuid/setgid bits of its image (repeatable)
 *   --allow-logs               let the host read the containers' stdout/stderr
 *   --insecure-registry HOST   the guest pulls from HOST over plain HTTP (agent settings; repeatable)
 *
 * Warnings (what could not be pinned) go to stderr. Exit 0, 1 on a pod that cannot be confidential, 2 on usage.
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments, stringify as stringifyYaml } from 'yaml';
import { generatePolicy, podOf } from '../../shared/agent-policy/generate.js';
import { INIT_DATA_ANNOTATION, initdataAnnotation, renderInitdata } from '../../shared/agent-policy/initdata.js';
import { isCocoletError } from '../../shared/errors/errors.js';

export interface PolicyCmdIo {
  out: (s: string) => void;
  err: (s: string) => void;
  readFile?: (path: string) => string;
}

export const POLICY_USAGE = 'usage: cocolet policy generate [--json|--annotate] [--require-digest] [--keep-setuid NAME]... [--allow-logs] [--insecure-registry HOST]... pod.yaml';

function takeAll(args: string[], name: string): string[] | undefined {
  const out: string[] = [];
  for (let i = 0; i < args.length; ) {
    if (args[i] === name) {
      const v = args[i + 1];
      if (v === undefined || v.startsWith('--')) return undefined;
      out.push(v);
      args.splice(i, 2);
    } else if (args[i]!.startsWith(`${name}=`)) {
      out.push(args[i]!.slice(name.length + 1));
      args.splice(i, 1);
    } else i++;
  }
  return out;
}

function takeFlag(args: string[], name: string): boolean {
  const i = args.indexOf(name);
  if (i >= 0) args.splice(i, 1);
  return i >= 0;
}

/** `cocolet policy <subcommand> ...`; returns the exit code. */
export function cmdPolicy(argv: string[], io: PolicyCmdIo): number {
  const [sub, ...args] = argv;
  if (sub !== 'generate') {
    io.err(POLICY_USAGE);
    return sub === undefined || sub === 'help' || sub === '--help' ? 0 : 2;
  }
  const json = takeFlag(args, '--json');
  const annotate = takeFlag(args, '--annotate');
  const requireDigest = takeFlag(args, '--require-digest');
  const allowLogs = takeFlag(args, '--allow-logs');
  const keepSetuid = takeAll(args, '--keep-setuid');
  const insecure = takeAll(args, '--insecure-registry');
  if (!keepSetuid || !insecure || args.length !== 1 || args[0]!.startsWith('--') || (json && annotate)) {
    io.err(POLICY_USAGE);
    return 2;
  }
  const file = args[0]!;
  try {
    const text = (io.readFile ?? ((p: string) => readFileSync(p, 'utf8')))(file);
    const docs = parseAllDocuments(text);
    const pods: unknown[] = [];
    for (const d of docs) {
      if (d.errors.length) throw new Error(`${file}: ${d.errors[0]!.message}`);
      const js = d.toJS() as unknown;
      if (js === null || js === undefined) continue;
      try {
        podOf(js);
        pods.push(js);
      } catch {
        /* not a pod: skipped */
      }
    }
    if (pods.length !== 1) throw new Error(`${file}: ${pods.length === 0 ? 'no Pod or workload with a pod template' : `${pods.length} pods; give one per file`}`);
    const doc = pods[0]!;
    const { policy, warnings } = generatePolicy(doc, { requireDigest, keepSetuid, allowLogs });
    const toml = renderInitdata({ policy, ...(insecure.length ? { settings: { insecureRegistries: insecure } } : {}) });
    const annotation = initdataAnnotation(toml);
    for (const w of warnings) io.err(`warning: ${w}`);
    if (json) {
      io.out(JSON.stringify({ policy, initdata: toml, annotation: { [INIT_DATA_ANNOTATION]: annotation }, warnings }, null, 2));
    } else if (annotate) {
      // the runtime reads the annotation on the pod: a workload carries it on its pod template
      const pod = podOf(doc).pod as { metadata?: { annotations?: Record<string, string> } };
      const meta = (pod.metadata ??= {});
      meta.annotations = { ...meta.annotations, [INIT_DATA_ANNOTATION]: annotation };
      io.out(stringifyYaml(doc).trimEnd());
    } else {
      io.out(`# agent policy (policy.json in the init-data)\n${JSON.stringify(policy, null, 2)}\n\n# init-data (TOML; the guest measures these bytes)\n${toml}\n# pod annotation\n${INIT_DATA_ANNOTATION}: ${annotation}`);
    }
    return 0;
  } catch (e) {
    io.err(`cocolet policy generate: ${isCocoletError(e) ? e.message : e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}
