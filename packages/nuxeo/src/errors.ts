// Errors of the Nuxeo client. Each names the call that failed (`call`, e.g. `document
// default/<uuid>`), keeps the cause, and says through `retriable` whether trying again can help;
// the client's own retry loop reads that flag (kafkajs' errors.js is the model).

export class NuxeoError extends Error {
  override name = "NuxeoError";
  readonly retriable: boolean;
  constructor(
    readonly call: string,
    message: string,
    options?: { cause?: unknown; retriable?: boolean },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.retriable = options?.retriable ?? false;
  }
}

/**
 * Nuxeo answered with an error status. 5xx and 429 are retriable (overload, restart, a proxy in
 * between); other 4xx are not: the same request fails the same way.
 */
export class NuxeoHttpError extends NuxeoError {
  override name = "NuxeoHttpError";
  constructor(
    call: string,
    /** HTTP status; 0 when no response arrived (network error, timeout). */
    readonly status: number,
    message: string,
    options?: { cause?: unknown; retriable?: boolean },
  ) {
    super(call, message, {
      cause: options?.cause,
      retriable: options?.retriable ?? (status === 0 || status === 429 || status >= 500),
    });
  }
}

/** No response: connection refused or reset, DNS, TLS. Retriable. */
export class NuxeoNetworkError extends NuxeoHttpError {
  override name = "NuxeoNetworkError";
  constructor(call: string, baseUrl: string, cause: unknown) {
    super(
      call,
      0,
      `${call}: could not reach Nuxeo at ${baseUrl} (${cause instanceof Error ? cause.message : String(cause)}); check the URL and that Nuxeo is up`,
      { cause, retriable: true },
    );
  }
}

/** No answer within the client's timeout. Retriable. */
export class NuxeoTimeoutError extends NuxeoHttpError {
  override name = "NuxeoTimeoutError";
  constructor(call: string, timeoutMs: number, cause?: unknown) {
    super(
      call,
      0,
      `${call}: Nuxeo did not answer within ${timeoutMs} ms; it may be overloaded (raise the timeout or lower the batch size)`,
      { cause, retriable: true },
    );
  }
}

/**
 * 401: the credentials were refused. For `me(token)` the client's token is invalid or revoked;
 * for any other call the service account's credentials are wrong. Not retriable.
 */
export class NuxeoUnauthorizedError extends NuxeoHttpError {
  override name = "NuxeoUnauthorizedError";
  constructor(call: string, message: string) {
    super(call, 401, message, { retriable: false });
  }
}

/** Nuxeo answered 2xx with a body that is not the JSON expected. Not retriable. */
export class NuxeoResponseError extends NuxeoError {
  override name = "NuxeoResponseError";
  constructor(call: string, detail: string, cause?: unknown) {
    super(
      call,
      `${call}: unexpected response from Nuxeo (${detail}); check that the base URL points at Nuxeo's context path (e.g. http://host:8080/nuxeo)`,
      { cause, retriable: false },
    );
  }
}
