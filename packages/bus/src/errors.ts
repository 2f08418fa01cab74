// Bus errors. `retriable` tells the caller's retry logic whether trying again can help.

export class BusError extends Error {
  override name = "BusError";
  readonly retriable: boolean;
  constructor(message: string, options?: { cause?: unknown; retriable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.retriable = options?.retriable ?? false;
  }
}

/** A KV compare-and-set lost: someone else wrote the key first. */
export class WrongRevisionError extends BusError {
  override name = "WrongRevisionError";
  constructor(
    readonly key: string,
    message = `key ${key} changed since the revision given`,
    cause?: unknown,
  ) {
    super(message, { cause, retriable: false });
  }
}

/** A stream append's expected-last-subject-sequence did not hold (fencing). */
export class WrongLastSequenceError extends BusError {
  override name = "WrongLastSequenceError";
  constructor(
    readonly subject: string,
    message = `the last message on ${subject} is not the one expected`,
    cause?: unknown,
  ) {
    super(message, { cause, retriable: false });
  }
}

export class NoRespondersError extends BusError {
  override name = "NoRespondersError";
  constructor(
    readonly subject: string,
    cause?: unknown,
  ) {
    super(`nobody serves ${subject}`, { cause, retriable: true });
  }
}

export class TimeoutError extends BusError {
  override name = "TimeoutError";
  constructor(message: string, cause?: unknown) {
    super(message, { cause, retriable: true });
  }
}

/** The bus is not connected (NATS down): retry later. */
export class DisconnectedError extends BusError {
  override name = "DisconnectedError";
  constructor(message = "not connected to the bus", cause?: unknown) {
    super(message, { cause, retriable: true });
  }
}

/** An error a request handler answered with; carries its code across the bus. */
export class RemoteError extends BusError {
  override name = "RemoteError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message, { retriable: false });
  }
}

/** The stream named does not exist: ensure it first (streams.ensure). */
export class StreamNotFoundError extends BusError {
  override name = "StreamNotFoundError";
  constructor(
    readonly stream: string,
    cause?: unknown,
  ) {
    super(`stream ${stream} does not exist; create it with streams.ensure() first`, {
      cause,
      retriable: false,
    });
  }
}

/** The durable consumer named does not exist (deleted): bind it again with streams.consumer(). */
export class ConsumerNotFoundError extends BusError {
  override name = "ConsumerNotFoundError";
  constructor(
    readonly stream: string,
    readonly durable: string,
    cause?: unknown,
  ) {
    super(
      `consumer ${durable} on stream ${stream} does not exist; bind it again with streams.consumer()`,
      { cause, retriable: false },
    );
  }
}
