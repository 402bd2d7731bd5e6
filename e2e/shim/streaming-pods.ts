/**
 * Exec and attach as crictl and the kubelet use them, through real containerd 1.6 and its streaming
 * server (WebSocket, v4.channel.k8s.io), for one runtime handler: `runc` (containerd's own shim,
 * the reference), or cocolet with the `process` or `qemu` hypervisor (the real agent). The same
 * assertions hold for all three: ExecSync's exit codes, split output and timeout; a streaming exec's
 * stdin, its close, and its exit status; `exec -it` and `attach` with a terminal — the process has a
 * tty, the window size set by the client's resize messages (stty size) and SIGWINCH, input echoed
 * by the terminal, the exit status back.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Harness, have, waitFor } from '../../shared/testing/harness.js';
import { startContainerd, type ContainerdFixture } from '../support/containerd.js';
import { channelText, wsConnect, type ChannelMessage, type WsClient } from '../support/wsclient.js';
import { CriClient } from '../../host/cri/client.js';
import type { ContainerConfigInit, PodSandboxConfigInit } from '../../host/cri/api.js';
import { BUSYBOX_IMAGE } from '../../host/images/oci.js';
import { ContainerState, NamespaceMode } from '../../shared/gen/cri/runtime/v1/api_pb.js';
import { PERMISSIVE_POLICY } from '../../guest/policy/defaults.js';
import { startRegistry } from '../guest/registry.js';
import { initdataToml } from '../guest/agent-client.js';
import { assertNoLeftovers, prepareShim, run, type ShimFixture } from './support.js';

const AGENT = fileURLToPath(new URL('../../guest/cmd/cocolet-agent.js', import.meta.url));

/** The v4 error channel's Status: 0 for Success, else the exit code of a NonZeroExitCode failure. */
export function exitOf(text: string): number {
  const st = JSON.parse(text) as { status: string; reason?: string; details?: { causes?: { reason: string; message: string }[] } };
  if (st.status === 'Success') return 0;
  assert.equal(st.reason, 'NonZeroExitCode', text);
  return Number(st.details!.causes!.find((c) => c.reason === 'ExitCode')!.message);
}

/** ws.until, failing after `ms` with what arrived so far (a hang names itself instead of timing out the test). */
async function until(ws: WsClient, pred: (m: ChannelMessage[]) => boolean, what: string, ms = 90_000): Promise<ChannelMessage[]> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} after ${ms} ms; got ${JSON.stringify(ws.messages.map((m) => [m.channel, m.data.toString('utf8')]))}`)), ms);
  });
  try {
    return await Promise.race([ws.until(pred, what), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A resize message on channel 4 (the terminal size the client has). */
function resize(ws: WsClient, width: number, height: number): void {
  ws.send(4, Buffer.from(JSON.stringify({ Width: width, Height: height })));
}

/**
 * Shell lines that wait (bounded, inside the container) until the terminal is `rows cols`, then
 * print what it is; a resize that never arrives prints the size it got instead, and fails the test.
 */
const awaitSize = (rows: number, cols: number, tag: string): string =>
  `i=0; while [ "$(stty size)" != "${rows} ${cols}" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; echo "${tag}:$(stty size)"`;

export function streamingSuite(handler: 'runc' | 'process' | 'qemu', opts: { skipReason?: () => string | undefined } = {}): void {
  const h = new Harness();
  after(() => h.dispose());
  let c: ContainerdFixture | undefined;
  let cri: CriClient;
  let shim: ShimFixture | undefined;
  let skip: string | undefined;
  let image = BUSYBOX_IMAGE;
  let pod = '';
  let sandboxConfig: PodSandboxConfigInit;
  let main = '';

  const connect = async (url: string): Promise<WsClient> => {
    const u = new URL(url);
    const ws = await wsConnect({ host: u.hostname, port: Number(u.port), path: u.pathname, protocol: 'v4.channel.k8s.io' });
    assert.equal(ws.status, 101, ws.body);
    return ws;
  };

  const startContainer = async (name: string, cfg: Pick<ContainerConfigInit, 'command' | 'tty' | 'stdin' | 'stdinOnce'>): Promise<string> => {
    const id = await cri.createContainer(pod, { metadata: { name }, image: { image }, logPath: `${name}.log`, linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } }, ...cfg }, sandboxConfig);
    await cri.startContainer(id);
    return id;
  };

  const exitedWith = async (id: string): Promise<number> => {
    const st = await waitFor(async () => {
      const s = await cri.containerStatus(id);
      return s?.state === ContainerState.CONTAINER_EXITED ? s : undefined;
    }, { what: `container ${id} to exit`, timeoutMs: 60_000 });
    return st.exitCode;
  };

  before(async () => {
    if (handler !== 'runc') {
      for (const cmd of ['docker-registry', 'skopeo']) if (!have(cmd)) skip = `${cmd} is not installed (needed for the in-guest image pull)`;
      if (!existsSync(AGENT)) skip = 'cocolet-agent is not built';
    }
    skip ??= opts.skipReason?.();
    if (skip) return;
    if (handler !== 'runc') shim = prepareShim(h, { kind: handler });
    if (shim) process.env.COCOLET_SHIM_CONFIG = shim.configPath;
    c = await startContainerd(h, { skip: (why) => (skip = why) }, shim ? { shimDir: shim.shimDir } : {});
    if (!c) return;
    cri = new CriClient({ endpoint: c.address });
    h.defer('cri client', () => cri.close());
    const annotations: Record<string, string> = {};
    if (handler !== 'runc') {
      let reg = await startRegistry(h);
      // A QEMU user-net guest reaches the host's loopback registry as 10.0.2.2.
      if (handler === 'qemu') reg = { ...reg, host: `10.0.2.2:${reg.port}`, image: reg.image.replace('127.0.0.1:', '10.0.2.2:') };
      const tag = await run('ctr', ['-a', c.address, '-n', 'k8s.io', 'images', 'tag', BUSYBOX_IMAGE, reg.image]);
      assert.equal(tag.code, 0, tag.stderr);
      image = reg.image;
      annotations['io.katacontainers.config.hypervisor.cc_init_data'] = gzipSync(initdataToml({ policy: PERMISSIVE_POLICY, insecureRegistries: [reg.host] })).toString('base64');
    }
    sandboxConfig = { metadata: { name: `stream-${handler}`, namespace: 'default', uid: `uid-stream-${handler}`, attempt: 0 }, hostname: `stream-${handler}`, logDirectory: h.tempDir('ccl-'), annotations, linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } } };
    pod = await cri.runPodSandbox(sandboxConfig, handler === 'runc' ? 'runc' : 'cocolet').catch((e: unknown) => {
      throw new Error(`RunPodSandbox failed: ${(e as Error).message}\ncontainerd log:\n${c!.containerd.logTail(40)}`);
    });
    h.defer('pod', async () => {
      await cri.stopPodSandbox(pod).catch(() => undefined);
      await cri.removePodSandbox(pod).catch(() => undefined);
    });
    main = await startContainer('main', { command: ['/bin/sleep', '3600'] }).catch((e: unknown) => {
      throw new Error(`starting the main container failed: ${(e as Error).message}\ncontainerd log:\n${c!.containerd.logTail(40)}`);
    });
  });

  test(`${handler}: ExecSync returns exit codes and split stdout/stderr, also when nothing is written to stderr`, { timeout: 120_000 }, async (t) => {
    if (!c) return t.skip(skip ?? 'containerd is not available');
    const ok = await cri.execSync(main, ['echo', 'hi'], 30);
    assert.deepEqual([ok.exitCode, Buffer.from(ok.stdout).toString(), ok.stderr.length], [0, 'hi\n', 0]);
    const three = await cri.execSync(main, ['sh', '-c', 'echo out; echo err >&2; exit 3'], 30);
    assert.deepEqual([three.exitCode, Buffer.from(three.stdout).toString(), Buffer.from(three.stderr).toString()], [3, 'out\n', 'err\n']);
    const missing = await cri.execSync(main, ['sh', '-c', 'exec /no/such/binary'], 30);
    assert.equal(missing.exitCode, 127);
  });

  test(`${handler}: ExecSync with a timeout fails naming it, the process is killed, the container keeps working`, { timeout: 120_000 }, async (t) => {
    if (!c) return t.skip(skip ?? 'containerd is not available');
    const err = await cri.execSync(main, ['sleep', '47'], 2).then(() => undefined, (e: unknown) => e as Error);
    assert.ok(err, 'ExecSync of sleep 47 with timeout 2 returned');
    assert.match(err.message, /timeout|deadline/i);
    await waitFor(async () => Buffer.from((await cri.execSync(main, ['sh', '-c', 'ps -o args | grep -c "^sleep 47"'], 30)).stdout).toString().trim() === '0', { what: 'the timed-out exec killed', timeoutMs: 60_000, intervalMs: 500 });
    assert.equal((await cri.execSync(main, ['true'], 30)).exitCode, 0);
  });

  test(`${handler}: streaming exec: stdin in, stdout and the exit status out`, { timeout: 120_000 }, async (t) => {
    if (!c) return t.skip(skip ?? 'containerd is not available');
    const ws = await connect(await cri.exec({ containerId: main, cmd: ['sh', '-c', 'head -n1; echo done >&2; exit 4'], stdin: true, stdout: true, stderr: true, tty: false }));
    ws.send(0, Buffer.from('to-the-process\n'));
    const ms = await until(ws, (m) => m.some((x) => x.channel === 3 && x.data.length > 0), 'the exit status');
    assert.equal(channelText(ms, 1), 'to-the-process\n');
    assert.equal(channelText(ms, 2), 'done\n');
    assert.equal(exitOf(channelText(ms, 3)), 4);
    ws.close();
  });

  test(`${handler}: streaming exec: the client closing its stdin closes the process's stdin (EOF after the last byte)`, { timeout: 120_000 }, async (t) => {
    if (!c) return t.skip(skip ?? 'containerd is not available');
    await cri.execSync(main, ['rm', '-f', '/tmp/in', '/tmp/done'], 30);
    const ws = await connect(await cri.exec({ containerId: main, cmd: ['sh', '-c', 'cat > /tmp/in; echo closed > /tmp/done'], stdin: true, stdout: true, stderr: true, tty: false }));
    ws.send(0, Buffer.from('first\nsecond, no newline'));
    // Closing the connection ends the stdin stream: containerd closes the FIFO and calls CloseIO.
    await waitFor(async () => (await cri.execSync(main, ['sh', '-c', 'test -s /tmp/in'], 30)).exitCode === 0, { what: 'input written', timeoutMs: 30_000, intervalMs: 200 });
    ws.close();
    await waitFor(async () => Buffer.from((await cri.execSync(main, ['cat', '/tmp/done'], 30)).stdout).toString() === 'closed\n', { what: 'cat to see EOF', timeoutMs: 60_000, intervalMs: 300 });
    assert.equal(Buffer.from((await cri.execSync(main, ['cat', '/tmp/in'], 30)).stdout).toString(), 'first\nsecond, no newline');
  });

  test(`${handler}: exec -it: a terminal, its size from resize messages, SIGWINCH, echo, and the exit status`, { timeout: 180_000 }, async (t) => {
    if (!c) return t.skip(skip ?? 'containerd is not available');
    // Not an interactive shell: without job control the shell stays in the terminal's foreground
    // process group, so it is the one SIGWINCH reaches.
    const script = `trap 'echo got-winch' WINCH; tty; ${awaitSize(33, 111, 'first')}; while [ -z "$x" ]; do read x; done; echo "read:$x"; ${awaitSize(40, 120, 'second')}; sleep 0.2; exit 3`;
    const ws = await connect(await cri.exec({ containerId: main, cmd: ['/bin/sh', '-c', script], stdin: true, stdout: true, stderr: false, tty: true }));
    resize(ws, 111, 33);
    await until(ws, (m) => /first:\d+ \d+/.test(channelText(m, 1)), 'the first size');
    let out = channelText(ws.messages, 1);
    assert.match(out, /first:33 111/);
    assert.match(out, /^\/dev\/pts\/\d+\r$/m, 'tty names a pty in the container; the terminal maps NL to CR NL');
    resize(ws, 120, 40);
    ws.send(0, Buffer.from('typed\n'));
    const ms = await until(ws, (m) => m.some((x) => x.channel === 3 && x.data.length > 0), 'the exit status');
    out = channelText(ms, 1);
    assert.match(out, /^typed\r$/m, 'the terminal echoes the input');
    assert.match(out, /read:typed/);
    assert.match(out, /second:40 120/);
    assert.match(out, /got-winch/, 'the process got SIGWINCH on a resize');
    assert.equal(channelText(ms, 2), '', 'a terminal has no separate stderr');
    assert.equal(exitOf(channelText(ms, 3)), 3);
    ws.close();
  });

  test(`${handler}: attach with a terminal: the container's shell gets the size, input and Ctrl-C, and its exit is the container's`, { timeout: 180_000 }, async (t) => {
    if (!c) return t.skip(skip ?? 'containerd is not available');
    const id = await startContainer('term', { command: ['/bin/sh'], tty: true, stdin: true });
    const ws = await connect(await cri.attach({ containerId: id, stdin: true, stdout: true, stderr: false, tty: true }));
    resize(ws, 90, 21);
    ws.send(0, Buffer.from(`tty; ${awaitSize(21, 90, 'attached')}\n`));
    await until(ws, (m) => /attached:\d+ \d+/.test(channelText(m, 1)), 'the attached size');
    assert.match(channelText(ws.messages, 1), /attached:21 90/);
    assert.match(channelText(ws.messages, 1), /^\/dev\/pts\/\d+\r$/m);
    // Ctrl-C interrupts the foreground command through the container's line discipline (ISIG).
    ws.send(0, Buffer.from('sleep 600\n'));
    await waitFor(async () => Buffer.from((await cri.execSync(id, ['sh', '-c', 'ps -o args | grep -c "^sleep 600"'], 30)).stdout).toString().trim() === '1', { what: 'sleep 600 running', timeoutMs: 60_000, intervalMs: 300 });
    ws.send(0, Buffer.from([3]));
    await waitFor(async () => Buffer.from((await cri.execSync(id, ['sh', '-c', 'ps -o args | grep -c "^sleep 600"'], 30)).stdout).toString().trim() === '0', { what: 'Ctrl-C to end sleep 600', timeoutMs: 60_000, intervalMs: 300 });
    assert.match(channelText(ws.messages, 1), /\^C/, 'the terminal echoes Ctrl-C');
    ws.send(0, Buffer.from('echo alive-$((20+3))\n'));
    await until(ws, (m) => /alive-23/.test(channelText(m, 1)), 'the shell to answer after Ctrl-C');
    ws.send(0, Buffer.from('exit 5\n'));
    assert.equal(await exitedWith(id), 5);
    ws.close();
  });

  test(`${handler}: attach without a terminal: stdin reaches PID 1, its output comes back, the stream ends when it exits`, { timeout: 180_000 }, async (t) => {
    if (!c) return t.skip(skip ?? 'containerd is not available');
    const id = await startContainer('reader', { command: ['/bin/sh', '-c', 'read line; echo got:$line; echo bye >&2; exit 2'], stdin: true, stdinOnce: true });
    const ws = await connect(await cri.attach({ containerId: id, stdin: true, stdout: true, stderr: true, tty: false }));
    ws.send(0, Buffer.from('hello\n'));
    await until(ws, (m) => channelText(m, 1).includes('got:hello') && channelText(m, 2).includes('bye'), 'the answer');
    assert.equal(await exitedWith(id), 2);
    await ws.closed;
  });

  test(`${handler}: the pod goes away cleanly`, { timeout: 120_000 }, async (t) => {
    if (!c) return t.skip(skip ?? 'containerd is not available');
    await cri.stopPodSandbox(pod);
    await cri.removePodSandbox(pod);
    if (shim) await assertNoLeftovers(shim, c.dir);
  });
}
