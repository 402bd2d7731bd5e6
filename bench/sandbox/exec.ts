/**
 * The exec round trip through containerd's CRI, as `crictl exec` / `kubectl exec` pay it, in a pod
 * that is already running: ExecSync of `echo hi` (request to exit status and output back), and a
 * streaming exec of `echo hi` (the Exec call for the URL, the WebSocket upgrade at containerd's
 * streaming server, the output and the exit status on the v4 channels). Used by index.ts for runc,
 * cocolet `process` and cocolet `qemu`, side by side.
 */
import { NamespaceMode } from '../../shared/gen/cri/runtime/v1/api_pb.js';
import assert from 'node:assert/strict';
import type { CriClient } from '../../host/cri/client.js';
import { channelText, wsConnect } from '../../e2e/support/wsclient.js';

export interface ExecSamples {
  execSyncMs: number[];
  streamMs: number[];
}

export interface ExecBenchInput {
  cri: CriClient;
  handler: string;
  image: string;
  annotations: Record<string, string>;
  logDirectory: string;
  runs: number;
}

async function streamingEcho(cri: CriClient, containerId: string): Promise<void> {
  const url = new URL(await cri.exec({ containerId, cmd: ['echo', 'hi'], stdin: false, stdout: true, stderr: true, tty: false }));
  const ws = await wsConnect({ host: url.hostname, port: Number(url.port), path: url.pathname, protocol: 'v4.channel.k8s.io' });
  try {
    assert.equal(ws.status, 101, ws.body);
    const ms = await ws.until((m) => m.some((x) => x.channel === 3 && x.data.length > 0), 'the exit status');
    assert.equal(channelText(ms, 1), 'hi\n');
  } finally {
    ws.close();
  }
}

/** One pod with a sleeping container; two warm-up execs of each kind, then `runs` of each, alternating. */
export async function measureExec(i: ExecBenchInput): Promise<ExecSamples> {
  const name = `bench-exec-${i.handler || 'runc'}`;
  const cfg = { metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 }, hostname: name, logDirectory: i.logDirectory, annotations: i.annotations, linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } };
  const pod = await i.cri.runPodSandbox(cfg, i.handler);
  try {
    const ctr = await i.cri.createContainer(pod, { metadata: { name: 'main' }, image: { image: i.image }, command: ['/bin/sleep', '3600'], logPath: `${name}.log`, linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } }, cfg);
    await i.cri.startContainer(ctr);
    const execSync = async (): Promise<void> => {
      const r = await i.cri.execSync(ctr, ['echo', 'hi'], 60);
      assert.equal(r.exitCode, 0);
      assert.equal(Buffer.from(r.stdout).toString(), 'hi\n');
    };
    for (let k = 0; k < 2; k++) {
      await execSync();
      await streamingEcho(i.cri, ctr);
    }
    const out: ExecSamples = { execSyncMs: [], streamMs: [] };
    for (let k = 0; k < i.runs; k++) {
      let t0 = performance.now();
      await execSync();
      out.execSyncMs.push(performance.now() - t0);
      t0 = performance.now();
      await streamingEcho(i.cri, ctr);
      out.streamMs.push(performance.now() - t0);
    }
    return out;
  } finally {
    await i.cri.stopPodSandbox(pod).catch(() => undefined);
    await i.cri.removePodSandbox(pod).catch(() => undefined);
  }
}
