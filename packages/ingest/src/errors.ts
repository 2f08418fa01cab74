// Errors of the ingest. `retriable` says whether trying the same batch again can help; the
// pipeline never dead-letters on a retriable error (the record is fine, a dependency is not).

export class IngestError extends Error {
  override name = "IngestError";
  readonly retriable: boolean;
  constructor(message: string, options?: { cause?: unknown; retriable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.retriable = options?.retriable ?? false;
  }
}

/**
 * The batch was abandoned before it completed: its partition was revoked, or the process is
 * stopping and the grace period ran out. Nothing was committed; the batch is redelivered.
 */
export class BatchAbortedError extends IngestError {
  override name = "BatchAbortedError";
  constructor(reason: string, cause?: unknown) {
    super(`batch abandoned (${reason}); it is redelivered uncommitted`, {
      cause,
      retriable: true,
    });
  }
}

/**
 * The schema registry could not answer (network, timeout, 5xx: retriable) or answered something
 * that is not a schema (not retriable: check the URL and credentials).
 */
export class SchemaRegistryError extends IngestError {
  override name = "SchemaRegistryError";
  constructor(
    readonly schemaId: number,
    message: string,
    options: { cause?: unknown; retriable: boolean; status?: number },
  ) {
    super(message, options);
    this.status = options.status ?? 0;
  }
  /** HTTP status, 0 when no response arrived. */
  readonly status: number;
}

/** A dead-letter command got arguments it cannot use. */
export class DeadLetterCommandError extends IngestError {
  override name = "DeadLetterCommandError";
  constructor(message: string) {
    super(message, { retriable: false });
  }
}
