// Publishing to JetStream with bounded memory and no loss.
//
// - At most `maxInFlight` appends are outstanding per process; `append` waits for a slot, so a
//   slow NATS slows the pipeline down (and with it the Kafka consumer) instead of growing a queue.
// - A retriable failure (disconnected, timeout) is retried with backoff until it succeeds or the
//   batch is abandoned (`signal`): while NATS is down the batch simply waits, heartbeating Kafka.
//   Every append carries a message id, so a retry of an append that was in fact stored is a
//   duplicate the server drops.
// - A stream that vanished (deleted by hand, or a NATS server restarted without its store) is
//   created again, then the append retried.
// - The batch's `done()` resolves when every append is acknowledged, or rejects with the first
//   error that retrying cannot fix; the caller then does not commit.
import {
  StreamNotFoundError,
  backoffDelay,
  isRetriableError,
  type AppendOptions,
  type Streams,
} from "@drivecast/bus";
import { BatchAbortedError } from "./errors.js";
import { abortableSleep } from "./abortable-sleep.js";

export type PublishKind = "events" | "deadletter";

export interface PublisherOptions {
  streams: Pick<Streams, "append">;
  maxInFlight: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Creates the streams again after a StreamNotFoundError. */
  ensureStreams(): Promise<void>;
  /** After each acknowledged append: its latency and whether the server saw it as a duplicate. */
  onPublished?(kind: PublishKind, seconds: number, duplicate: boolean): void;
  /** Before each wait of a retry. */
  onRetry?(error: unknown, attempt: number): void;
}

export interface PublishBatch {
  /**
   * Starts the append. Returns null when it is under way, or a promise to await first when all
   * slots are taken (the common case costs no promise). Throws once the batch failed.
   */
  append(
    kind: PublishKind,
    subject: string,
    data: Uint8Array,
    options: AppendOptions,
  ): Promise<void> | null;
  /** Every append acknowledged; or the first unrecoverable error. */
  done(): Promise<void>;
}

export interface Publisher {
  begin(signal: AbortSignal): PublishBatch;
  /** Appends outstanding now. */
  inFlight(): number;
}

export function createPublisher(options: PublisherOptions): Publisher {
  const max = Math.max(1, options.maxInFlight);
  let inFlight = 0;
  const waiters: (() => void)[] = [];

  async function acquire(signal: AbortSignal): Promise<void> {
    while (inFlight >= max) {
      if (signal.aborted) throw new BatchAbortedError("aborted while waiting to publish");
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        };
        // An aborted waiter leaves the queue, so a released slot always wakes a live one.
        const onAbort = () => {
          const i = waiters.indexOf(wake);
          if (i >= 0) waiters.splice(i, 1);
          resolve();
        };
        waiters.push(wake);
        signal.addEventListener("abort", onAbort, { once: true });
      });
    }
    inFlight++;
  }

  function release(): void {
    inFlight--;
    waiters.shift()?.();
  }

  async function send(
    kind: PublishKind,
    subject: string,
    data: Uint8Array,
    appendOptions: AppendOptions,
    signal: AbortSignal,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (signal.aborted) throw new BatchAbortedError("aborted while publishing");
      const started = performance.now();
      try {
        const r = await options.streams.append(subject, data, appendOptions);
        options.onPublished?.(kind, (performance.now() - started) / 1000, r.duplicate);
        return;
      } catch (error) {
        if (signal.aborted) throw new BatchAbortedError("aborted while publishing", error);
        if (error instanceof StreamNotFoundError) {
          options.onRetry?.(error, attempt + 1);
          try {
            await options.ensureStreams();
          } catch (ensureError) {
            if (!isRetriableError(ensureError)) throw ensureError;
          }
        } else if (!isRetriableError(error)) {
          throw error;
        } else {
          options.onRetry?.(error, attempt + 1);
        }
        await abortableSleep(
          backoffDelay(attempt, options.retryBaseMs, options.retryMaxMs),
          signal,
        );
      }
    }
  }

  return {
    inFlight: () => inFlight,
    begin(signal) {
      const pending: Promise<void>[] = [];
      let failure: { error: unknown } | null = null;
      const onError = (error: unknown) => {
        failure ??= { error };
      };
      const start = (
        kind: PublishKind,
        subject: string,
        data: Uint8Array,
        appendOptions: AppendOptions,
      ) => {
        pending.push(
          send(kind, subject, data, appendOptions, signal).then(release, (e: unknown) => {
            release();
            onError(e);
          }),
        );
      };
      return {
        append(kind, subject, data, appendOptions) {
          if (failure !== null) throw failure.error;
          if (inFlight < max && !signal.aborted) {
            inFlight++;
            start(kind, subject, data, appendOptions);
            return null;
          }
          return acquire(signal).then(() => {
            if (failure !== null) {
              release();
              throw failure.error;
            }
            start(kind, subject, data, appendOptions);
          });
        },
        async done() {
          await Promise.all(pending);
          if (failure !== null) throw failure.error;
        },
      };
    },
  };
}
