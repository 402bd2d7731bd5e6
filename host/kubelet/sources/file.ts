/**
 * Static pod source: a directory of manifests (`staticPodPath`), one Pod per file, YAML or JSON.
 * Dot-files and subdirectories are ignored. The directory is watched (fs.watch, debounced) and
 * also rescanned every `fileCheckFrequency`, so adds, changes and removals take effect either
 * way. A broken manifest is reported through `onError` and skipped; it never stops the others.
 *
 * API: `const s = new FileSource({ dir, nodeName, periodMs, onSnapshot, onError }); s.start();`
 * `await s.scan()` (also used by tests); `s.stop()`.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../../shared/log/logger.js';
import { silentLogger } from '../../../shared/log/logger.js';
import { toCocoletError, type CocoletError } from '../../../shared/errors/errors.js';
import { ErrorCode } from '../../../shared/errors/errors.js';
import type { Pod } from '../api/types.js';
import { decodeStaticPod } from '../config/manifest.js';

export interface FileSourceOptions {
  dir: string;
  nodeName: string;
  /** Rescan period (fileCheckFrequency, default 20 s). */
  periodMs: number;
  onSnapshot: (pods: Pod[]) => void;
  /** A manifest that could not be read or decoded. */
  onError?: (path: string, err: CocoletError) => void;
  logger?: Logger;
  /** Debounce for watch events. */
  debounceMs?: number;
}

export class FileSource {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private rescan = false;
  private stopped = false;
  /** Path → last reported error text, so a broken file is reported once per change. */
  private readonly reported = new Map<string, string>();
  private readonly log: Logger;

  constructor(private readonly opts: FileSourceOptions) {
    this.log = opts.logger ?? silentLogger();
  }

  start(): void {
    void this.scan();
    try {
      this.watcher = watch(this.opts.dir, () => this.kick());
      this.watcher.on('error', (e) => this.log.warn({ err: e, dir: this.opts.dir }, 'static pod dir watch failed'));
    } catch (e) {
      this.log.warn({ err: e, dir: this.opts.dir }, 'static pod dir cannot be watched; rescanning only');
    }
    this.timer = setInterval(() => void this.scan(), this.opts.periodMs);
    this.timer.unref();
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.scan(), this.opts.debounceMs ?? 5);
  }

  /** Reads the whole directory once and reports the snapshot. Concurrent calls coalesce. */
  scan(): Promise<void> {
    if (this.scanning) {
      this.rescan = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      try {
        do {
          this.rescan = false;
          const pods = await this.readAll();
          if (pods && !this.stopped) this.opts.onSnapshot(pods);
        } while (this.rescan && !this.stopped);
      } finally {
        this.scanning = undefined;
      }
    })();
    return this.scanning;
  }

  private async readAll(): Promise<Pod[] | undefined> {
    let names: string[];
    try {
      names = (await readdir(this.opts.dir)).sort();
    } catch (e) {
      // A missing directory means no static pods; any other error keeps the previous pods.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      this.log.warn({ err: e, dir: this.opts.dir }, 'static pod dir unreadable; keeping the previous pods');
      return undefined;
    }
    const pods: Pod[] = [];
    const live = new Set<string>();
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const path = join(this.opts.dir, name);
      try {
        const st = await stat(path);
        if (!st.isFile()) continue;
        live.add(path);
        const text = await readFile(path, 'utf8');
        pods.push(decodeStaticPod(text, { source: 'file', origin: path, nodeName: this.opts.nodeName }));
        this.reported.delete(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        const err = toCocoletError(e, ErrorCode.ManifestInvalid, { manifest: path });
        if (this.reported.get(path) !== err.message) {
          this.reported.set(path, err.message);
          this.log.warn({ manifest: path, code: err.code, field: err.context.field, reason: err.message }, 'static pod manifest skipped');
          this.opts.onError?.(path, err);
        }
      }
    }
    for (const p of this.reported.keys()) if (!live.has(p)) this.reported.delete(p);
    return pods;
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
  }
}
