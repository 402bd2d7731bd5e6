/**
 * An example device plugin speaking the kubelet's device plugin API v1beta1 over gRPC on unix
 * sockets. It serves N fake devices ("widgets") of one extended resource, each attached to a NUMA
 * node, and tells the container which widgets it got through an environment variable.
 *
 * What a real plugin has to do, and this one does:
 *  - serve DevicePlugin on `<dir>/<endpoint>` and call Registration.Register on `<dir>/kubelet.sock`;
 *  - stream the full device list on ListAndWatch, again whenever a device's health changes;
 *  - answer Allocate (envs, annotations; a real plugin adds device nodes, mounts or CDI names),
 *    GetPreferredAllocation (widgets of one NUMA node first) and PreStartContainer;
 *  - notice a kubelet restart (kubelet.sock recreated, its own socket removed) and register again.
 *
 * It imports only the generated API types and grpc-js, so it can be read on its own.
 */
import * as grpc from '@grpc/grpc-js';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  Registration,
  type AllocateRequest,
  type AllocateResponse,
  type DevicePluginOptions,
  type Empty,
  type ListAndWatchResponse,
  type PreferredAllocationRequest,
  type PreferredAllocationResponse,
  type PreStartContainerRequest,
  DevicePlugin,
  ListAndWatchResponseSchema,
  type AllocateResponseSchema,
  type DevicePluginOptionsSchema,
  type EmptySchema,
  type PreferredAllocationResponseSchema,
  type RegisterRequestSchema,
} from '../../shared/gen/deviceplugin/v1beta1/api_pb.js';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { serviceDefinition } from '../../shared/grpc/definition.js';


export const API_VERSION = 'v1beta1';

export interface PluginConfig {
  /** Extended resource name, e.g. example.com/widget. */
  resource: string;
  /** Number of widgets. */
  count: number;
  /** NUMA node of each widget (shorter list: the rest have no NUMA affinity). */
  numa: number[];
  /** The kubelet's device plugin directory. */
  dir: string;
  /** Socket file name of this plugin inside `dir`. */
  endpoint: string;
  /** Environment variable listing the allocated widget ids. */
  envName: string;
  /** Ask the kubelet to call PreStartContainer before each container start. */
  preStart: boolean;
  /** A host device node given to the container as /dev/<widget id> for each allocated widget (e.g. /dev/null). */
  hostDevice?: string;
  /** A file listing unhealthy widget ids, one per line (read at start and on `refreshHealth`). */
  healthFile?: string;
  /** How often to check for a restarted kubelet (ms). */
  watchMs: number;
  log(event: string, fields?: Record<string, unknown>): void;
}

export function defaultEnvName(resource: string): string {
  const name = resource.slice(resource.indexOf('/') + 1);
  return `${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_DEVICES`;
}

export class ExamplePlugin {
  readonly ids: string[];
  private readonly unhealthy = new Set<string>();
  private server: grpc.Server | undefined;
  private readonly streams = new Set<grpc.ServerWritableStream<Empty, ListAndWatchResponse>>();
  /** Identity (inode and birth time) of the kubelet.sock we registered with. */
  private kubeletId: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private stopped = false;
  /** Registrations done so far (the first, then one per kubelet restart). */
  registrations = 0;

  constructor(readonly c: PluginConfig) {
    this.ids = Array.from({ length: c.count }, (_, i) => `widget-${i}`);
  }

  get socket(): string {
    return join(this.c.dir, this.c.endpoint);
  }

  get kubeletSocket(): string {
    return join(this.c.dir, 'kubelet.sock');
  }

  private numaOf(id: string): number | undefined {
    return this.c.numa[this.ids.indexOf(id)];
  }

  private deviceList(): ListAndWatchResponse {
    return create(ListAndWatchResponseSchema, {
      devices: this.ids.map((id) => {
        const n = this.numaOf(id);
        return {
          ID: id,
          health: this.unhealthy.has(id) ? 'Unhealthy' : 'Healthy',
          ...(n !== undefined ? { topology: { nodes: [{ ID: BigInt(n) }] } } : {}),
        };
      }),
    });
  }

  /** Starts serving and registering; keeps re-registering whenever the kubelet restarts. */
  async start(): Promise<void> {
    this.readHealthFile();
    await this.ensureRegistered();
    this.timer = setInterval(() => void this.ensureRegistered(), this.c.watchMs);
  }

  /**
   * Serves (again) when our socket is gone and registers when kubelet.sock is new. A kubelet
   * that is not there yet is retried on the next tick.
   */
  private async ensureRegistered(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      if (!existsSync(this.socket) || !this.server) {
        await this.serve();
        this.kubeletId = undefined; // a kubelet that removed our socket has restarted
      }
      let id: string;
      try {
        const st = statSync(this.kubeletSocket);
        id = `${st.ino}:${st.birthtimeMs || st.ctimeMs}`;
      } catch {
        return; // no kubelet yet
      }
      if (id === this.kubeletId) return;
      await this.register();
      this.kubeletId = id;
    } catch (e) {
      this.c.log('register-failed', { err: (e as Error).message });
    } finally {
      this.busy = false;
    }
  }

  private async serve(): Promise<void> {
    await this.closeServer();
    rmSync(this.socket, { force: true });
    const server = new grpc.Server();
    server.addService(serviceDefinition(DevicePlugin), {
      GetDevicePluginOptions: (_call: grpc.ServerUnaryCall<Empty, DevicePluginOptions>, cb: grpc.sendUnaryData<MessageInitShape<typeof DevicePluginOptionsSchema>>) =>
        cb(null, { preStartRequired: this.c.preStart, getPreferredAllocationAvailable: true }),
      ListAndWatch: (call: grpc.ServerWritableStream<Empty, ListAndWatchResponse>) => {
        this.streams.add(call);
        call.on('cancelled', () => this.streams.delete(call));
        call.on('close', () => this.streams.delete(call));
        call.write(this.deviceList());
      },
      GetPreferredAllocation: (call: grpc.ServerUnaryCall<PreferredAllocationRequest, PreferredAllocationResponse>, cb: grpc.sendUnaryData<MessageInitShape<typeof PreferredAllocationResponseSchema>>) =>
        cb(null, {
          containerResponses: call.request.containerRequests.map((r) => ({
            deviceIDs: this.preferred(r.availableDeviceIDs, r.mustIncludeDeviceIDs, r.allocationSize),
          })),
        }),
      Allocate: (call: grpc.ServerUnaryCall<AllocateRequest, AllocateResponse>, cb: grpc.sendUnaryData<MessageInitShape<typeof AllocateResponseSchema>>) => {
        const bad = call.request.containerRequests.flatMap((r) => r.devicesIds).filter((id) => !this.ids.includes(id) || this.unhealthy.has(id));
        if (bad.length > 0) {
          cb({ code: grpc.status.INVALID_ARGUMENT, details: `unknown or unhealthy widgets: ${bad.join(', ')}` });
          return;
        }
        this.c.log('allocate', { requests: call.request.containerRequests.map((r) => r.devicesIds) });
        cb(null, {
          containerResponses: call.request.containerRequests.map((r) => ({
            envs: { [this.c.envName]: r.devicesIds.join(',') },
            annotations: { [`${this.c.resource}.ids`]: r.devicesIds.join(',') },
            devices: this.c.hostDevice ? r.devicesIds.map((id) => ({ containerPath: `/dev/${id}`, hostPath: this.c.hostDevice!, permissions: 'rw' })) : [],
          })),
        });
      },
      PreStartContainer: (call: grpc.ServerUnaryCall<PreStartContainerRequest, Empty>, cb: grpc.sendUnaryData<MessageInitShape<typeof EmptySchema>>) => {
        this.c.log('prestart', { devices: call.request.devicesIds });
        cb(null, {});
      },
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${this.socket}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
    this.server = server;
    this.c.log('serving', { socket: this.socket });
  }

  private register(): Promise<void> {
    const Client = grpc.makeGenericClientConstructor(serviceDefinition(Registration), 'Registration');
    const client = new Client(`unix://${this.kubeletSocket}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      Register(req: MessageInitShape<typeof RegisterRequestSchema>, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null) => void): void;
    };
    const req: MessageInitShape<typeof RegisterRequestSchema> = {
      version: API_VERSION,
      endpoint: this.c.endpoint,
      resourceName: this.c.resource,
      options: { preStartRequired: this.c.preStart, getPreferredAllocationAvailable: true },
    };
    return new Promise<void>((resolve, reject) => {
      client.Register(req, { deadline: Date.now() + 10_000 }, (err) => {
        client.close();
        if (err) return reject(new Error(`Register with ${this.kubeletSocket} failed: ${err.details || err.message}`));
        this.registrations++;
        this.c.log('registered', { resource: this.c.resource, endpoint: this.c.endpoint, registrations: this.registrations });
        resolve();
      });
    });
  }

  /** `must` first, then widgets of the NUMA node with the most candidates, widgets without a node last. */
  preferred(available: string[], must: string[], size: number): string[] {
    const out = [...must];
    const byNode = new Map<number, string[]>();
    for (const id of available) {
      if (out.includes(id)) continue;
      const n = this.numaOf(id) ?? -1;
      byNode.set(n, [...(byNode.get(n) ?? []), id]);
    }
    // Widgets without a NUMA node come last; among nodes, the one with the most candidates first.
    const nodes = [...byNode.entries()].sort((a, b) => Number(a[0] < 0) - Number(b[0] < 0) || b[1].length - a[1].length || a[0] - b[0]);
    for (const [, ids] of nodes) for (const id of ids) if (out.length < size) out.push(id);
    return out.slice(0, Math.max(size, must.length));
  }

  private readHealthFile(): void {
    if (!this.c.healthFile) return;
    this.unhealthy.clear();
    if (!existsSync(this.c.healthFile)) return;
    for (const line of readFileSync(this.c.healthFile, 'utf8').split('\n')) {
      const id = line.trim();
      if (id && this.ids.includes(id)) this.unhealthy.add(id);
    }
  }

  /**
   * Re-reads the health file, or without one marks the first healthy widget unhealthy; then
   * sends the new list on every ListAndWatch stream.
   */
  refreshHealth(): void {
    if (this.c.healthFile) this.readHealthFile();
    else {
      const next = this.ids.find((id) => !this.unhealthy.has(id));
      if (next) this.unhealthy.add(next);
    }
    this.c.log('health', { unhealthy: [...this.unhealthy] });
    for (const s of this.streams) s.write(this.deviceList());
  }

  private async closeServer(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    for (const st of this.streams) st.end();
    this.streams.clear();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        s.forceShutdown();
        resolve();
      }, 1_000);
      s.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.closeServer();
    rmSync(this.socket, { force: true });
  }
}
