/**
 * Builds the Go ttrpc peer (e2e/ttrpc/gopeer, module mode against the real
 * github.com/containerd/ttrpc) once and caches the binary under `.cache/ttrpc-gopeer/<source hash>/`.
 * Used by the interop tests and the benchmark.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: $COCOLET_ROOT or the nearest folder above this file with package.json. */
export function repoRoot(): string {
  if (process.env.COCOLET_ROOT) return process.env.COCOLET_ROOT;
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 10; i++) {
    if (existsSync(join(d, 'package.json'))) return d;
    d = dirname(d);
  }
  throw new Error('repository root not found (set COCOLET_ROOT)');
}

/** Oldest go command that can build the peer (1.21+ fetches the newer toolchain go.mod asks for). */
const MIN_GO = [1, 21];

function goVersion(go: string): number[] | undefined {
  const r = spawnSync(go, ['env', 'GOVERSION'], { encoding: 'utf8' });
  const m = r.status === 0 ? /go(\d+)\.(\d+)/.exec(r.stdout) : null;
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/**
 * A go command new enough for the peer: $COCOLET_GO, else `go` on PATH, else the upstream
 * install location (/usr/local/go), which Debian's older golang package may shadow.
 */
export function goCommand(): { go?: string; why?: string } {
  const candidates = process.env.COCOLET_GO ? [process.env.COCOLET_GO] : ['go', '/usr/local/go/bin/go'];
  let found: string | undefined;
  for (const go of candidates) {
    const v = goVersion(go);
    if (!v) continue;
    found = `${go} is go${v.join('.')}`;
    if (v[0]! > MIN_GO[0]! || (v[0] === MIN_GO[0] && v[1]! >= MIN_GO[1]!)) return { go };
  }
  return { why: found ? `${found}; the ttrpc peer needs go >= ${MIN_GO.join('.')}` : 'go toolchain not found (set COCOLET_GO)' };
}

export interface GoPeerBuild {
  binary?: string;
  /** Why there is no binary (one line). */
  skip?: string;
}

/** Builds (or finds the cached) Go peer. Never throws: reports why it could not build. */
export function buildGoPeer(): GoPeerBuild {
  const { go, why } = goCommand();
  if (!go) return { skip: why ?? 'go toolchain not found' };
  const root = repoRoot();
  const src = join(root, 'e2e', 'ttrpc', 'gopeer');
  const h = createHash('sha256');
  for (const f of readdirSync(src).filter((n) => n.endsWith('.go') || n === 'go.mod' || n === 'go.sum').sort()) {
    h.update(f).update(readFileSync(join(src, f)));
  }
  const outDir = join(root, '.cache', 'ttrpc-gopeer', h.digest('hex').slice(0, 16));
  const binary = join(outDir, 'gopeer');
  if (existsSync(binary)) return { binary };
  mkdirSync(outDir, { recursive: true });
  const tmp = `${binary}.tmp${process.pid}`;
  const goHome = join(root, '.cache', 'go');
  const r = spawnSync(go, ['build', '-o', tmp, '.'], {
    cwd: src,
    encoding: 'utf8',
    env: { ...process.env, GOFLAGS: '-mod=mod', GOPATH: join(goHome, 'path'), GOCACHE: join(goHome, 'cache'), CGO_ENABLED: '0' },
    timeout: 300_000,
  });
  if (r.status !== 0) return { skip: `go build of the ttrpc peer failed: ${(r.stderr || r.error?.message || '').split('\n').filter(Boolean).slice(-1)[0] ?? 'unknown error'}` };
  renameSync(tmp, binary);
  return { binary };
}
