// testkit errors. Each says what failed and what to do about it; `retriable` tells whether trying
// again (without changing anything on the machine) can help.

export class TestkitError extends Error {
  override name = "TestkitError";
  readonly retriable: boolean;
  constructor(message: string, options?: { cause?: unknown; retriable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.retriable = options?.retriable ?? false;
  }
}

/** A tool that provisioning or a server needs (go, java, mvn) is not installed or too old. */
export class MissingToolError extends TestkitError {
  override name = "MissingToolError";
  constructor(
    readonly tool: string,
    message: string,
    cause?: unknown,
  ) {
    super(message, { cause, retriable: false });
  }
}

/** Fetching or building a server (go install, mvn) failed. */
export class ProvisionError extends TestkitError {
  override name = "ProvisionError";
  constructor(message: string, cause?: unknown) {
    // Usually a network hiccup or a registry outage: running it again can help.
    super(message, { cause, retriable: true });
  }
}

/** A server process did not come up (exited early or was not ready before the deadline). */
export class ServerStartError extends TestkitError {
  override name = "ServerStartError";
  constructor(
    readonly server: "nats-server" | "kafka",
    readonly logFile: string,
    message: string,
    options: { logTail?: string; cause?: unknown } = {},
  ) {
    const tail = options.logTail ? `\n--- end of the log ---\n${options.logTail}` : "";
    // Usually a port taken between choosing and binding it, or a slow machine: a retry can help.
    super(`${message} (log: ${logFile})${tail}`, { cause: options.cause, retriable: true });
  }
}
