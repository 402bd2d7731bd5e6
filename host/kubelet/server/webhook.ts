/**
 * TokenReview and SubjectAccessReview against the API server (with the node's kubeconfig). Tokens
 * are sent to the API server only, never logged.
 *
 * API: `const { tokens, access } = apiReviewers(kubeconfigPath)`.
 */
import { loadKubeconfig } from '../client/kubeconfig.js';
import { restClient } from '../client/rest.js';
import type { AccessReviewer, RequestAttributes, TokenReviewer, UserInfo } from './auth.js';

interface TokenReview {
  status?: { authenticated?: boolean; user?: { username?: string; groups?: string[] } };
}
interface AccessReview {
  status?: { allowed?: boolean; reason?: string };
}

export function apiReviewers(kubeconfig: string): { tokens: TokenReviewer; access: AccessReviewer } {
  const api = restClient(loadKubeconfig(kubeconfig));
  return {
    tokens: {
      async review(token: string): Promise<UserInfo | undefined> {
        const r = await api.create<TokenReview>('/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } });
        if (!r?.status?.authenticated || !r.status.user?.username) return undefined;
        return { name: r.status.user.username, groups: r.status.user.groups ?? [] };
      },
    },
    access: {
      async review(user: UserInfo, a: RequestAttributes): Promise<{ allowed: boolean; reason: string }> {
        const r = await api.create<AccessReview>('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: user.name,
            groups: user.groups,
            resourceAttributes: { verb: a.verb, group: a.apiGroup, version: a.apiVersion, resource: a.resource, subresource: a.subresource, name: a.name },
          },
        });
        return { allowed: r?.status?.allowed === true, reason: r?.status?.reason ?? '' };
      },
    },
  };
}
