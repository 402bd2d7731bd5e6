/**
 * Guest RAM bound to host NUMA nodes: the kubelet's memory manager grants a confidential pod NUMA
 * nodes (its containers' cpuset.mems); a VM's guest RAM is one QEMU memory backend, so it is bound
 * with `host-nodes=<list>,policy=bind` on that backend (QEMU mbind()s the whole range before the
 * guest runs). The nodes are checked against the host first: QEMU's own refusal of a missing node
 * is a bare `cannot bind memory to host NUMA nodes: Invalid argument`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';

/** QEMU's limit for host-nodes (MAX_NODES). */
export const QEMU_MAX_HOST_NODE = 127;

/** Parses a Linux list (`0-2,4`) strictly; an error names the bad element. */
export function parseNodeList(text: string, what = 'NUMA node list'): number[] {
  const out = new Set<number>();
  const s = text.trim();
  if (!s) return [];
  for (const el of s.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(el.trim());
    if (!m) throw new CocoletError(ErrorCode.InvalidArgument, `${what}: element ${JSON.stringify(el)} is not a number or a range`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new CocoletError(ErrorCode.InvalidArgument, `${what}: range ${JSON.stringify(el)} ends before it starts`);
    if (hi > QEMU_MAX_HOST_NODE) throw new CocoletError(ErrorCode.InvalidArgument, `${what}: NUMA node ${hi} is beyond ${QEMU_MAX_HOST_NODE}`);
    for (let n = lo; n <= hi; n++) out.add(n);
  }
  return [...out].sort((a, b) => a - b);
}

/** QEMU's host-nodes words: one `host-nodes=` per range (`host-nodes=0-2,host-nodes=4`; QEMU repeats a list key). */
export function qemuHostNodes(nodes: readonly number[]): string {
  const sorted = [...new Set(nodes)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(`host-nodes=${i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** The host's NUMA nodes with memory (`<sysfs>/devices/system/node/has_memory`, else `online`). */
export function hostMemoryNodes(sysfsRoot = '/sys'): number[] {
  const dir = join(sysfsRoot, 'devices/system/node');
  for (const f of ['has_memory', 'online']) {
    try {
      return parseNodeList(readFileSync(join(dir, f), 'utf8'), `${dir}/${f}`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  return [0]; // a kernel without NUMA: one node, 0
}

/**
 * Refuses nodes the host does not have (or that have no memory), naming them, before QEMU runs.
 * Returns the nodes sorted and deduplicated.
 */
export function checkHostNodes(nodes: readonly number[], o: { sysfsRoot?: string; sandbox?: string } = {}): number[] {
  const want = [...new Set(nodes)].sort((a, b) => a - b);
  if (want.length === 0) throw new CocoletError(ErrorCode.InvalidArgument, 'guest memory binding: no NUMA node given', { context: o.sandbox ? { sandbox: o.sandbox } : {} });
  const have = new Set(hostMemoryNodes(o.sysfsRoot));
  const missing = want.filter((n) => !have.has(n));
  if (missing.length) {
    const list = [...have].sort((a, b) => a - b).join(',');
    throw new CocoletError(
      ErrorCode.InvalidArgument,
      `guest memory cannot be bound to NUMA node${missing.length > 1 ? 's' : ''} ${missing.join(',')}: this host has no such node with memory (its NUMA nodes: ${list})`,
      { context: { numaNodes: missing.join(','), ...(o.sandbox ? { sandbox: o.sandbox } : {}) } },
    );
  }
  return want;
}

/** The `-object` word of a RAM backend bound to `nodes` (the machine names it with memory-backend=). */
export function boundRamBackend(o: { id: string; type: 'memory-backend-ram' | 'memory-backend-memfd'; memoryMiB: number; nodes: readonly number[]; extra?: string }): string {
  return [o.type, `id=${o.id}`, `size=${o.memoryMiB}M`, ...(o.extra ? [o.extra] : []), qemuHostNodes(o.nodes), 'policy=bind'].join(',');
}
