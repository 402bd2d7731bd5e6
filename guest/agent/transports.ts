/**
 * Where the agent listens: `virtio[:<name>]` (the virtio-serial port, default `agent.channel.0`,
 * found by its name under /sys/class/virtio-ports) and `auto` (the same port): the only transports
 * of a confidential agent. The host channel is the one way in: containers share the guest's
 * network namespace, so a TCP listener (even on loopback) would let any container call the agent.
 * `unix:<path>` and `tcp:<host>:<port>` are for the process agent only (NOT confidential; the agent
 * refuses them otherwise, see agent.ts).
 */
import { existsSync, openSync, readdirSync, readFileSync, closeSync, constants } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { Logger } from 'pino';
import { delay } from '../../shared/lifecycle/disposables.js';
import type { TtrpcServer } from '../../shared/ttrpc/index.js';

export const AGENT_CHANNEL = 'agent.channel.0';
const PORT_WAIT_MS = 30_000;

/** `/dev/vportNpM` whose sysfs name is `name`, once it appears (the name is filled after the node). */
export async function findVirtioPort(name: string, sys = '/sys/class/virtio-ports', timeoutMs = PORT_WAIT_MS): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      for (const p of readdirSync(sys)) {
        try {
          if (readFileSync(`${sys}/${p}/name`, 'utf8').trim() === name && existsSync(`/dev/${p}`)) return `/dev/${p}`;
        } catch {
          /* name not filled yet */
        }
      }
    } catch {
      /* sysfs class not there yet */
    }
    await delay(5);
  }
  return undefined;
}

export interface ServingTransport {
  description: string;
  close(): Promise<void>;
}

/**
 * Serves ttrpc on a virtio-serial port. One ttrpc connection per host session: the port reads EOF
 * while no host is connected, which ends the connection; a fresh one is then served on the same
 * fd, so a reconnecting host starts with clean stream ids.
 */
export function serveVirtioPort(server: TtrpcServer, dev: string, log: Logger): ServingTransport {
  const fd = openSync(dev, constants.O_RDWR);
  let closed = false;
  let idleRounds = 0;
  const loop = async (): Promise<void> => {
    while (!closed && !server.isShuttingDown) {
      const started = Date.now();
      const conn = server.serveConnection({ readFd: fd, closeFds: false, description: dev });
      await new Promise<void>((resolve) => conn.onClose(() => resolve()));
      if (closed) break;
      // Quick EOF = no host yet: back off a little (bounded) before listening again.
      idleRounds = Date.now() - started < 50 ? Math.min(idleRounds + 1, 10) : 0;
      await delay(idleRounds * 5);
    }
  };
  void loop().catch((e: unknown) => log.error({ err: (e as Error).message }, 'virtio-serial loop failed'));
  log.info({ transport: 'virtio-serial', dev }, 'agent listening');
  return {
    description: `virtio:${dev}`,
    close: async () => {
      closed = true;
      try {
        closeSync(fd);
      } catch {
        /* closed */
      }
    },
  };
}

export async function serveTcp(server: TtrpcServer, host: string, port: number, log: Logger): Promise<ServingTransport> {
  const net: Server = createServer((s) => {
    s.setNoDelay(true);
    server.serveConnection(s, `tcp:${s.remoteAddress ?? '?'}`);
  });
  await new Promise<void>((resolve, reject) => {
    net.once('error', reject);
    net.listen(port, host, () => resolve());
  });
  log.info({ transport: 'tcp', host, port }, 'agent listening');
  return { description: `tcp:${host}:${port}`, close: () => new Promise((r) => net.close(() => r())) };
}

export async function serveTransports(server: TtrpcServer, specs: readonly string[], log: Logger): Promise<ServingTransport[]> {
  const out: ServingTransport[] = [];
  for (const spec of specs) {
    if (spec.startsWith('unix:')) {
      const path = spec.slice(5);
      await server.listen(path);
      log.info({ transport: 'unix', path }, 'agent listening');
      out.push({ description: spec, close: async () => undefined });
    } else if (spec.startsWith('tcp:')) {
      const i = spec.lastIndexOf(':');
      out.push(await serveTcp(server, spec.slice(4, i), Number(spec.slice(i + 1)), log));
    } else if (spec === 'virtio' || spec.startsWith('virtio:')) {
      const name = spec.slice(7) || AGENT_CHANNEL;
      const dev = await findVirtioPort(name);
      if (!dev) throw new Error(`virtio-serial port ${name} not found`);
      out.push(serveVirtioPort(server, dev, log));
    } else if (spec === 'auto') {
      const dev = await findVirtioPort(AGENT_CHANNEL);
      if (!dev) throw new Error(`no transport found (virtio-serial port ${AGENT_CHANNEL} absent)`);
      out.push(serveVirtioPort(server, dev, log));
    } else {
      throw new Error(`unknown transport ${spec}`);
    }
  }
  return out;
}
