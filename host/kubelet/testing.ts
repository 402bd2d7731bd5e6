/**
 * Test helpers for the kubelet against the in-memory CRI and a fake clock: `newFakeNode()`
 * builds a started Kubelet fed by a `test` source, `step(ms)` advances time and lets workers
 * settle, and `testPod()` builds a defaulted pod.
 */
import type { MachineTopology } from './cm/types.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TeeKind } from '../../shared/tee/kind.js';
import type { Logger } from '../../shared/log/logger.js';
import { FakeCri } from '../cri/fake.js';
import type { Container, Pod, PodSpec } from './api/types.js';
import { FakeClock, flushMicrotasks } from './clock.js';
import { DEFAULT_RUNTIME_CLASSES } from './config/flags.js';
import { defaultKubeletConfiguration, type KubeletConfiguration } from './config/kubeletconfig.js';
import { defaultStaticPod } from './config/manifest.js';
import { Kubelet } from './kubelet.js';
import type { KubeletEvictionOptions } from './eviction/wiring.js';

export const TEST_IMAGE = 'localhost/test/busybox:1';

export interface FakeNode {
  clock: FakeClock;
  cri: FakeCri;
  kubelet: Kubelet;
  dir: string;
  setPods(pods: Pod[]): void;
  step(ms?: number): Promise<void>;
  restart(): Promise<Kubelet>;
  dispose(): Promise<void>;
}

export interface FakeNodeOptions {
  config?: Partial<KubeletConfiguration>;
  evented?: boolean;
  cri?: FakeCri;
  clock?: FakeClock;
  healthz?: boolean;
  /** Serve the HTTPS API on 127.0.0.1 (port 0 = any free port). */
  serverPort?: number;
  logger?: Logger;
  /** What the runtime reports as a sandbox's TEE (default: none reported). */
  teeOf?: (sandboxId: string) => TeeKind | undefined;
  /** The eviction manager with fed signals; default off, so unit tests do not depend on this machine's free memory and disk. */
  eviction?: false | KubeletEvictionOptions;
  /** The machine the resource managers see (default: this one, from sysfs). */
  machine?: MachineTopology;
}

export async function newFakeNode(o: FakeNodeOptions = {}): Promise<FakeNode> {
  const clock = o.clock ?? new FakeClock();
  const cri = o.cri ?? new FakeCri({ clock, images: [TEST_IMAGE], handlers: ['cocolet'], ...(o.evented ? { evented: true } : {}) });
  const dir = mkdtempSync(join(tmpdir(), 'cocolet-kl-'));
  const make = (): Kubelet =>
    new Kubelet({
      settings: {
        config: { ...defaultKubeletConfiguration(), podLogsDir: join(dir, 'logs'), ...o.config } as KubeletConfiguration,
        rootDir: dir,
        nodeName: 'node',
        runtimeClassHandlers: { ...DEFAULT_RUNTIME_CLASSES },
      },
      cri,
      images: cri,
      clock,
      statusFile: false,
      makeLogDirs: false,
      noSources: true,
      extraSources: ['test'],
      eventedPleg: o.evented ?? false,
      ...(o.healthz ? { healthz: { address: '127.0.0.1', port: 0 } } : {}),
      ...(o.serverPort !== undefined ? { server: { address: '127.0.0.1', port: o.serverPort } } : {}),
      ...(o.logger ? { logger: o.logger } : {}),
      teeOf: o.teeOf ?? (() => undefined),
      eviction: o.eviction ?? false,
      ...(o.machine ? { machine: o.machine } : {}),
    });
  let kubelet = make();
  await kubelet.start();
  let pods: Pod[] = [];
  const node: FakeNode = {
    clock,
    cri,
    get kubelet() {
      return kubelet;
    },
    dir,
    setPods(p) {
      pods = p;
      kubelet.podConfig.set('test', p);
    },
    async step(ms = 0) {
      for (let i = 0; i < 5; i++) {
        await clock.advance(i === 0 ? ms : 0);
        await kubelet.workers.idle();
        await flushMicrotasks();
      }
    },
    async restart() {
      await kubelet.stop();
      kubelet = make();
      await kubelet.start();
      kubelet.podConfig.set('test', pods);
      return kubelet;
    },
    async dispose() {
      await kubelet.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return node;
}

export function testContainer(name: string, extra: Partial<Container> = {}): Container {
  return { name, image: TEST_IMAGE, command: ['/bin/sh', '-c', 'sleep 3600'], ...extra };
}

export function testPod(name: string, spec: Partial<PodSpec> = {}, annotations: Record<string, string> = {}): Pod {
  const pod: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}`, annotations },
    spec: { containers: [testContainer('main')], terminationGracePeriodSeconds: 5, ...spec },
  };
  return defaultStaticPod(pod, JSON.stringify(pod), { source: 'api', origin: name, nodeName: 'node', now: '2026-01-01T00:00:00Z' });
}
