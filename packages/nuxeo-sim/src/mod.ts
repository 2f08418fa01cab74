// @drivecast/nuxeo-sim: a Nuxeo stand-in for tests, demos and benchmarks.
export { createSimulator } from "./simulator.js";
export { startRestServer } from "./rest.js";
export type { RestServer, RestServerOptions } from "./rest.js";
export { callbackAuditSink, memoryAuditSink } from "./audit-sink.js";
export { kafkaAuditSink } from "./audit-sink-kafka.js";
export type { KafkaAuditSinkOptions } from "./audit-sink-kafka.js";
export { startActivity } from "./activity.js";
export { seededRandom } from "./random.js";
export type { Activity, ActivityOptions } from "./activity.js";
export { includesPermission } from "./permissions.js";
export {
  SimError,
  SimNotFoundError,
  SimUnknownPrincipalError,
  SimInvalidOperationError,
  NxqlSyntaxError,
} from "./errors.js";
export type {
  AceInput,
  AceStatus,
  ActOptions,
  AuditEntry,
  AuditRecord,
  AuditSink,
  CreateOptions,
  DocRef,
  FileOptions,
  GroupOptions,
  ModifyChanges,
  RequestCounts,
  RestEndpoint,
  SimAce,
  SimAcl,
  SimBlob,
  SimDocument,
  SimGroup,
  SimLock,
  SimSubscription,
  SimUser,
  Simulator,
  SimulatorOptions,
  UserOptions,
} from "./types.js";
export { seedDemo } from "./demo.js";
export type { Demo, DemoOptions, DemoUser } from "./demo.js";
export { createWorkload, DEFAULT_WORKLOAD_WEIGHTS } from "./workload.js";
export type { Workload, WorkloadOp, WorkloadOpKind, WorkloadOptions } from "./workload.js";
export { driveTreeOf } from "./drive-tree.js";
export type { DriveTreeRow } from "./drive-tree.js";
