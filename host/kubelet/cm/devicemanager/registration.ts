/**
 * The kubelet's Registration service (v1beta1) on `<dir>/kubelet.sock`
 * (cm/devicemanager/plugin/v1beta1/server.go). A plugin calls Register(version, endpoint,
 * resource_name, options); the request is checked here (version, extended resource name, an
 * endpoint that is a file name inside the directory) and then handed to the manager, which dials
 * the plugin before the call returns. Refusals answer INVALID_ARGUMENT (or the manager's status)
 * with a message naming what was wrong.
 *
 * API: `const r = await RegistrationServer.start({ dir, onRegister, logger })`; `r.socket`;
 * `await r.stop()` (closes the server and removes the socket).
 */
import * as grpc from '@grpc/grpc-js';
import { rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Logger } from '../../../../shared/log/logger.js';
import { CocoletError, ErrorCode } from '../../../../shared/errors/errors.js';
import { statusCodeOf } from '../../../../shared/errors/status.js';
import { serviceDefinition } from '../../../../shared/grpc/definition.js';
import { Registration, type RegisterRequest } from '../../../../shared/gen/deviceplugin/v1beta1/api_pb.js';
import { extendedResourceNameProblem } from './resource-name.js';

export const KUBELET_SOCKET = 'kubelet.sock';
/** The only device plugin API version this kubelet speaks. */
export const SUPPORTED_VERSIONS = ['v1beta1'];

export interface ValidRegistration {
  resource: string;
  /** Absolute path of the plugin's socket. */
  socket: string;
  preStartRequired: boolean;
  getPreferredAllocationAvailable: boolean;
}

/** Checks a RegisterRequest; throws a CocoletError (InvalidArgument) naming the problem. */
export function validateRegistration(dir: string, r: RegisterRequest): ValidRegistration {
  const ctx = { rpc: 'Register', resource: r.resourceName };
  if (!SUPPORTED_VERSIONS.includes(r.version)) {
    throw new CocoletError(
      ErrorCode.InvalidArgument,
      `requested API version "${r.version}" is not supported by kubelet. Supported versions are ${JSON.stringify(SUPPORTED_VERSIONS)}`,
      { context: ctx },
    );
  }
  const problem = extendedResourceNameProblem(r.resourceName);
  if (problem) throw new CocoletError(ErrorCode.InvalidArgument, `the ResourceName "${r.resourceName}" is invalid: ${problem}`, { context: ctx });
  if (r.endpoint === '' || basename(r.endpoint) !== r.endpoint || r.endpoint === '.' || r.endpoint === '..') {
    throw new CocoletError(ErrorCode.InvalidArgument, `the endpoint "${r.endpoint}" must be the name of a socket file in ${dir}`, { context: ctx });
  }
  if (r.endpoint === KUBELET_SOCKET) {
    throw new CocoletError(ErrorCode.InvalidArgument, `the endpoint "${r.endpoint}" is the kubelet's own socket`, { context: ctx });
  }
  return {
    resource: r.resourceName,
    socket: join(dir, r.endpoint),
    preStartRequired: r.options?.preStartRequired ?? false,
    getPreferredAllocationAvailable: r.options?.getPreferredAllocationAvailable ?? false,
  };
}

export interface RegistrationServerOptions {
  dir: string;
  /** Dials and adopts the plugin; a rejection is the Register call's answer. */
  onRegister(r: ValidRegistration): Promise<void>;
  logger: Logger;
}

export class RegistrationServer {
  private constructor(
    private readonly server: grpc.Server,
    readonly socket: string,
  ) {}

  static async start(o: RegistrationServerOptions): Promise<RegistrationServer> {
    const socket = join(o.dir, KUBELET_SOCKET);
    rmSync(socket, { force: true });
    const server = new grpc.Server();
    server.addService(serviceDefinition(Registration), {
      Register: (call: grpc.ServerUnaryCall<RegisterRequest, object>, cb: grpc.sendUnaryData<object>) => {
        const req = call.request;
        void (async () => {
          try {
            const v = validateRegistration(o.dir, req);
            o.logger.info({ resource: v.resource, endpoint: req.endpoint }, 'device plugin registering');
            await o.onRegister(v);
            cb(null, {});
          } catch (e) {
            const message = e instanceof Error ? e.message : String(e);
            o.logger.warn({ resource: req.resourceName, endpoint: req.endpoint, version: req.version, err: message }, 'device plugin registration refused');
            cb({ code: statusCodeOf(e) as grpc.status, details: message });
          }
        })();
      },
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err ? reject(new CocoletError(ErrorCode.Unavailable, `cannot serve device plugin registration on ${socket}: ${err.message}`, { cause: err })) : resolve(),
      ),
    );
    return new RegistrationServer(server, socket);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 2_000);
      t.unref();
      this.server.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
    rmSync(this.socket, { force: true });
  }
}
