// @barrel: Auto-generated exports (scripts/barrels.mjs). Do not edit manually.
export * as ImapCapabilities from "./ImapCapabilities.ts"
export * as ImapCommand from "./ImapCommand.ts"
export * as ImapProtocol from "./ImapProtocol.ts"
export * as ImapResponse from "./ImapResponse.ts"
export * as MailboxName from "./MailboxName.ts"
export * as SearchCriteria from "./SearchCriteria.ts"
export * as SequenceSet from "./SequenceSet.ts"
