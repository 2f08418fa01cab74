// Retries with jittered exponential backoff ("full jitter": a random wait in [0, cap]), so
// workers that failed together do not retry together. Whether to retry is the error's call:
// BusError and the other packages' errors carry a `retriable` flag.

export interface RetryOptions {
  /** Retries after the first attempt; Infinity for "until it works or is aborted". */
  retries: number;
  /** Backoff cap of the first retry, ms. */
  baseMs: number;
  /** Largest backoff cap, ms. */
  maxMs: number;
  /** Default: the error's `retriable` flag is true. */
  isRetriable?: (err: unknown) => boolean;
  /** Called before each wait (logging, metrics). */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  /** Stops retrying: the pending wait ends and the last error is thrown. */
  signal?: AbortSignal;
  /** Injected for tests: uniform in [0, 1). Default Math.random. */
  random?: () => number;
  /** Injected for tests. Default: a timer that the signal cancels. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** True when `err` says trying again can help (`retriable: true`). */
export function isRetriableError(err: unknown): boolean {
  return (
    typeof err === "object" &&
    err !== null &&
    "retriable" in err &&
    (err as { retriable: unknown }).retriable === true
  );
}

/** The wait before retry number `attempt` (0-based): uniform in [0, min(maxMs, baseMs·2^attempt)]. */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}

export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const isRetriable = options.isRetriable ?? isRetriableError;
  const sleep = options.sleep ?? abortableSleep;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= options.retries || options.signal?.aborted || !isRetriable(err)) throw err;
      const delay = backoffDelay(attempt, options.baseMs, options.maxMs, options.random);
      options.onRetry?.(err, attempt + 1, delay);
      await sleep(delay, options.signal);
      if (options.signal?.aborted) throw err;
    }
  }
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
