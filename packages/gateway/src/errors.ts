// Gateway errors. `retriable` tells a supervisor whether starting again can help.

export class GatewayError extends Error {
  override name = "GatewayError";
  readonly retriable: boolean;
  constructor(message: string, options?: { cause?: unknown; retriable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.retriable = options?.retriable ?? false;
  }
}

/**
 * uWebSockets.js loaded its pure-JS fallback instead of the native addon (the package does that
 * silently when no binary matches this Node.js): refuse to run at a fraction of the capacity.
 */
export class NativeUwsUnavailableError extends GatewayError {
  override name = "NativeUwsUnavailableError";
  constructor(message: string, cause?: unknown) {
    super(message, { cause, retriable: false });
  }
}

/** The listen socket could not be opened (port taken, bad host). */
export class ListenError extends GatewayError {
  override name = "ListenError";
  constructor(
    readonly host: string,
    readonly port: number,
  ) {
    super(
      `could not listen on ${host}:${port}: the port is taken or the address is not local; ` +
        `choose another DRIVECAST_GATEWAY_PORT / host`,
      { retriable: true },
    );
  }
}

/** A configuration value is out of range. */
export class GatewayConfigError extends GatewayError {
  override name = "GatewayConfigError";
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`${setting}: ${message}`, { retriable: false });
  }
}

/**
 * A client request the gateway refuses, with the HTTP status and error code it answers
 * (PROTOCOL.md "Errors over HTTP"); also sent as a WebSocket `error` message.
 */
export class RequestError extends GatewayError {
  override name = "RequestError";
  constructor(
    readonly status: 400 | 401 | 404 | 413 | 429 | 503,
    readonly code: string,
    message: string,
    cause?: unknown,
  ) {
    super(message, { cause, retriable: status === 429 || status === 503 });
  }
}
