/**
 * The kubelet's side of one registered device plugin (cm/devicemanager/plugin/v1beta1/client.go,
 * endpoint.go): dials the plugin's unix socket, reads its options, follows its ListAndWatch stream
 * and makes the allocation calls.
 *
 * API: `const ep = await PluginEndpoint.connect({ resource, socket })` (rejects when the plugin
 * cannot be reached within `dialTimeoutMs`, naming the socket); `ep.options`;
 * `ep.watch(onDevices, onEnd)` runs ListAndWatch until the stream ends or `close()`;
 * `allocate(ids)`, `preferredAllocation(available, mustInclude, size)`, `preStart(ids)`.
 * Every error is a CocoletError whose context names the resource and the rpc.
 */
import type { Client } from '@grpc/grpc-js';
import type { GenService } from '@bufbuild/protobuf/codegenv2';
import { CocoletError, ErrorCode, toCocoletError } from '../../../../shared/errors/errors.js';
import {
  DevicePlugin,
  type ContainerAllocateResponse,
  type Device,
  type DevicePluginOptions,
} from '../../../../shared/gen/deviceplugin/v1beta1/api_pb.js';
import { ServiceClient, connectChannel } from '../../../cri/grpc.js';

/** How long the kubelet waits for a registering plugin's socket to answer (upstream: 10 s). */
export const DIAL_TIMEOUT_MS = 10_000;
/** Deadline of Allocate, GetPreferredAllocation and PreStartContainer calls. */
export const CALL_TIMEOUT_MS = 30_000;

type ShapeOf<S> = S extends GenService<infer M> ? M : never;

export interface EndpointOptions {
  resource: string;
  /** Absolute path of the plugin's socket. */
  socket: string;
  dialTimeoutMs?: number;
  callTimeoutMs?: number;
}

export class PluginEndpoint {
  private stream: { cancel(): void } | undefined;
  private closed = false;

  private constructor(
    readonly resource: string,
    readonly socket: string,
    private readonly channel: Client,
    private readonly client: ServiceClient<ShapeOf<typeof DevicePlugin>>,
    readonly options: DevicePluginOptions,
    private readonly callTimeoutMs: number,
  ) {}

  static async connect(o: EndpointOptions): Promise<PluginEndpoint> {
    const channel = connectChannel(o.socket);
    const client = new ServiceClient(DevicePlugin, channel);
    const ctx = { resource: o.resource, socket: o.socket };
    try {
      const dialMs = o.dialTimeoutMs ?? DIAL_TIMEOUT_MS;
      await new Promise<void>((resolve, reject) =>
        channel.waitForReady(Date.now() + dialMs, (err) =>
          err
            ? reject(new CocoletError(ErrorCode.Unavailable, `cannot dial device plugin socket ${o.socket} within ${dialMs} ms: ${err.message}`, { context: { ...ctx, rpc: 'Dial' } }))
            : resolve(),
        ),
      );
      const options = await client.unary('getDevicePluginOptions', {}, { timeoutMs: dialMs, context: ctx });
      return new PluginEndpoint(o.resource, o.socket, channel, client, options, o.callTimeoutMs ?? CALL_TIMEOUT_MS);
    } catch (e) {
      channel.close();
      throw toCocoletError(e, ErrorCode.Unavailable, ctx);
    }
  }

  private get ctx(): Record<string, string> {
    return { resource: this.resource, socket: this.socket };
  }

  /**
   * Follows ListAndWatch: `onDevices` gets each full device list; `onEnd` is called once when the
   * stream ends for any reason (plugin gone, error, close()), with the error if there was one.
   */
  watch(onDevices: (devices: Device[]) => void, onEnd: (err?: CocoletError) => void): void {
    const s = this.client.serverStream('listAndWatch', {}, { context: this.ctx });
    this.stream = s;
    void (async () => {
      try {
        for await (const res of s) onDevices(res.devices);
        onEnd();
      } catch (e) {
        onEnd(this.closed ? undefined : toCocoletError(e, ErrorCode.Unavailable, this.ctx));
      }
    })();
  }

  async allocate(ids: string[]): Promise<ContainerAllocateResponse> {
    const res = await this.client.unary('allocate', { containerRequests: [{ devicesIds: ids }] }, { timeoutMs: this.callTimeoutMs, context: this.ctx });
    const first = res.containerResponses[0];
    if (res.containerResponses.length !== 1 || !first) {
      throw new CocoletError(ErrorCode.Internal, `device plugin answered Allocate with ${res.containerResponses.length} container responses for 1 request`, {
        context: { ...this.ctx, rpc: 'Allocate' },
      });
    }
    return first;
  }

  async preferredAllocation(available: string[], mustInclude: string[], size: number): Promise<string[]> {
    const res = await this.client.unary(
      'getPreferredAllocation',
      { containerRequests: [{ availableDeviceIDs: available, mustIncludeDeviceIDs: mustInclude, allocationSize: size }] },
      { timeoutMs: this.callTimeoutMs, context: this.ctx },
    );
    return res.containerResponses[0]?.deviceIDs ?? [];
  }

  async preStart(ids: string[]): Promise<void> {
    await this.client.unary('preStartContainer', { devicesIds: ids }, { timeoutMs: this.callTimeoutMs, context: this.ctx });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stream?.cancel();
    this.channel.close();
  }
}
