/**
 * What a cluster administrator sets up for cocolet nodes, with admin credentials (a node's own
 * credentials cannot do any of it):
 *   - `ensureBootstrapToken`: a bootstrap token (Secret `kube-system/bootstrap-token-<id>`, group
 *     `system:bootstrappers:cocolet`) and the RBAC of TLS bootstrapping: bootstrappers may create
 *     CSRs (`system:node-bootstrapper`) and have their `kubernetes.io/kube-apiserver-client-kubelet`
 *     CSRs auto-approved (`...:nodeclient`); nodes may renew their own (`...:selfnodeclient`).
 *     The controller-manager's csrapproving controller approves, its csrsigner signs.
 *   - `ensureRuntimeClass`: the RuntimeClass `cocolet` (handler `cocolet`) confidential pods name,
 *     with `overhead.podFixed` when given (the VM's cost; the API server's RuntimeClass admission
 *     copies it into every such pod's `spec.overhead`).
 * Both are idempotent (an existing object is left as it is).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadKubeconfig } from '../kubelet/client/kubeconfig.js';
import { isConflict, restClient, type RestClient } from '../kubelet/client/rest.js';

export const BOOTSTRAP_GROUP = 'system:bootstrappers:cocolet';

async function createOrKeep(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (e) {
    if (!isConflict(e)) throw e;
  }
}

function adminClient(kubeconfig: string): RestClient {
  return restClient(loadKubeconfig(kubeconfig));
}

const alnum = (n: number): string => {
  const abc = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(n)].map((b) => abc[b % abc.length]).join('');
};

/** Returns the token `<id>.<secret>`, kept in `tokenFile` (0600) so a second call reuses it. */
export async function ensureBootstrapToken(kubeconfig: string, tokenFile: string): Promise<string> {
  const api = adminClient(kubeconfig);
  let token = existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : '';
  if (!/^[a-z0-9]{6}\.[a-z0-9]{16}$/.test(token)) {
    token = `${alnum(6)}.${alnum(16)}`;
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    chmodSync(tokenFile, 0o600);
  }
  const [id, secret] = token.split('.') as [string, string];
  await createOrKeep(() =>
    api.create('/api/v1/namespaces/kube-system/secrets', {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `bootstrap-token-${id}`, namespace: 'kube-system' },
      type: 'bootstrap.kubernetes.io/token',
      stringData: { 'token-id': id, 'token-secret': secret, 'usage-bootstrap-authentication': 'true', 'auth-extra-groups': BOOTSTRAP_GROUP, description: 'cocolet node TLS bootstrapping' },
    }),
  );
  const bind = (name: string, role: string, group: string): Promise<void> =>
    createOrKeep(() =>
      api.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: group }],
      }),
    );
  await bind('cocolet:kubelet-bootstrap', 'system:node-bootstrapper', BOOTSTRAP_GROUP);
  await bind('cocolet:node-autoapprove-bootstrap', 'system:certificates.k8s.io:certificatesigningrequests:nodeclient', BOOTSTRAP_GROUP);
  await bind('cocolet:node-autoapprove-certificate-rotation', 'system:certificates.k8s.io:certificatesigningrequests:selfnodeclient', 'system:nodes');
  return token;
}

export const RUNTIME_CLASS = 'cocolet';

export interface RuntimeClassOptions {
  name?: string;
  handler?: string;
  /** overhead.podFixed (resource → quantity), e.g. the VM's cost from host/shim/overhead.ts. */
  overhead?: Record<string, string>;
}

/** Creates RuntimeClass `name` (default `cocolet`) with `handler` (default `cocolet`) if absent; returns true when it created it. */
export async function ensureRuntimeClass(kubeconfig: string, o: RuntimeClassOptions = {}): Promise<boolean> {
  const name = o.name ?? RUNTIME_CLASS;
  const body = { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name }, handler: o.handler ?? RUNTIME_CLASS, ...(o.overhead ? { overhead: { podFixed: o.overhead } } : {}) };
  try {
    await adminClient(kubeconfig).create('/apis/node.k8s.io/v1/runtimeclasses', body);
    return true;
  } catch (e) {
    if (isConflict(e)) return false;
    throw e;
  }
}
