/**
 * TokenReview and SubjectAccessReview against the API server (@kubernetes/client-node, loaded only
 * when a kubeconfig is given). Tokens are sent to the API server only, never logged.
 *
 * API: `const { tokens, access } = await apiReviewers(kubeconfigPath)`.
 */
import type { AccessReviewer, RequestAttributes, TokenReviewer, UserInfo } from './auth.js';

export async function apiReviewers(kubeconfig: string): Promise<{ tokens: TokenReviewer; access: AccessReviewer }> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const authn = kc.makeApiClient(k8s.AuthenticationV1Api);
  const authz = kc.makeApiClient(k8s.AuthorizationV1Api);
  return {
    tokens: {
      async review(token: string): Promise<UserInfo | undefined> {
        const r = await authn.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } });
        if (!r.status?.authenticated || !r.status.user?.username) return undefined;
        return { name: r.status.user.username, groups: r.status.user.groups ?? [] };
      },
    },
    access: {
      async review(user: UserInfo, a: RequestAttributes): Promise<{ allowed: boolean; reason: string }> {
        const r = await authz.createSubjectAccessReview({
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SubjectAccessReview',
            spec: {
              user: user.name,
              groups: user.groups,
              resourceAttributes: { verb: a.verb, group: a.apiGroup, version: a.apiVersion, resource: a.resource, subresource: a.subresource, name: a.name },
            },
          },
        });
        return { allowed: r.status?.allowed === true, reason: r.status?.reason ?? '' };
      },
    },
  };
}
