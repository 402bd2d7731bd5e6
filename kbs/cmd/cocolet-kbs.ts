#!/usr/bin/env node
/**
 * cocolet-kbs: the key broker's binary. Subcommands:
 *   verify   verify one piece of attestation evidence offline (see kbs/verify/cli.ts)
 *   serve    the key broker: trustee's KBS protocol over HTTPS (see kbs/server/serve.ts)
 *   admin    the broker's admin API client (see kbs/admin/cli.ts)
 */
import { runVerify } from '../verify/cli.js';
import { runServe } from '../server/serve.js';
import { runAdmin } from '../admin/cli.js';

type Subcommand = (argv: string[], io: { out: (s: string) => void; err: (s: string) => void }) => number | Promise<number>;

const SUBCOMMANDS: Record<string, { run: Subcommand; help: string }> = {
  verify: { run: runVerify, help: 'verify attestation evidence and print the result as JSON' },
  serve: { run: runServe, help: 'run the key broker (RCAR server, admin API)' },
  admin: { run: runAdmin, help: 'set resources, resource policy and reference values on a broker' },
};

function usage(): string {
  return ['usage: cocolet-kbs <command> [options]', '', 'commands:', ...Object.entries(SUBCOMMANDS).map(([n, c]) => `  ${n.padEnd(10)}${c.help}`)].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const io = { out: (s: string) => void process.stdout.write(s + '\n'), err: (s: string) => void process.stderr.write(s + '\n') };
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    (cmd === undefined ? io.err : io.out)(usage());
    return cmd === undefined ? 2 : 0;
  }
  const sub = SUBCOMMANDS[cmd];
  if (!sub) {
    io.err(`cocolet-kbs: unknown command ${cmd}\n${usage()}`);
    return 2;
  }
  return sub.run(rest, io);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`cocolet-kbs: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 3;
  },
);
