// The two Nuxeo Automation operations unmodified Drive clients call, served so a reverse proxy can
// route them here (PROTOCOL.md "HTTP endpoints compatible with Nuxeo Automation"):
// body `{"params": {...}}` in, Nuxeo's JSON out, `{code, message}` with 4xx/503 on failure.
import { ErrorCode } from "@drivecast/protocol";
import type { HttpRequest, HttpResponse } from "uWebSockets.js";
import type { GatewayContext, ScrollParams } from "./context.js";
import { RequestError } from "./errors.js";
import {
  credentialsOf,
  readBody,
  requestErrorOf,
  sendError,
  sendJson,
  track,
} from "./http-util.js";
import { summarizeFeed } from "./summary.js";
import type { Identity } from "./types.js";

type Operation = (
  ctx: GatewayContext,
  identity: Identity,
  params: Record<string, unknown>,
) => Promise<unknown>;

function badRequest(message: string): RequestError {
  return new RequestError(400, ErrorCode.BadRequest, message);
}

/** An integer parameter (Automation clients send numbers, sometimes as strings). */
function integerParam(params: Record<string, unknown>, name: string): number | null {
  const v = params[name];
  if (v === undefined || v === null || v === "") return null;
  const n = typeof v === "string" && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n)) {
    throw badRequest(`params.${name} must be an integer`);
  }
  return n;
}

function paramsOf(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch {
    throw badRequest('the body must be JSON: {"params": {...}}');
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badRequest('the body must be a JSON object: {"params": {...}}');
  }
  const params = (value as { params?: unknown }).params ?? {};
  if (typeof params !== "object" || params === null || Array.isArray(params)) {
    throw badRequest("params must be an object");
  }
  return params as Record<string, unknown>;
}

export const getChangeSummary: Operation = async (ctx, identity, params) => {
  const lowerBound = integerParam(params, "lowerBound");
  // Most polls are up to date: the newest stored set (one direct get) is then all it takes.
  const last = await ctx.hub.last(identity.user);
  const upToDate = last === null || lowerBound === null || last.summary.upperBound === lowerBound;
  const history = upToDate
    ? last === null
      ? []
      : [last]
    : await ctx.hub.read(identity.user, lowerBound ?? 0);
  return summarizeFeed(history, lowerBound, {
    nowMs: ctx.now(),
    maxAgeMs: ctx.config.feedMaxAgeMs,
    changeLimit: ctx.config.changeLimit,
  });
};

export const scrollDescendants: Operation = async (ctx, identity, params) => {
  const id = params.id;
  if (typeof id !== "string" || id === "")
    throw badRequest("params.id must be a FileSystemItem id");
  const scrollId = params.scrollId;
  if (scrollId !== undefined && scrollId !== null && typeof scrollId !== "string") {
    throw badRequest("params.scrollId must be a string or null");
  }
  const batchSize = integerParam(params, "batchSize");
  if (batchSize === null || batchSize <= 0)
    throw badRequest("params.batchSize must be a positive integer");
  const keepAlive = integerParam(params, "keepAlive");
  if (keepAlive !== null && keepAlive < 0) throw badRequest("params.keepAlive must be >= 0 (ms)");
  const request: ScrollParams = {
    id,
    scrollId: scrollId === undefined || scrollId === "" ? null : scrollId,
    batchSize,
    keepAlive: keepAlive ?? undefined,
  };
  const reply = await ctx.scroll(identity, request);
  return { scrollId: reply.scrollId, fileSystemItems: reply.fileSystemItems };
};

/** A POST handler running `operation` for the authenticated caller. */
export function automationHandler(
  ctx: GatewayContext,
  endpoint: string,
  operation: Operation,
): (res: HttpResponse, req: HttpRequest) => void {
  return (res, req) => {
    const credentials = credentialsOf(req);
    const contentLength = req.getHeader("content-length");
    const state = track(res);
    const body = readBody(res, state, ctx.config.maxMessageBytes, contentLength);
    const run = async (): Promise<unknown> => {
      if (!ctx.ready())
        throw new RequestError(503, ErrorCode.NotReady, "the gateway is not ready; retry");
      const identity = await ctx.identify(credentials.token);
      if (!ctx.httpAllowed(identity.user)) {
        throw new RequestError(429, ErrorCode.RateLimited, "too many requests; back off");
      }
      return operation(ctx, identity, paramsOf(await body));
    };
    run().then(
      (answer) => {
        ctx.metrics.httpRequests.inc({ endpoint, status: "200" });
        sendJson(res, state, 200, answer);
      },
      (err: unknown) => {
        const e = requestErrorOf(err, ctx.logger);
        ctx.metrics.httpRequests.inc({ endpoint, status: String(e.status) });
        sendError(res, state, e.status, e.code, e.message);
      },
    );
  };
}
