import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseReference } from './reference.js';
import { RegistryClient, sha256Digest } from './registry.js';

const MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'x', digest: 'sha256:00', size: 1 }, layers: [] }));

/** A fetch that records the URLs asked for and answers every one with MANIFEST. */
function recordingFetch(): { fetch: typeof fetch; urls: string[] } {
  const urls: string[] = [];
  const f = (input: string | URL | Request): Promise<Response> => {
    urls.push(String(input));
    return Promise.resolve(new Response(MANIFEST, { status: 200, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } }));
  };
  return { fetch: f as typeof fetch, urls };
}

const cases: { name: string; ref: string; mirrors?: Record<string, string>; insecure?: string[]; want: string }[] = [
  { name: 'no mirror: the image\'s own registry over HTTPS', ref: 'registry.k8s.io/e2e-test-images/busybox:1.29-2', want: 'https://registry.k8s.io/v2/e2e-test-images/busybox/manifests/1.29-2' },
  { name: 'a mirror serves the registry\'s repositories, HTTP when the mirror is listed insecure', ref: 'registry.k8s.io/e2e-test-images/busybox:1.29-2', mirrors: { 'registry.k8s.io': '10.0.2.2:5000' }, insecure: ['10.0.2.2:5000'], want: 'http://10.0.2.2:5000/v2/e2e-test-images/busybox/manifests/1.29-2' },
  { name: 'the mirror\'s own scheme decision: HTTPS unless the mirror is insecure (the upstream name does not count)', ref: 'gcr.io/a/b:1', mirrors: { 'gcr.io': 'mirror.local' }, insecure: ['gcr.io'], want: 'https://mirror.local/v2/a/b/manifests/1' },
  { name: 'other registries are not mirrored', ref: 'quay.io/a/b:1', mirrors: { 'gcr.io': 'mirror.local' }, want: 'https://quay.io/v2/a/b/manifests/1' },
];

for (const tc of cases) {
  test(`registry client: ${tc.name}`, async () => {
    const f = recordingFetch();
    const client = new RegistryClient(parseReference(tc.ref), { fetch: f.fetch, ...(tc.mirrors ? { registryMirrors: tc.mirrors } : {}), ...(tc.insecure ? { insecureRegistries: tc.insecure } : {}) });
    const { digest } = await client.manifest();
    assert.equal(digest, sha256Digest(MANIFEST));
    assert.deepEqual(f.urls, [tc.want]);
  });
}
