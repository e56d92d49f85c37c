// @barrel: Auto-generated exports (scripts/barrels.mjs). Do not edit manually.
export * as Apop from "./Apop.ts"
export * as Pop3Capabilities from "./Pop3Capabilities.ts"
export * as Pop3Client from "./Pop3Client.ts"
export * as Pop3Command from "./Pop3Command.ts"
export * as Pop3Dialect from "./Pop3Dialect.ts"
export * as Pop3Error from "./Pop3Error.ts"
export * as Pop3Protocol from "./Pop3Protocol.ts"
export * as Pop3Response from "./Pop3Response.ts"
