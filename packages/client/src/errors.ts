// Client errors, delivered on the `error` event (and thrown by `start()` for bad options).
// `retriable` says whether the client keeps trying by itself (true) or has stopped (false).

export class DriveClientError extends Error {
  override name = "DriveClientError";
  readonly retriable: boolean;
  constructor(message: string, options?: { cause?: unknown; retriable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.retriable = options?.retriable ?? false;
  }
}

/** The options given to `createDriveClient` cannot work. */
export class ClientConfigError extends DriveClientError {
  override name = "ClientConfigError";
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`${option}: ${message}`, { retriable: false });
  }
}

/**
 * A `changes` message did not continue the previous one (`lowerBound` ≠ the previous
 * `upperBound`): the client reconnects and resumes from its saved cursor.
 */
export class ContiguityError extends DriveClientError {
  override name = "ContiguityError";
  constructor(
    readonly expected: number | null,
    readonly received: number,
  ) {
    super(
      `change set follows position ${received} but the previous one ended at ${String(expected)}; ` +
        `reconnecting to resume from the saved cursor`,
      { retriable: true },
    );
  }
}

/** Nothing was heard for twice the heartbeat: the client reconnects. */
export class SilenceError extends DriveClientError {
  override name = "SilenceError";
  constructor(readonly silentMs: number) {
    super(`nothing heard from the server for ${silentMs} ms; reconnecting`, { retriable: true });
  }
}

/** The connection closed or failed; the client reconnects unless `retriable` is false. */
export class ConnectionError extends DriveClientError {
  override name = "ConnectionError";
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    options?: { cause?: unknown; retriable?: boolean },
  ) {
    super(message, { retriable: true, ...options });
  }
}

/**
 * The server refused this client's frames (close 4000, HTTP 400): a bug to fix, not retried.
 * Also raised when the server sends something this client cannot parse (then retried).
 */
export class ProtocolError extends DriveClientError {
  override name = "ProtocolError";
  constructor(message: string, options?: { cause?: unknown; retriable?: boolean }) {
    super(message, { retriable: false, ...options });
  }
}

/**
 * The token was refused (HTTP 401 or close 4001) and no `reauthenticate` callback gave a new one:
 * the client stopped. Give it a new token and start again.
 */
export class AuthenticationError extends DriveClientError {
  override name = "AuthenticationError";
  constructor(message: string, cause?: unknown) {
    super(message, { cause, retriable: false });
  }
}

/** A scroll request was answered with an error (code from PROTOCOL.md) or timed out. */
export class ScrollError extends DriveClientError {
  override name = "ScrollError";
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown; retriable?: boolean },
  ) {
    super(message, { retriable: true, ...options });
  }
}

/** The application's `onUpdate` hook or the cursor store failed; the set is retried. */
export class ApplyError extends DriveClientError {
  override name = "ApplyError";
  constructor(message: string, cause: unknown) {
    super(message, { cause, retriable: true });
  }
}
