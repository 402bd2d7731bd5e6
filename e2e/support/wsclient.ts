/**
 * Test support: a minimal WebSocket client (RFC 6455) over TLS for the Kubernetes channel
 * protocols (`v4.channel.k8s.io` for exec / attach, `v4.channel.k8s.io` port-forward): each binary
 * message starts with its channel byte. Enough for tests; not for production (no fragmentation on
 * send, no extensions).
 *
 *   const ws = await wsConnect({ host, port, path, ca, cert, key, protocol: 'v4.channel.k8s.io' });
 *   ws.send(0, Buffer.from('input\n'));             // stdin
 *   const out = await ws.until((m) => ...);         // messages: { channel, data }
 *   await ws.closed; ws.close();
 */
import { randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';

export interface ChannelMessage {
  channel: number;
  data: Buffer;
}

export interface WsOptions {
  host: string;
  port: number;
  path: string;
  /** CA for TLS; without it the connection is plain TCP (containerd's streaming server). */
  ca?: string;
  cert?: string;
  key?: string;
  protocol: string;
  servername?: string;
}

export interface WsClient {
  /** The HTTP status of the handshake answer (101 when upgraded) and its body otherwise. */
  status: number;
  body: string;
  protocol: string;
  messages: ChannelMessage[];
  send(channel: number, data: Buffer): void;
  /** Resolves with the messages so far once pred holds (checked on every new message). */
  until(pred: (m: ChannelMessage[]) => boolean, what: string): Promise<ChannelMessage[]>;
  /** Resolves when the connection ends. */
  closed: Promise<void>;
  close(): void;
}

/** The text sent on one channel, concatenated. */
export function channelText(ms: ChannelMessage[], channel: number): string {
  return Buffer.concat(ms.filter((m) => m.channel === channel).map((m) => m.data)).toString('utf8');
}

function frame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : len < 65536 ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff]) : Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | 127]), Buffer.from(new BigUint64Array([BigInt(len)]).buffer).reverse()]);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([head, mask, body]);
}

export function wsConnect(o: WsOptions): Promise<WsClient> {
  return new Promise((resolve, reject) => {
    const sock: TLSSocket | Socket = o.ca
      ? connect({ host: o.host, port: o.port, ca: o.ca, ...(o.cert ? { cert: o.cert, key: o.key } : {}), servername: o.servername ?? 'localhost' })
      : netConnect({ host: o.host, port: o.port });
    const key = randomBytes(16).toString('base64');
    let buf = Buffer.alloc(0);
    let upgraded = false;
    const messages: ChannelMessage[] = [];
    const waiters: (() => void)[] = [];
    let ended = false;
    let endResolve: () => void = () => undefined;
    const closed = new Promise<void>((r) => (endResolve = r));
    const client: WsClient = {
      status: 0,
      body: '',
      protocol: '',
      messages,
      send(channel, data) {
        sock.write(frame(0x2, Buffer.concat([Buffer.from([channel]), data])));
      },
      until(pred, what) {
        return new Promise((res, rej) => {
          const check = (): boolean => {
            if (pred(messages)) {
              res(messages);
              return true;
            }
            if (ended) {
              rej(new Error(`connection closed before ${what}; got ${JSON.stringify(messages.map((m) => [m.channel, m.data.toString('utf8')]))}`));
              return true;
            }
            return false;
          };
          if (check()) return;
          const w = (): void => {
            if (check()) waiters.splice(waiters.indexOf(w), 1);
          };
          waiters.push(w);
        });
      },
      closed,
      close() {
        sock.destroy();
      },
    };
    const wake = (): void => {
      for (const w of [...waiters]) w();
    };
    sock.once(o.ca ? 'secureConnect' : 'connect', () => {
      sock.write(
        [
          `GET ${o.path} HTTP/1.1`,
          `Host: ${o.host}:${o.port}`,
          'Connection: Upgrade',
          'Upgrade: websocket',
          'Sec-WebSocket-Version: 13',
          `Sec-WebSocket-Key: ${key}`,
          `Sec-WebSocket-Protocol: ${o.protocol}`,
          '',
          '',
        ].join('\r\n'),
      );
    });
    const parseFrames = (): void => {
      for (;;) {
        if (buf.length < 2) return;
        const op = buf[0]! & 0x0f;
        let len = buf[1]! & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          off = 10;
        }
        if (buf.length < off + len) return;
        const payload = buf.subarray(off, off + len);
        buf = buf.subarray(off + len);
        if (op === 0x8) {
          sock.end();
          return;
        }
        if (op === 0x9) sock.write(frame(0xa, payload));
        if ((op === 0x2 || op === 0x1) && payload.length > 0) {
          messages.push({ channel: payload[0]!, data: Buffer.from(payload.subarray(1)) });
          wake();
        }
      }
    };
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (client.status !== 0 && !upgraded) return; // a refusal: its body is read at close
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1').split('\r\n');
        client.status = Number(head[0]!.split(' ')[1]);
        client.protocol = head.find((l) => /^sec-websocket-protocol:/i.test(l))?.split(':')[1]?.trim() ?? '';
        buf = buf.subarray(end + 4);
        if (client.status !== 101) return;
        upgraded = true;
        resolve(client);
      }
      parseFrames();
    });
    sock.on('error', (e) => {
      if (!upgraded && client.status === 0) reject(e);
    });
    sock.on('close', () => {
      ended = true;
      if (!upgraded && client.status !== 0) {
        client.body = buf.toString('utf8');
        resolve(client);
      }
      wake();
      endResolve();
    });
  });
}
