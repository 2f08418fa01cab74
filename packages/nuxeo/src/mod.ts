// @drivecast/nuxeo: typed Nuxeo REST client (spec/NUXEO.md §2).
export { createNuxeoClient, nxqlString, serviceAuth } from "./client.js";
export { toSnapshot, toDocument } from "./convert.js";
export {
  NuxeoError,
  NuxeoHttpError,
  NuxeoNetworkError,
  NuxeoTimeoutError,
  NuxeoUnauthorizedError,
  NuxeoResponseError,
} from "./errors.js";
export type {
  NuxeoAuth,
  NuxeoClient,
  NuxeoClientOptions,
  NuxeoDocument,
  NuxeoPage,
  NuxeoPrincipal,
  QueryOptions,
  RequestKind,
} from "./types.js";
export type {
  WireAce,
  WireAcl,
  WireBlob,
  WireDocument,
  WireDocuments,
  WireGroup,
  WireSubscription,
  WireUser,
} from "./wire.js";
