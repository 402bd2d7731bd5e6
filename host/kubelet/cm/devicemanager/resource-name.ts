/**
 * Extended resource names as the API server and the kubelet accept them (the facts of
 * k8s.io/api helpers IsExtendedResourceName, IsNativeResource and validation.IsQualifiedName):
 * a name with a domain prefix (`vendor.example/widget`), not in the `kubernetes.io/` namespace,
 * not starting with `requests.`, and such that `requests.<name>` is a qualified name
 * (DNS-1123 subdomain prefix of at most 253 characters, a name part of at most 63 characters of
 * [A-Za-z0-9._-] that begins and ends alphanumeric).
 *
 * `extendedResourceNameProblem(name)` returns why a name is refused, or undefined when it is fine.
 */

const NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function extendedResourceNameProblem(name: string): string | undefined {
  if (name === '') return 'it is empty';
  const slash = name.indexOf('/');
  if (slash < 0) return 'it has no domain prefix (an extended resource is named like vendor.example/widget)';
  if (name.includes('kubernetes.io/')) return 'the kubernetes.io/ namespace is reserved for native resources';
  if (name.startsWith('requests.')) return 'it must not start with "requests."';
  const prefix = `requests.${name.slice(0, slash)}`;
  const part = name.slice(slash + 1);
  if (part.includes('/')) return 'it has more than one "/"';
  if (prefix.length > 253) return 'its domain prefix is longer than 244 characters';
  if (!DNS1123_SUBDOMAIN.test(prefix)) return 'its domain prefix is not a lowercase DNS subdomain (a-z, 0-9, "-", ".")';
  if (part.length === 0) return 'its name part after "/" is empty';
  if (part.length > 63) return 'its name part after "/" is longer than 63 characters';
  if (!NAME_PART.test(part)) return 'its name part must be alphanumeric, "-", "_" or ".", beginning and ending alphanumeric';
  return undefined;
}

export function isExtendedResourceName(name: string): boolean {
  return extendedResourceNameProblem(name) === undefined;
}
