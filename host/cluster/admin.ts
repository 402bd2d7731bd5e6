/**
 * What a cluster administrator sets up for cocolet nodes, with admin credentials (a node's own
 * credentials cannot do any of it):
 *   - `ensureBootstrapToken`: a bootstrap token (Secret `kube-system/bootstrap-token-<id>`, group
 *     `system:bootstrappers:cocolet`) and the RBAC of TLS bootstrapping: bootstrappers may create
 *     CSRs (`system:node-bootstrapper`) and have their `kubernetes.io/kube-apiserver-client-kubelet`
 *     CSRs auto-approved (`...:nodeclient`); nodes may renew their own (`...:selfnodeclient`).
 *     The controller-manager's csrapproving controller approves, its csrsigner signs.
 *   - `ensureRuntimeClass`: the RuntimeClass `cocolet` (handler `cocolet`) confidential pods name.
 * Both are idempotent (an existing object is left as it is).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';

export const BOOTSTRAP_GROUP = 'system:bootstrappers:cocolet';

const isConflict = (e: unknown): boolean => (e as { code?: number }).code === 409;

async function createOrKeep(create: () => Promise<unknown>): Promise<void> {
  try {
    await create();
  } catch (e) {
    if (!isConflict(e)) throw e;
  }
}

function adminClient(kubeconfig: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  return kc;
}

const alnum = (n: number): string => {
  const abc = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(n)].map((b) => abc[b % abc.length]).join('');
};

/** Returns the token `<id>.<secret>`, kept in `tokenFile` (0600) so a second call reuses it. */
export async function ensureBootstrapToken(kubeconfig: string, tokenFile: string): Promise<string> {
  const kc = adminClient(kubeconfig);
  let token = existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : '';
  if (!/^[a-z0-9]{6}\.[a-z0-9]{16}$/.test(token)) {
    token = `${alnum(6)}.${alnum(16)}`;
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    chmodSync(tokenFile, 0o600);
  }
  const [id, secret] = token.split('.') as [string, string];
  const core = kc.makeApiClient(k8s.CoreV1Api);
  await createOrKeep(() =>
    core.createNamespacedSecret({
      namespace: 'kube-system',
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: `bootstrap-token-${id}`, namespace: 'kube-system' },
        type: 'bootstrap.kubernetes.io/token',
        stringData: { 'token-id': id, 'token-secret': secret, 'usage-bootstrap-authentication': 'true', 'auth-extra-groups': BOOTSTRAP_GROUP, description: 'cocolet node TLS bootstrapping' },
      },
    }),
  );
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  const bind = (name: string, role: string, group: string): Promise<void> =>
    createOrKeep(() =>
      rbac.createClusterRoleBinding({
        body: {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRoleBinding',
          metadata: { name },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: group }],
        },
      }),
    );
  await bind('cocolet:kubelet-bootstrap', 'system:node-bootstrapper', BOOTSTRAP_GROUP);
  await bind('cocolet:node-autoapprove-bootstrap', 'system:certificates.k8s.io:certificatesigningrequests:nodeclient', BOOTSTRAP_GROUP);
  await bind('cocolet:node-autoapprove-certificate-rotation', 'system:certificates.k8s.io:certificatesigningrequests:selfnodeclient', 'system:nodes');
  return token;
}

export const RUNTIME_CLASS = 'cocolet';

/** Creates RuntimeClass `name` with `handler` if absent; returns true when it created it. */
export async function ensureRuntimeClass(kubeconfig: string, name = RUNTIME_CLASS, handler = RUNTIME_CLASS): Promise<boolean> {
  const node = adminClient(kubeconfig).makeApiClient(k8s.NodeV1Api);
  try {
    await node.createRuntimeClass({ body: { apiVersion: 'node.k8s.io/v1', kind: 'RuntimeClass', metadata: { name }, handler } });
    return true;
  } catch (e) {
    if (isConflict(e)) return false;
    throw e;
  }
}
