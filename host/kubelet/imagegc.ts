/**
 * Image garbage collection (kl/images/image_gc_manager.go) with the kubelet's thresholds: every
 * 5 min, when image filesystem usage ≥ imageGCHighThresholdPercent (85), delete images not used
 * by any container, least recently used first, skipping pinned ones and those first seen less
 * than imageMinimumGCAge (2 min) ago, until usage ≤ imageGCLowThresholdPercent (80):
 * bytes to free = usage − capacity × low / 100. imageMaximumGCAge (> 0) also removes images
 * unused for that long, whatever the usage.
 *
 * API: `new ImageGc({ images, runtime, clock, capacityOf, ... })`; `await collect()` →
 * `{ freedBytes, removed }`. `capacityOf(mountpoint)` defaults to statfs.
 */
import { statfsSync } from 'node:fs';
import type { Logger } from '../../shared/log/logger.js';
import { silentLogger } from '../../shared/log/logger.js';
import type { CriImages, CriRuntime } from '../cri/api.js';
import type { Clock } from './clock.js';

export interface ImageGcPolicy {
  highThresholdPercent: number;
  lowThresholdPercent: number;
  minAgeMs: number;
  /** 0 = off */
  maxAgeMs: number;
}

export interface ImageGcOptions {
  images: CriImages;
  runtime: CriRuntime;
  clock: Clock;
  policy: ImageGcPolicy;
  /** Image refs never removed (e.g. the sandbox image). */
  pinned?: string[];
  capacityOf?: (mountpoint: string) => number;
  logger?: Logger;
}

interface Record {
  firstDetected: number;
  lastUsed: number;
  size: number;
  tags: string[];
}

export class ImageGc {
  private readonly records = new Map<string, Record>();
  private readonly log: Logger;

  constructor(private readonly o: ImageGcOptions) {
    this.log = o.logger ?? silentLogger();
  }

  /** Refreshes the known images and their last use; returns ids in use. */
  private async detect(): Promise<Set<string>> {
    const now = this.o.clock.now();
    const [images, containers] = await Promise.all([this.o.images.listImages(), this.o.runtime.listContainers()]);
    const used = new Set<string>();
    for (const c of containers) {
      if (c.imageRef) used.add(c.imageRef);
      if (c.image?.image) used.add(c.image.image);
    }
    const live = new Set<string>();
    for (const img of images) {
      live.add(img.id);
      const r = this.records.get(img.id) ?? { firstDetected: now, lastUsed: 0, size: Number(img.size), tags: img.repoTags };
      r.size = Number(img.size);
      r.tags = img.repoTags;
      if (used.has(img.id) || img.repoTags.some((t) => used.has(t))) r.lastUsed = now;
      this.records.set(img.id, r);
    }
    for (const id of this.records.keys()) if (!live.has(id)) this.records.delete(id);
    return new Set([...this.records.entries()].filter(([, r]) => r.lastUsed === now).map(([id]) => id));
  }

  /** One GC round; `all` frees every unused image old enough, whatever the usage (eviction's reclaim). */
  async collect(opts: { all?: boolean } = {}): Promise<{ freedBytes: number; removed: string[] }> {
    const inUse = await this.detect();
    const now = this.o.clock.now();
    const p = this.o.policy;
    const pinned = new Set(this.o.pinned ?? []);
    const candidates = [...this.records.entries()]
      .filter(([id, r]) => !inUse.has(id) && !pinned.has(id) && !r.tags.some((t) => pinned.has(t)))
      .filter(([, r]) => now - r.firstDetected >= p.minAgeMs)
      .sort((a, b) => a[1].lastUsed - b[1].lastUsed || a[1].firstDetected - b[1].firstDetected);
    let toFree = opts.all ? Infinity : 0;
    const fs = (await this.o.images.imageFsInfo?.()) ?? [];
    const f = fs[0];
    if (f && !opts.all) {
      const capacity = (this.o.capacityOf ?? defaultCapacity)(f.mountpoint);
      if (capacity > 0 && (f.usedBytes * 100) / capacity >= p.highThresholdPercent) {
        toFree = f.usedBytes - (capacity * p.lowThresholdPercent) / 100;
      }
    }
    let freed = 0;
    const removed: string[] = [];
    for (const [id, r] of candidates) {
      const tooOld = p.maxAgeMs > 0 && now - Math.max(r.lastUsed, r.firstDetected) > p.maxAgeMs;
      if (freed >= toFree && !tooOld) continue;
      try {
        await this.o.images.removeImage(id);
        this.records.delete(id);
        freed += r.size;
        removed.push(id);
      } catch (e) {
        this.log.warn({ image: id, err: e }, 'image gc remove failed');
      }
    }
    if (removed.length) this.log.info({ removed: removed.length, freedBytes: freed }, 'image gc');
    return { freedBytes: freed, removed };
  }
}

function defaultCapacity(mountpoint: string): number {
  try {
    const s = statfsSync(mountpoint || '/');
    return s.blocks * s.bsize;
  } catch {
    return 0;
  }
}
