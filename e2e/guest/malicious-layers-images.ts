/**
 * Pushes crafted images to a real registry through the OCI distribution API (monolithic blob
 * upload: POST /blobs/uploads/, PUT ?digest=; then PUT /manifests/<tag>), so the e2e test and the
 * benchmark can serve any layer, hostile ones included, to the guest puller.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

export interface PushedImage {
  /** `<host>/<repo>:<tag>`. */
  reference: string;
  manifestDigest: string;
  /** Compressed layer digests, in order. */
  layerDigests: string[];
}

const sha = (b: Uint8Array): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

async function putBlob(host: string, repo: string, body: Buffer): Promise<string> {
  const digest = sha(body);
  const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST', signal: AbortSignal.timeout(30_000) });
  await start.arrayBuffer();
  const location = start.headers.get('location');
  if (start.status !== 202 || !location) throw new Error(`registry ${host}: blob upload start answered HTTP ${start.status}`);
  const url = new URL(location, `http://${host}`);
  url.searchParams.set('digest', digest);
  const put = await fetch(url, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' }, signal: AbortSignal.timeout(60_000) });
  await put.arrayBuffer();
  if (put.status !== 201) throw new Error(`registry ${host}: blob upload answered HTTP ${put.status}`);
  return digest;
}

/** Uncompressed tar layers, gzipped unless `gzip` is false; the config's diff_ids are their digests. */
export async function pushImage(host: string, repo: string, tag: string, layers: Buffer[], o: { gzip?: boolean } = {}): Promise<PushedImage> {
  const gzip = o.gzip ?? true;
  const blobs = layers.map((l) => (gzip ? gzipSync(l) : l));
  const layerDigests: string[] = [];
  for (const b of blobs) layerDigests.push(await putBlob(host, repo, b));
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux',
    config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] },
    rootfs: { type: 'layers', diff_ids: layers.map(sha) },
  }));
  const configDigest = await putBlob(host, repo, config);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
    layers: blobs.map((b, i) => ({ mediaType: `application/vnd.oci.image.layer.v1.tar${gzip ? '+gzip' : ''}`, digest: layerDigests[i], size: b.length })),
  }));
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, signal: AbortSignal.timeout(30_000) });
  await res.arrayBuffer();
  if (res.status !== 201) throw new Error(`registry ${host}: manifest upload answered HTTP ${res.status}`);
  return { reference: `${host}/${repo}:${tag}`, manifestDigest: sha(manifest), layerDigests };
}
