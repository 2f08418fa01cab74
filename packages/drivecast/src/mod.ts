// @drivecast/drivecast: the composition of every role (embedded mode) and the CLI.
export { startEmbedded } from "./embedded.js";
export type { Embedded, EmbeddedOptions } from "./embedded.js";
export { tail } from "./tail.js";
export type { TailOptions } from "./tail.js";
