/**
 * The kubelet's calls to the API server, behind the small interfaces their users own (PodApi for
 * the status writer, mirror pods and events; ApiObjects for the volumes), implemented with
 * @kubernetes/client-node. Every call is one the Node authorizer allows a `system:node:<name>`
 * (kube-apiserver `--authorization-mode=Node,RBAC` + NodeRestriction).
 *
 * API: `kubeClient(kubeconfig)` → PodApi & ApiObjects; errors' HTTP status: `httpStatusOf` (reflector.ts).
 */
import * as k8s from '@kubernetes/client-node';
import type { ApiObjects } from '../volumes/apivolumes.js';
import { httpStatusOf } from './reflector.js';

export interface ObjectRef {
  namespace: string;
  name: string;
}

/** Pod-level writes the kubelet makes. Errors carry the HTTP status (`httpStatusOf`). */
export interface PodApi {
  /** Strategic-merge PATCH of `pods/<name>/status`. */
  patchPodStatus(ref: ObjectRef, patch: object): Promise<void>;
  /** DELETE with gracePeriodSeconds and a uid precondition. */
  deletePod(ref: ObjectRef, o: { gracePeriodSeconds: number; uid: string }): Promise<void>;
  createPod(namespace: string, pod: object): Promise<{ uid: string }>;
  createEvent(namespace: string, event: object): Promise<void>;
  patchEvent(ref: ObjectRef, patch: object): Promise<void>;
  /** The node's uid and addresses (a node may read its own Node). */
  getNode(name: string): Promise<{ uid: string; addresses: { type: string; address: string }[] }>;
}

const strategic = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch);
const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const toPlain = <T>(o: unknown): T => JSON.parse(JSON.stringify(o)) as T;

/** undefined on 404, the error otherwise. */
async function orNotFound<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (httpStatusOf(e) === 404) return undefined;
    throw e;
  }
}

export function kubeClient(kc: k8s.KubeConfig): PodApi & ApiObjects {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  return {
    async patchPodStatus(ref, patch) {
      await core.patchNamespacedPodStatus({ ...ref, body: patch }, strategic);
    },
    async deletePod(ref, o) {
      await core.deleteNamespacedPod({ ...ref, gracePeriodSeconds: o.gracePeriodSeconds, body: { gracePeriodSeconds: o.gracePeriodSeconds, preconditions: { uid: o.uid } } });
    },
    async createPod(namespace, pod) {
      const r = await core.createNamespacedPod({ namespace, body: pod as k8s.V1Pod });
      return { uid: r.metadata?.uid ?? '' };
    },
    async createEvent(namespace, event) {
      await core.createNamespacedEvent({ namespace, body: event as k8s.CoreV1Event });
    },
    async patchEvent(ref, patch) {
      await core.patchNamespacedEvent({ ...ref, body: patch }, merge);
    },
    async getNode(name) {
      const n = await core.readNode({ name });
      return { uid: n.metadata?.uid ?? '', addresses: (n.status?.addresses ?? []).map((a) => ({ type: a.type, address: a.address })) };
    },
    async getConfigMap(namespace, name) {
      const cm = await orNotFound(core.readNamespacedConfigMap({ namespace, name }));
      return cm ? toPlain<{ data?: Record<string, string>; binaryData?: Record<string, string> }>({ data: cm.data, binaryData: cm.binaryData }) : undefined;
    },
    async getSecret(namespace, name) {
      const s = await orNotFound(core.readNamespacedSecret({ namespace, name }));
      return s ? { ...(s.data ? { data: s.data } : {}) } : undefined;
    },
    async requestToken(namespace, serviceAccount, spec) {
      const r = await core.createNamespacedServiceAccountToken({
        namespace,
        name: serviceAccount,
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: spec.audiences, expirationSeconds: spec.expirationSeconds, boundObjectRef: spec.boundObjectRef } },
      });
      const exp = r.status?.expirationTimestamp as unknown;
      return { token: r.status?.token ?? '', expirationTimestamp: exp instanceof Date ? exp.toISOString() : String(exp ?? '') };
    },
  };
}
