/**
 * grpc-js service definitions built from protobuf-es `GenService` descriptors (no proto-loader),
 * so that one generated type set serves messages, servers and clients.
 *
 * API: `serviceDefinition(DevicePlugin)` → a grpc-js `ServiceDefinition` keyed by the method's
 * proto name (`ListAndWatch`), usable with `server.addService(def, handlers)` and
 * `makeGenericClientConstructor(def, name)`; `methodPath(desc)` → `/pkg.Service/Method`.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type DescMethod } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';

export function methodPath(m: DescMethod): string {
  return `/${m.parent.typeName}/${m.name}`;
}

export function serviceDefinition<M extends GenServiceMethods>(service: GenService<M>): ServiceDefinition {
  const def: Record<string, ServiceDefinition[string]> = {};
  for (const m of service.methods) {
    def[m.name] = {
      path: methodPath(m),
      requestStream: m.methodKind === 'client_streaming' || m.methodKind === 'bidi_streaming',
      responseStream: m.methodKind === 'server_streaming' || m.methodKind === 'bidi_streaming',
      requestSerialize: (v: unknown) => Buffer.from(toBinary(m.input, create(m.input, v as never))),
      requestDeserialize: (b: Buffer) => fromBinary(m.input, b),
      responseSerialize: (v: unknown) => Buffer.from(toBinary(m.output, create(m.output, v as never))),
      responseDeserialize: (b: Buffer) => fromBinary(m.output, b),
    };
  }
  return def;
}
