/**
 * Pod networking of cocolet pods through real containerd with CNI (bridge + host-local + portmap):
 * busybox httpd in a cocolet pod answers at the pod IP from the host and from a runc pod, through a
 * hostPort on the node, and through CRI PortForward (containerd's streaming server over WebSocket);
 * the container's /etc/resolv.conf is the sandbox's DNS config, /etc/hostname and /etc/hosts containerd's.
 * `process`: the agent joins the pod's network namespace; `qemu`: the VM's tap is joined to the
 * pod's veth with tc mirred and the guest configured through UpdateInterface / UpdateRoutes. Nothing
 * is left behind (no tap, no VM, no shim).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { Harness, have, waitFor } from '../../shared/testing/harness.js';
import { startContainerd, type ContainerdFixture } from '../support/containerd.js';
import { channelText, wsConnect } from '../support/wsclient.js';
import { CriClient } from '../../host/cri/client.js';
import type { PodSandboxConfigInit } from '../../host/cri/api.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import { ContainerState, Protocol, NamespaceMode } from '../../shared/gen/cri/runtime/v1/api_pb.js';
import { PERMISSIVE_POLICY } from '../../guest/policy/defaults.js';
import { tapName } from '../../host/shim/network/pod-network.js';
import { startRegistry } from '../guest/registry.js';
import { initdataToml } from '../guest/agent-client.js';
import { assertNoLeftovers, prepareShim, run, type ShimFixture } from './support.js';

const PORT = 8080;

/** GET http://host:port/ → status and body (rejects on a connection error or after 5 s). */
export function httpGet(host: string, port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host, port, path: '/', timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '0.0.0.0', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

export function podNetworkSuite(kind: 'process' | 'qemu', opts: { skipReason?: () => string | undefined } = {}): void {
  const h = new Harness();
  after(() => h.dispose());
  let c: ContainerdFixture | undefined;
  let cri: CriClient;
  let shim: ShimFixture;
  let image = BUSYBOX_IMAGE;
  let initdata = '';
  let skip: string | undefined;

  before(async () => {
    skip = opts.skipReason?.();
    if (!skip && !have('iptables')) skip = 'iptables is not installed (the portmap CNI plugin needs it)';
    if (!skip && kind === 'qemu') for (const cmd of ['docker-registry', 'skopeo']) if (!have(cmd)) skip = `${cmd} is not installed (needed for the in-guest image pull)`;
    if (skip) return;
    shim = prepareShim(h, { kind });
    process.env.COCOLET_SHIM_CONFIG = shim.configPath;
    c = await startContainerd(h, { skip: (why) => (skip = why) }, { shimDir: shim.shimDir });
    if (!c) return;
    let insecure: string[] = [];
    if (kind === 'qemu') {
      // the guest pulls over its user-mode NIC, which reaches the host's loopback as 10.0.2.2
      const reg = await startRegistry(h);
      image = reg.image.replace('127.0.0.1:', '10.0.2.2:');
      insecure = [`10.0.2.2:${reg.port}`];
      const tag = await run('ctr', ['-a', c.address, '-n', 'k8s.io', 'images', 'tag', BUSYBOX_IMAGE, image]);
      assert.equal(tag.code, 0, tag.stderr);
    }
    initdata = gzipSync(initdataToml({ policy: PERMISSIVE_POLICY, insecureRegistries: insecure })).toString('base64');
    cri = new CriClient({ endpoint: c.address });
    h.defer('cri client', () => cri.close());
  });

  function sandboxConfig(name: string, handler: string, hostPort?: number): PodSandboxConfigInit {
    return {
      metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 },
      hostname: name,
      logDirectory: h.tempDir('ccl-'),
      ...(handler === 'cocolet' ? { annotations: { 'io.katacontainers.config.hypervisor.cc_init_data': initdata } } : {}),
      ...(hostPort ? { portMappings: [{ protocol: Protocol.TCP, containerPort: PORT, hostPort }] } : {}),
      dnsConfig: { servers: ['10.96.0.10'], searches: ['svc.cocolet.test'], options: ['ndots:5'] },
      linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
    };
  }

  async function runPod(name: string, handler: string, img: string, command: string[], hostPort?: number): Promise<{ pod: string; ctr: string }> {
    const cfg = sandboxConfig(name, handler, hostPort);
    const pod = await cri.runPodSandbox(cfg, handler).catch((e: unknown) => {
      throw new Error(`RunPodSandbox (${handler}) failed: ${(e as Error).message}\ncontainerd log:\n${c!.containerd.logTail(30)}`);
    });
    h.defer(`pod ${name}`, async () => {
      await cri.stopPodSandbox(pod).catch(() => {});
      await cri.removePodSandbox(pod).catch(() => {});
    });
    const ctr = await cri.createContainer(pod, { metadata: { name: 'main' }, image: { image: img }, command, logPath: 'main.log', linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } }, cfg);
    await cri.startContainer(ctr);
    return { pod, ctr };
  }

  test(`${kind} hypervisor: httpd in a cocolet pod answers at the pod IP (host, runc pod), through a hostPort and through CRI PortForward; nothing is left`, { timeout: 240_000 }, async (t) => {
    if (!c) return t.skip(skip ?? 'containerd is not available');
    const hostPort = await freePort();
    const page = `served-from-a-${kind}-pod`;
    const server = await runPod(`net-${kind}`, 'cocolet', image, ['/bin/sh', '-c', `mkdir -p /www && echo ${page} > /www/index.html && exec httpd -f -p ${PORT} -h /www`], hostPort);
    const podIp = (await cri.podSandboxStatus(server.pod))?.network?.ip ?? '';
    assert.match(podIp, /^10\.\d+\.\d+\.\d+$/, 'CNI gave the pod an address');

    // DNS: containerd's resolv.conf for the sandbox's DNS config, copied into the guest and bound in
    const resolv = await cri.execSync(server.ctr, ['cat', '/etc/resolv.conf'], 20);
    assert.equal(resolv.exitCode, 0, Buffer.from(resolv.stderr).toString());
    const resolvText = Buffer.from(resolv.stdout).toString();
    for (const line of ['nameserver 10.96.0.10', 'search svc.cocolet.test', 'options ndots:5']) assert.ok(resolvText.split('\n').includes(line), `${line} in ${JSON.stringify(resolvText)}`);
    // hosts and hostname: containerd's sandbox files (the host's /etc/hosts copied, the pod's hostname), copied in the same way
    const hostname = await cri.execSync(server.ctr, ['cat', '/etc/hostname'], 20);
    assert.equal(Buffer.from(hostname.stdout).toString(), `net-${kind}\n`, 'the pod\'s /etc/hostname');
    const hosts = await cri.execSync(server.ctr, ['cat', '/etc/hosts'], 20);
    assert.equal(Buffer.from(hosts.stdout).toString(), readFileSync('/etc/hosts', 'utf8'), 'the pod\'s /etc/hosts is containerd\'s copy of the node\'s');

    // from the host, at the pod IP (over the CNI bridge)
    const fromHost = await waitFor(async () => (await httpGet(podIp, PORT).catch(() => undefined))?.body.includes(page) ? true : undefined, { what: `httpd answering at ${podIp}:${PORT}`, timeoutMs: 60_000, intervalMs: 250 });
    assert.equal(fromHost, true);

    // from a runc pod on the same bridge
    const client = await runPod(`net-${kind}-client`, 'runc', BUSYBOX_IMAGE, ['/bin/sleep', '300']);
    assert.equal((await cri.containerStatus(client.ctr))?.state, ContainerState.CONTAINER_RUNNING);
    const wget = await cri.execSync(client.ctr, ['wget', '-q', '-O', '-', `http://${podIp}:${PORT}/`], 20);
    assert.equal(wget.exitCode, 0, Buffer.from(wget.stderr).toString());
    assert.match(Buffer.from(wget.stdout).toString(), new RegExp(page));

    // through the hostPort on the node's address on the bridge (portmap's DNAT)
    const gateway = c.containerd.subnet.replace(/\.0\/24$/, '.1');
    const viaHostPort = await httpGet(gateway, hostPort);
    assert.equal(viaHostPort.status, 200);
    assert.match(viaHostPort.body, new RegExp(page));

    // CRI PortForward: containerd dials localhost:8080 inside the pod's network namespace
    const url = new URL(await cri.portForward(server.pod, [PORT]));
    const ws = await wsConnect({ host: url.hostname, port: Number(url.port), path: url.pathname, protocol: 'v4.channel.k8s.io' });
    assert.equal(ws.status, 101, ws.body);
    await ws.until((m) => m.filter((x) => x.channel <= 1).length >= 2, 'the port headers');
    ws.send(0, Buffer.from('GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n'));
    const ms = await ws.until((m) => channelText(m.slice(2), 0).includes(page) || channelText(m.slice(2), 1).length > 0, 'the HTTP answer through port-forward');
    assert.equal(channelText(ms.slice(2), 1), '', 'no port-forward error');
    assert.match(channelText(ms.slice(2), 0), /^HTTP\/1\.[01] 200 OK/);
    ws.close();

    for (const p of [server, client]) {
      await cri.stopContainer(p.ctr, 0);
      await cri.removeContainer(p.ctr);
      await cri.stopPodSandbox(p.pod);
      await cri.removePodSandbox(p.pod);
    }
    await assertNoLeftovers(shim, c.dir);
    const link = spawnSync('ip', ['link', 'show', 'dev', tapName(server.pod)], { encoding: 'utf8' });
    assert.notEqual(link.status, 0, `the tap ${tapName(server.pod)} is gone from the host`);
  });
}
