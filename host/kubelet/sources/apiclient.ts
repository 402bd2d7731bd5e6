/**
 * The kubelet's calls to the API server, behind the small interfaces their users own (PodApi for
 * the status writer, mirror pods and events; ApiObjects for the volumes), on the plain JSON client
 * (../client/rest.ts). Every call is one the Node authorizer allows a `system:node:<name>`
 * (kube-apiserver `--authorization-mode=Node,RBAC` + NodeRestriction).
 *
 * API: `kubeClient(restClient)` → PodApi & ApiObjects; errors' HTTP status: `httpStatusOf` (reflector.ts).
 */
import type { ApiObjects } from '../volumes/apivolumes.js';
import { isNotFound, type RestClient } from '../client/rest.js';

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

const seg = encodeURIComponent;
const ns = (namespace: string, resource: string, name?: string): string => `/api/v1/namespaces/${seg(namespace)}/${resource}${name === undefined ? '' : `/${seg(name)}`}`;

/** undefined on 404, the error otherwise. */
async function orNotFound<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

export function kubeClient(api: RestClient): PodApi & ApiObjects {
  return {
    async patchPodStatus(ref, patch) {
      await api.patch(`${ns(ref.namespace, 'pods', ref.name)}/status`, patch, 'strategic');
    },
    async deletePod(ref, o) {
      await api.delete(`${ns(ref.namespace, 'pods', ref.name)}?gracePeriodSeconds=${o.gracePeriodSeconds}`, { gracePeriodSeconds: o.gracePeriodSeconds, preconditions: { uid: o.uid } });
    },
    async createPod(namespace, pod) {
      const r = await api.create<{ metadata?: { uid?: string } }>(ns(namespace, 'pods'), pod);
      return { uid: r?.metadata?.uid ?? '' };
    },
    async createEvent(namespace, event) {
      await api.create(ns(namespace, 'events'), event);
    },
    async patchEvent(ref, patch) {
      await api.patch(ns(ref.namespace, 'events', ref.name), patch, 'merge');
    },
    async getNode(name) {
      const n = await api.get<{ metadata?: { uid?: string }; status?: { addresses?: { type: string; address: string }[] } }>(`/api/v1/nodes/${seg(name)}`);
      return { uid: n?.metadata?.uid ?? '', addresses: (n?.status?.addresses ?? []).map((a) => ({ type: a.type, address: a.address })) };
    },
    async getConfigMap(namespace, name) {
      const cm = await orNotFound(api.get<{ data?: Record<string, string>; binaryData?: Record<string, string> }>(ns(namespace, 'configmaps', name)));
      return cm ? { ...(cm.data ? { data: cm.data } : {}), ...(cm.binaryData ? { binaryData: cm.binaryData } : {}) } : undefined;
    },
    async getSecret(namespace, name) {
      const s = await orNotFound(api.get<{ data?: Record<string, string> }>(ns(namespace, 'secrets', name)));
      return s ? { ...(s.data ? { data: s.data } : {}) } : undefined;
    },
    async requestToken(namespace, serviceAccount, spec) {
      const r = await api.create<{ status?: { token?: string; expirationTimestamp?: string } }>(`${ns(namespace, 'serviceaccounts', serviceAccount)}/token`, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { audiences: spec.audiences, expirationSeconds: spec.expirationSeconds, boundObjectRef: spec.boundObjectRef },
      });
      return { token: r?.status?.token ?? '', expirationTimestamp: String(r?.status?.expirationTimestamp ?? '') };
    },
  };
}
