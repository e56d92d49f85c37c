// @barrel: Auto-generated exports (scripts/barrels.mjs). Do not edit manually.
export * as Bdat from "./Bdat.ts"
export * as DotStuffing from "./DotStuffing.ts"
export * as SmtpCommand from "./SmtpCommand.ts"
export * as SmtpExtensions from "./SmtpExtensions.ts"
export * as SmtpProtocol from "./SmtpProtocol.ts"
export * as SmtpReply from "./SmtpReply.ts"
export * as Xtext from "./Xtext.ts"
