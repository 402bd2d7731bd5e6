/**
 * Tracing channels (node:diagnostics_channel), free when nobody subscribes:
 *   cocolet:ttrpc:client:start / cocolet:ttrpc:client:end
 *   cocolet:ttrpc:server:start / cocolet:ttrpc:server:end
 * Messages: { service, method, streamId, kind } plus on end { code, error? } (status code).
 */
import { channel } from 'node:diagnostics_channel';

export const channels = {
  clientStart: channel('cocolet:ttrpc:client:start'),
  clientEnd: channel('cocolet:ttrpc:client:end'),
  serverStart: channel('cocolet:ttrpc:server:start'),
  serverEnd: channel('cocolet:ttrpc:server:end'),
} as const;

export interface CallTrace {
  service: string;
  method: string;
  streamId: number;
  kind: string;
  code?: number;
  error?: unknown;
}
