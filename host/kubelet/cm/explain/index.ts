/**
 * `cocolet explain <what>`: what-if tools for operators. Each reads one JSON document on standard
 * input and prints one JSON answer on standard output. A tool registers here by name; its module is
 * loaded only when asked for, so the command stays cheap.
 *
 * A tool returns its answer, or throws; a thrown error is printed as `{"error": "..."}` with exit
 * status 1 (bad input is the usual cause, and the message names what was wrong).
 */

/** One what-if tool: parsed JSON input -> JSON-serialisable answer. */
export type ExplainTool = (input: unknown) => unknown;

interface ToolEntry {
  summary: string;
  load: () => Promise<ExplainTool>;
}

/**
 * name -> tool. Add one entry per tool, alphabetical, loading its module lazily, e.g.
 *   cpus: { summary: 'exclusive CPUs the static policy would pick', load: async () => (await import('../cpumanager/explain.js')).explainCpus },
 */
const TOOLS: Record<string, ToolEntry> = {
  cpus: { summary: 'exclusive CPUs the static CPU manager policy would pick', load: async () => (await import('./cpus.js')).explainCpus },
  eviction: {
    summary: 'eviction thresholds in effect, and the order pods would be evicted in under a signal',
    load: async () => (await import('../../eviction/explain.js')).explainEviction,
  },
  topology: {
    summary: 'the topology manager\'s merged NUMA hint and admission for given provider hints',
    load: async () => (await import('../topologymanager/explain.js')).explainTopology,
  },
};

/** Registers a tool; used by the table below and by tests. Throws on a duplicate name. */
export function registerExplainTool(name: string, entry: ToolEntry): void {
  if (Object.hasOwn(TOOLS, name)) throw new Error(`explain tool ${name} registered twice`);
  TOOLS[name] = entry;
}

export function explainToolNames(): string[] {
  return Object.keys(TOOLS).sort();
}

export function explainUsage(): string {
  const lines = explainToolNames().map((n) => `  cocolet explain ${n} < input.json   ${TOOLS[n]!.summary}`);
  return ['usage:', ...(lines.length ? lines : ['  (no explain tools registered)'])].join('\n');
}

export interface ExplainIo {
  /** Reads all of standard input. */
  readStdin: () => Promise<string>;
  out: (s: string) => void;
  err: (s: string) => void;
}

export async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
  return Buffer.concat(chunks).toString('utf8');
}

/** Runs `cocolet explain <args>`; returns the exit status. */
export async function cmdExplain(args: string[], io: ExplainIo): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === 'help' || name === '--help') {
    io.out(explainUsage());
    return name === undefined ? 2 : 0;
  }
  const entry = Object.hasOwn(TOOLS, name) ? TOOLS[name] : undefined;
  if (!entry) {
    io.err(`cocolet explain: unknown tool ${JSON.stringify(name)}; known: ${explainToolNames().join(', ') || 'none'}`);
    return 2;
  }
  if (rest.length) {
    io.err(`cocolet explain ${name}: unexpected arguments: ${rest.join(' ')} (the input is read from standard input)`);
    return 2;
  }
  const text = await io.readStdin();
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (e) {
    io.out(JSON.stringify({ error: `input is not JSON: ${e instanceof Error ? e.message : String(e)}` }));
    return 1;
  }
  try {
    const tool = await entry.load();
    io.out(JSON.stringify(tool(input)));
    return 0;
  } catch (e) {
    io.out(JSON.stringify({ error: e instanceof Error ? e.message : String(e) }));
    return 1;
  }
}
