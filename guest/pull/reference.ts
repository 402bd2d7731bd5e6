/** OCI image references: `[registry/]repository[:tag][@digest]`, Docker Hub defaults. */
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';

export interface ImageReference {
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

const REPO_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export function parseReference(ref: string): ImageReference {
  const bad = (why: string): CocoletError => new CocoletError(ErrorCode.InvalidArgument, `image reference ${JSON.stringify(ref.slice(0, 200))}: ${why}`);
  if (ref.length === 0 || ref.length > 512) throw bad('empty or too long');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw bad('digest must be sha256:<64 hex>');
  }
  let registry = 'registry-1.docker.io';
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first === 'docker.io' ? 'registry-1.docker.io' : first;
    rest = rest.slice(slash + 1);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw bad('invalid tag');
  }
  if (registry === 'registry-1.docker.io' && !rest.includes('/')) rest = `library/${rest}`;
  if (!REPO_RE.test(rest)) throw bad('invalid repository');
  if (!tag && !digest) tag = 'latest';
  return { registry, repository: rest, tag, digest };
}
