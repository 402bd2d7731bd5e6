/** Pod builders for the CPU manager's tests. */
import type { Container, Pod } from '../../api/types.js';

export function container(name: string, request?: string, limit?: string, extra: Partial<Container> = {}): Container {
  const c: Container = { name, image: 'busybox', ...extra };
  if (request !== undefined || limit !== undefined) {
    c.resources = {
      ...(request !== undefined ? { requests: { cpu: request, memory: '1G' } } : {}),
      ...(limit !== undefined ? { limits: { cpu: limit, memory: '1G' } } : {}),
    };
  }
  return c;
}

/** A pod with one container `name` asking for request/limit CPUs (Guaranteed iff equal). */
export function makePod(uid: string, name: string, request: string, limit: string): Pod {
  return { metadata: { name: `pod-${uid}`, namespace: 'default', uid }, spec: { containers: [container(name, request, limit)] } };
}

export function multiContainerPod(uid: string, init: Container[], apps: Container[], runtimeClassName?: string): Pod {
  return {
    metadata: { name: `pod-${uid}`, namespace: 'default', uid },
    spec: { initContainers: init, containers: apps, ...(runtimeClassName ? { runtimeClassName } : {}) },
  };
}
