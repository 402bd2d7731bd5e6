/**
 * Publishes task events to containerd: `containerd.services.events.ttrpc.v1.Events/Forward` on the
 * ttrpc socket in TTRPC_ADDRESS, each event an Envelope whose Any has the bare type URL
 * (`containerd.events.TaskExit`). One queue, one event in flight: the order the shim enqueues is
 * the order containerd sees (create → start → exit → delete). A containerd restart is survived by
 * reconnecting and retrying for a while.
 */
import { create, toBinary, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { TtrpcClient, createClient } from '../../shared/ttrpc/index.js';
import { Events } from '../../shared/gen/containerd/services/events/v1/events_pb.js';
import type { Logger } from '../../shared/log/logger.js';
import { delay } from '../../shared/lifecycle/disposables.js';

export const NAMESPACE_METADATA_KEY = 'containerd-namespace-ttrpc';
/** Retries per event before it is dropped (spans a containerd restart of a few seconds). */
export const PUBLISH_ATTEMPTS = 40;
export const PUBLISH_RETRY_MS = 250;

export interface PublishedEvent {
  topic: string;
  typeUrl: string;
  value: Uint8Array;
}

/** Where events go; the task service only knows this. */
export interface EventSink {
  publish<D extends DescMessage>(topic: string, schema: D, event: MessageInitShape<D>): void;
  /** Resolves when everything enqueued so far was delivered or dropped. */
  flush(): Promise<void>;
  close(): void;
}

export class ForwardPublisher implements EventSink {
  private queue: Promise<void> = Promise.resolve();
  private conn: TtrpcClient | undefined;
  private closed = false;

  constructor(private readonly opts: { ttrpcAddress: string; namespace: string; logger: Logger }) {}

  publish<D extends DescMessage>(topic: string, schema: D, event: MessageInitShape<D>): void {
    const ev: PublishedEvent = { topic, typeUrl: schema.typeName, value: toBinary(schema, create(schema, event)) };
    this.queue = this.queue.then(() => this.send(ev));
  }

  flush(): Promise<void> {
    return this.queue;
  }

  close(): void {
    this.closed = true;
    this.conn?.close();
  }

  private async send(ev: PublishedEvent): Promise<void> {
    const { logger, namespace, ttrpcAddress } = this.opts;
    for (let attempt = 1; attempt <= PUBLISH_ATTEMPTS && !this.closed; attempt++) {
      try {
        this.conn ??= await TtrpcClient.connect(ttrpcAddress, { timeoutMs: 2000 });
        const conn = this.conn;
        conn.onClose(() => {
          if (this.conn === conn) this.conn = undefined;
        });
        await createClient(Events, conn).forward(
          { envelope: { timestamp: timestampFromDate(new Date()), namespace, topic: ev.topic, event: { typeUrl: ev.typeUrl, value: ev.value } } },
          { timeoutMs: 5000, metadata: { [NAMESPACE_METADATA_KEY]: namespace } },
        );
        logger.debug({ topic: ev.topic }, 'event published');
        return;
      } catch (e) {
        this.conn?.close();
        this.conn = undefined;
        if (attempt === 1) logger.warn({ topic: ev.topic, err: (e as Error).message }, 'event publish failed, retrying');
        await delay(PUBLISH_RETRY_MS);
      }
    }
    if (!this.closed) logger.error({ topic: ev.topic }, 'event dropped after retries');
  }
}

/** An in-memory sink for tests. */
export class RecordingSink implements EventSink {
  readonly events: PublishedEvent[] = [];
  publish<D extends DescMessage>(topic: string, schema: D, event: MessageInitShape<D>): void {
    this.events.push({ topic, typeUrl: schema.typeName, value: toBinary(schema, create(schema, event)) });
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  close(): void {}
  get topics(): string[] {
    return this.events.map((e) => e.topic);
  }
}
