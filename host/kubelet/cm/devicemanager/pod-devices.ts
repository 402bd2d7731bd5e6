/**
 * Which devices each container holds, with the plugin's Allocate answer for it
 * (cm/devicemanager/pod_devices.go): pod UID → container → resource → {devices by NUMA node,
 * response}. Converts to and from the checkpoint's entries and merges a container's responses
 * into the options applied to its CRI config (first writer wins on a duplicate env, mount,
 * device, annotation or CDI device, as the kubelet does).
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  ContainerAllocateResponseSchema,
  type ContainerAllocateResponse,
} from '../../../../shared/gen/deviceplugin/v1beta1/api_pb.js';
import type { Logger } from '../../../../shared/log/logger.js';
import type { ResourceRunOptions } from '../../runtime/podspec.js';
import type { PodDeviceEntry } from './checkpoint.js';

export interface Allocation {
  /** NUMA node id ("-1" = none) → device ids. */
  byNuma: Record<string, string[]>;
  response: ContainerAllocateResponse;
}

/** What a container's devices add to its CRI ContainerConfig. */
export type DeviceRunOptions = ResourceRunOptions;

export function idsOf(a: Allocation): Set<string> {
  return new Set(Object.values(a.byNuma).flat());
}

export class PodDevices {
  private readonly pods = new Map<string, Map<string, Map<string, Allocation>>>();

  insert(podUid: string, container: string, resource: string, a: Allocation): void {
    let p = this.pods.get(podUid);
    if (!p) this.pods.set(podUid, (p = new Map()));
    let c = p.get(container);
    if (!c) p.set(container, (c = new Map()));
    c.set(resource, a);
  }

  get(podUid: string, container: string, resource: string): Allocation | undefined {
    return this.pods.get(podUid)?.get(container)?.get(resource);
  }

  containerDevices(podUid: string, container: string, resource: string): Set<string> | undefined {
    const a = this.get(podUid, container, resource);
    return a ? idsOf(a) : undefined;
  }

  /** resource → allocation of one container. */
  container(podUid: string, container: string): Map<string, Allocation> {
    return this.pods.get(podUid)?.get(container) ?? new Map();
  }

  containersOf(podUid: string): string[] {
    return [...(this.pods.get(podUid)?.keys() ?? [])];
  }

  podUids(): string[] {
    return [...this.pods.keys()];
  }

  removeContainer(podUid: string, container: string): boolean {
    const p = this.pods.get(podUid);
    const had = p?.delete(container) ?? false;
    if (p && p.size === 0) this.pods.delete(podUid);
    return had;
  }

  removePod(podUid: string): boolean {
    return this.pods.delete(podUid);
  }

  /** resource → every device held by some container. */
  inUse(): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    for (const p of this.pods.values())
      for (const c of p.values())
        for (const [r, a] of c) {
          let s = out.get(r);
          if (!s) out.set(r, (s = new Set()));
          for (const id of idsOf(a)) s.add(id);
        }
    return out;
  }

  toEntries(): PodDeviceEntry[] {
    const out: PodDeviceEntry[] = [];
    for (const [PodUID, p] of this.pods)
      for (const [ContainerName, c] of p)
        for (const [ResourceName, a] of c) {
          out.push({
            PodUID,
            ContainerName,
            ResourceName,
            DeviceIDs: a.byNuma,
            AllocResp: Buffer.from(toBinary(ContainerAllocateResponseSchema, a.response)).toString('base64'),
          });
        }
    return out;
  }

  /** Restores entries; an entry whose response does not decode is dropped and logged. */
  static fromEntries(entries: PodDeviceEntry[], log: Logger): PodDevices {
    const pd = new PodDevices();
    for (const e of entries) {
      try {
        const response = fromBinary(ContainerAllocateResponseSchema, Buffer.from(e.AllocResp, 'base64'));
        pd.insert(e.PodUID, e.ContainerName, e.ResourceName, { byNuma: e.DeviceIDs, response });
      } catch (err) {
        log.warn({ podUid: e.PodUID, container: e.ContainerName, resource: e.ResourceName, err: (err as Error).message }, 'device checkpoint entry dropped: AllocResp does not decode');
      }
    }
    return pd;
  }

  runOptions(podUid: string, container: string): DeviceRunOptions | undefined {
    const allocs = this.container(podUid, container);
    if (allocs.size === 0) return undefined;
    const o: DeviceRunOptions = { envs: [], mounts: [], devices: [], annotations: {}, cdiDevices: [] };
    const envs = new Set<string>();
    const mounts = new Set<string>();
    const devices = new Set<string>();
    const cdi = new Set<string>();
    for (const resource of [...allocs.keys()].sort()) {
      const r = allocs.get(resource)!.response;
      for (const k of Object.keys(r.envs).sort()) {
        if (envs.has(k)) continue;
        envs.add(k);
        o.envs.push({ key: k, value: r.envs[k]! });
      }
      for (const m of r.mounts) {
        if (mounts.has(m.containerPath)) continue;
        mounts.add(m.containerPath);
        o.mounts.push({ containerPath: m.containerPath, hostPath: m.hostPath, readonly: m.readOnly });
      }
      for (const d of r.devices) {
        if (devices.has(d.containerPath)) continue;
        devices.add(d.containerPath);
        o.devices.push({ containerPath: d.containerPath, hostPath: d.hostPath, permissions: d.permissions });
      }
      for (const [k, v] of Object.entries(r.annotations)) if (!(k in o.annotations)) o.annotations[k] = v;
      for (const c of r.cdiDevices) {
        if (cdi.has(c.name)) continue;
        cdi.add(c.name);
        o.cdiDevices.push(c.name);
      }
    }
    return o;
  }
}
