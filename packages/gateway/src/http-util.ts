// Small helpers around uWebSockets.js HTTP responses: what to copy out of a request before the
// first await (the request object is stack-allocated and dies with the callback), JSON answers,
// bounded body reads, and the mapping of failures to `{code, message}` answers.
import { ErrorCode } from "@drivecast/protocol";
import { DisconnectedError, NoRespondersError, RemoteError, TimeoutError } from "@drivecast/bus";
import type { HttpRequest, HttpResponse } from "uWebSockets.js";
import { RequestError } from "./errors.js";
import type { Logger } from "./types.js";

const STATUS: Record<number, string> = {
  200: "200 OK",
  400: "400 Bad Request",
  401: "401 Unauthorized",
  404: "404 Not Found",
  413: "413 Payload Too Large",
  429: "429 Too Many Requests",
  503: "503 Service Unavailable",
};

/** Per-request state: set by onAborted; a response must not be touched once aborted or sent. */
export interface ResponseState {
  done: boolean;
}

/** Registers onAborted (mandatory before any await) and returns the state it updates. */
export function track(res: HttpResponse): ResponseState {
  const state: ResponseState = { done: false };
  res.onAborted(() => {
    state.done = true;
  });
  return state;
}

export interface Credentials {
  token: string;
  deviceId: string;
  clientVersion: string | null;
}

/** Token (header, else query `token`), device id (header, else query `deviceId`), client version. */
export function credentialsOf(req: HttpRequest): Credentials {
  const token = req.getHeader("x-authentication-token") || (req.getQuery("token") ?? "");
  const deviceId = req.getHeader("x-device-id") || (req.getQuery("deviceId") ?? "");
  const clientVersion = req.getHeader("x-client-version") || null;
  return { token, deviceId, clientVersion };
}

/** Answers `status` with a JSON body (corked; safe outside the handler's synchronous part). */
export function sendJson(
  res: HttpResponse,
  state: ResponseState,
  status: number,
  body: unknown,
): void {
  if (state.done) return;
  state.done = true;
  const text = JSON.stringify(body);
  res.cork(() => {
    res
      .writeStatus(STATUS[status] ?? `${status} Error`)
      .writeHeader("content-type", "application/json")
      .writeHeader("cache-control", "no-store")
      .end(text);
  });
}

export function sendError(
  res: HttpResponse,
  state: ResponseState,
  status: number,
  code: string,
  message: string,
): void {
  sendJson(res, state, status, { code, message });
}

/** A RequestError for any failure: the status and code a client sees, never a stack trace. */
export function requestErrorOf(err: unknown, logger: Logger): RequestError {
  if (err instanceof RequestError) return err;
  if (err instanceof NoRespondersError) {
    return new RequestError(
      503,
      ErrorCode.NotReady,
      "no changeset worker serves this user right now; retry",
      err,
    );
  }
  if (err instanceof TimeoutError || err instanceof DisconnectedError) {
    return new RequestError(503, ErrorCode.NotReady, "the bus is unavailable or slow; retry", err);
  }
  if (err instanceof RemoteError) {
    const clientCodes: string[] = [
      ErrorCode.ScrollExpired,
      ErrorCode.BatchTooLarge,
      ErrorCode.NotFound,
      ErrorCode.BadRequest,
    ];
    if (clientCodes.includes(err.code)) return new RequestError(400, err.code, err.message, err);
    // A listing too large for the scroll cache: the request is at fault, not the server.
    if (err.code === ErrorCode.TooLarge) return new RequestError(413, err.code, err.message, err);
    return new RequestError(503, err.code === "" ? ErrorCode.Internal : err.code, err.message, err);
  }
  logger.error({ err }, "request failed");
  return new RequestError(503, ErrorCode.Internal, "internal error; retry later", err);
}

/**
 * Reads the whole body, at most `limit` bytes (413 above it). Must be called in the handler's
 * synchronous part: uWS delivers body chunks only to a handler registered there.
 */
export function readBody(
  res: HttpResponse,
  state: ResponseState,
  limit: number,
  contentLength: string,
): Promise<Buffer> {
  const tooLarge = (): RequestError =>
    new RequestError(
      413,
      ErrorCode.TooLarge,
      `the request body exceeds the limit of ${limit} bytes`,
    );
  const declared = contentLength === "" ? NaN : Number(contentLength);
  const promise = new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    if (declared > limit) {
      failed = true;
      reject(tooLarge());
    }
    res.onData((chunk, isLast) => {
      if (failed || state.done) return;
      size += chunk.byteLength;
      if (size > limit) {
        failed = true;
        reject(tooLarge());
        return;
      }
      // The chunk is neutered when this callback returns: copy it.
      chunks.push(Buffer.from(new Uint8Array(chunk).slice()));
      if (isLast) resolve(Buffer.concat(chunks));
    });
  });
  // Callers may answer (401, 503) before awaiting the body; never leave a rejection unhandled.
  promise.catch(() => undefined);
  return promise;
}
