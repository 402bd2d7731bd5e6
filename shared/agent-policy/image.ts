/**
 * Image references as the policy compares them: `[registry/]repository[:tag][@digest]` with the
 * Docker Hub defaults filled in, so `busybox`, `docker.io/library/busybox:latest` and
 * `registry-1.docker.io/library/busybox:latest` are one image. Lenient: a reference this cannot
 * read is returned unchanged (it then matches only itself; the puller refuses it anyway).
 */

export interface NormalizedImage {
  /** `registry/repository` with defaults filled in. */
  name: string;
  tag?: string;
  /** `sha256:<hex>` when the reference names one. */
  digest?: string;
}

export function normalizeImage(ref: string): NormalizedImage {
  let rest = ref.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let registry = 'docker.io';
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first === 'registry-1.docker.io' || first === 'index.docker.io' ? 'docker.io' : first;
    rest = rest.slice(slash + 1);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  if (registry === 'docker.io' && !rest.includes('/')) rest = `library/${rest}`;
  if (!tag && !digest) tag = 'latest';
  return { name: `${registry}/${rest}`, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The normalized reference as text. */
export function imageText(i: NormalizedImage): string {
  return `${i.name}${i.tag ? `:${i.tag}` : ''}${i.digest ? `@${i.digest}` : ''}`;
}

/**
 * Whether a requested image is the policy's: same registry and repository; when the policy names
 * a digest, a digest in the request must be that one (the pulled manifest's digest is checked
 * against the policy's `imageDigest` later); otherwise the tags must be equal.
 */
export function imageMatches(policy: NormalizedImage, requested: NormalizedImage): boolean {
  if (policy.name !== requested.name) return false;
  if (policy.digest) return requested.digest === undefined || requested.digest === policy.digest;
  return policy.tag === requested.tag;
}
