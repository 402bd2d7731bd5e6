/**
 * Command line of a containerd runtime v2 shim: Go `flag`-style single-dash long flags followed by
 * an action. containerd 1.6 sends `-namespace -address -publish-binary -id [-debug] start` and
 * `... -id -bundle [-debug] delete`; the daemon this shim forks gets `serve`.
 */
import { CocoletError, ErrorCode } from '../../shared/errors/errors.js';

export type ShimAction = 'start' | 'delete' | 'serve' | 'version' | 'help';

export interface ShimFlags {
  namespace: string;
  address: string;
  publishBinary: string;
  id: string;
  bundle: string;
  socket: string;
  debug: boolean;
  action: ShimAction;
}

const STRING_FLAGS = { namespace: 'namespace', address: 'address', 'publish-binary': 'publishBinary', id: 'id', bundle: 'bundle', socket: 'socket' } as const;
const BOOL_FLAGS = new Set(['debug', 'v', 'version', 'h', 'help', 'info']);
const ACTIONS = new Set(['start', 'delete', 'serve']);

/** Parses argv (without node and script). Accepts `-x v`, `-x=v`, `--x v` like Go's flag package. */
export function parseShimFlags(argv: readonly string[]): ShimFlags {
  const out: ShimFlags = { namespace: '', address: '', publishBinary: '', id: '', bundle: '', socket: '', debug: false, action: 'help' };
  let action: ShimAction | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-' || arg === '--') {
      if (!ACTIONS.has(arg)) throw new CocoletError(ErrorCode.InvalidArgument, `unknown action ${JSON.stringify(arg)} (want start, delete)`);
      if (action) throw new CocoletError(ErrorCode.InvalidArgument, 'more than one action given');
      action = arg as ShimAction;
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const inline = eq >= 0 ? body.slice(eq + 1) : undefined;
    if (BOOL_FLAGS.has(name)) {
      const v = inline === undefined ? true : !['false', '0', 'f', 'F', 'FALSE'].includes(inline);
      if (name === 'debug') out.debug = v;
      else if (v && (name === 'v' || name === 'version')) action ??= 'version';
      else if (v && (name === 'h' || name === 'help')) action ??= 'help';
      else if (v && name === 'info') throw new CocoletError(ErrorCode.Unimplemented, '-info is not supported by this shim');
      continue;
    }
    const key = (STRING_FLAGS as Record<string, keyof ShimFlags>)[name];
    if (!key) throw new CocoletError(ErrorCode.InvalidArgument, `flag provided but not defined: -${name}`);
    let value = inline;
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new CocoletError(ErrorCode.InvalidArgument, `flag needs an argument: -${name}`);
      value = argv[++i]!;
    }
    (out as unknown as Record<string, string>)[key] = value;
  }
  out.action = action ?? 'help';
  if (out.action === 'start' || out.action === 'delete' || out.action === 'serve') {
    for (const k of ['namespace', 'id'] as const) {
      if (!out[k]) throw new CocoletError(ErrorCode.InvalidArgument, `-${k} is required for ${out.action}`);
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(out.id)) throw new CocoletError(ErrorCode.InvalidArgument, 'invalid -id');
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,75}$/.test(out.namespace)) throw new CocoletError(ErrorCode.InvalidArgument, 'invalid -namespace');
  }
  return out;
}

/** The argv the forked daemon gets (same identity, action `serve`). */
export function serveArgv(f: ShimFlags, bundle: string, socket: string): string[] {
  const a = ['-namespace', f.namespace, '-id', f.id, '-address', f.address, '-bundle', bundle, '-socket', socket];
  if (f.publishBinary) a.push('-publish-binary', f.publishBinary);
  if (f.debug) a.push('-debug');
  a.push('serve');
  return a;
}

export const USAGE = `usage: containerd-shim-cocolet-v2 -namespace NS -address ADDR -publish-binary BIN -id ID [-bundle DIR] [-debug] start|delete
       containerd-shim-cocolet-v2 -v`;
