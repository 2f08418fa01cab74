// Errors of the simulator's programmatic API. A test that misuses the API (unknown uid, a parent
// that is not folderish, a name that does not exist) gets one of these with a message naming the
// argument; nothing here is retriable because the simulator state is local and synchronous.

export class SimError extends Error {
  override name = "SimError";
  readonly retriable: boolean = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** A uid or path that names no live document. */
export class SimNotFoundError extends SimError {
  override name = "SimNotFoundError";
  constructor(readonly ref: string) {
    super(`no document at ${JSON.stringify(ref)}: create it first or check the uid/path`);
  }
}

/** A user, group or token the simulator does not know. */
export class SimUnknownPrincipalError extends SimError {
  override name = "SimUnknownPrincipalError";
  constructor(
    readonly kind: "user" | "group",
    readonly id: string,
  ) {
    super(
      `no ${kind} named ${JSON.stringify(id)}: create it first with create${kind === "user" ? "User" : "Group"}()`,
    );
  }
}

/** An operation the document model forbids (child of a non-folderish doc, moving under itself…). */
export class SimInvalidOperationError extends SimError {
  override name = "SimInvalidOperationError";
}

/** The NXQL subset parser did not understand a query (the REST layer answers 400 with it). */
export class NxqlSyntaxError extends SimError {
  override name = "NxqlSyntaxError";
  constructor(
    readonly query: string,
    detail: string,
  ) {
    super(
      `unsupported NXQL (${detail}): the simulator understands SELECT * FROM Document WHERE ` +
        `conditions on ecm:uuid, ecm:parentId, ecm:ancestorId, ecm:path STARTSWITH, ecm:mixinType, ` +
        `ecm:primaryType, ecm:isTrashed, ecm:isVersion, ecm:isProxy, drv:subscriptions/*/username ` +
        `joined by AND; query was: ${query}`,
    );
  }
}
