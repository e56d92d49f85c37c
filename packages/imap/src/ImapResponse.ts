/**
 * What an IMAP server sends, as typed data: the models produced by `ImapProtocol.makeParser`.
 *
 * Covers IMAP4rev2 (RFC 9051) and IMAP4rev1 (RFC 3501) responses and the extensions a modern client
 * meets (CONDSTORE/QRESYNC RFC 7162, ESEARCH RFC 4731, LIST-EXTENDED RFC 5258, UIDPLUS RFC 4315,
 * BINARY RFC 3516, OBJECTID RFC 8474, ID RFC 2971, NAMESPACE RFC 2342, response codes RFC 5530).
 * Every model is a `_tag`ged readonly plain object whose field names follow the RFC 9051 ABNF.
 *
 * Nothing here is trusted: all `text` is server-controlled, and whether it may be shown to a user
 * (received before or after TLS) is the client's decision. Mailbox names are the strings as sent:
 * modified UTF-7 (RFC 3501 §5.1.3) is decoded elsewhere.
 *
 * @since 0.1.0
 */

/**
 * A generic IMAP value, for data the parser has no typed model of (unknown FETCH attributes,
 * body extensions, unknown extension items): atoms, numbers and strings are `string`, NIL is
 * `null`, literals are bytes, parenthesised lists are arrays.
 *
 * @category models
 * @since 0.1.0
 */
export type Value = string | Uint8Array | null | ReadonlyArray<Value>

/**
 * A named generic item (`name SP value`) kept as sent.
 *
 * @category models
 * @since 0.1.0
 */
export interface NamedValue {
  readonly name: string
  readonly value: Value
}

// -------------------------------------------------------------------------------------------------
// Response codes (RFC 9051 §7.1, resp-text-code)
// -------------------------------------------------------------------------------------------------

/**
 * Response codes that carry no data. RFC 9051 §7.1 and RFC 5530 (ALERT, PARSE, READ-ONLY,
 * TRYCREATE, AUTHENTICATIONFAILED, OVERQUOTA ...), RFC 7162 (NOMODSEQ, CLOSED), RFC 4315
 * (UIDNOTSTICKY), RFC 3516 (UNKNOWN-CTE).
 *
 * @category models
 * @since 0.1.0
 */
export type SimpleCodeName =
  | "ALERT"
  | "PARSE"
  | "READ-ONLY"
  | "READ-WRITE"
  | "TRYCREATE"
  | "NOMODSEQ"
  | "CLOSED"
  | "UIDNOTSTICKY"
  | "UNKNOWN-CTE"
  | "HASCHILDREN"
  | "NOTSAVED"
  | "UNAVAILABLE"
  | "AUTHENTICATIONFAILED"
  | "AUTHORIZATIONFAILED"
  | "EXPIRED"
  | "PRIVACYREQUIRED"
  | "CONTACTADMIN"
  | "NOPERM"
  | "INUSE"
  | "EXPUNGEISSUED"
  | "CORRUPTION"
  | "SERVERBUG"
  | "CLIENTBUG"
  | "CANNOT"
  | "LIMIT"
  | "OVERQUOTA"
  | "ALREADYEXISTS"
  | "NONEXISTENT"

/**
 * A response code without data, e.g. `[TRYCREATE]`.
 *
 * @category models
 * @since 0.1.0
 */
export interface SimpleCode {
  readonly _tag: SimpleCodeName
}

/**
 * `[BADCHARSET (charsets)]`: the charsets the server supports for SEARCH (RFC 9051 §7.1).
 *
 * @category models
 * @since 0.1.0
 */
export interface BadCharsetCode {
  readonly _tag: "BADCHARSET"
  readonly charsets: ReadonlyArray<string>
}

/**
 * `[CAPABILITY ...]`: the capability list, as in a CAPABILITY response.
 *
 * @category models
 * @since 0.1.0
 */
export interface CapabilityCode {
  readonly _tag: "CAPABILITY"
  readonly capabilities: ReadonlyArray<string>
}

/**
 * `[PERMANENTFLAGS (flags)]`, flags as sent (including `\*`).
 *
 * @category models
 * @since 0.1.0
 */
export interface PermanentFlagsCode {
  readonly _tag: "PERMANENTFLAGS"
  readonly flags: ReadonlyArray<string>
}

/**
 * `[UIDNEXT n]`, `[UIDVALIDITY n]`, `[UNSEEN n]`.
 *
 * @category models
 * @since 0.1.0
 */
export interface NumberCode {
  readonly _tag: "UIDNEXT" | "UIDVALIDITY" | "UNSEEN"
  readonly value: number
}

/**
 * `[APPENDUID uidvalidity uid-set]` (RFC 4315 §3). `uids` is the sequence-set as sent.
 *
 * @category models
 * @since 0.1.0
 */
export interface AppendUidCode {
  readonly _tag: "APPENDUID"
  readonly uidValidity: number
  readonly uids: string
}

/**
 * `[COPYUID uidvalidity source-set dest-set]` (RFC 4315 §3), sets as sent.
 *
 * @category models
 * @since 0.1.0
 */
export interface CopyUidCode {
  readonly _tag: "COPYUID"
  readonly uidValidity: number
  readonly source: string
  readonly dest: string
}

/**
 * `[HIGHESTMODSEQ n]` (RFC 7162 §3.1.2.1); a mod-sequence is 63-bit, hence `bigint`.
 *
 * @category models
 * @since 0.1.0
 */
export interface HighestModSeqCode {
  readonly _tag: "HIGHESTMODSEQ"
  readonly modseq: bigint
}

/**
 * `[MODIFIED sequence-set]` (RFC 7162 §3.1.3), set as sent.
 *
 * @category models
 * @since 0.1.0
 */
export interface ModifiedCode {
  readonly _tag: "MODIFIED"
  readonly set: string
}

/**
 * `[REFERRAL imap-url]` (RFC 2221). The URL is server text: never follow it without checks.
 *
 * @category models
 * @since 0.1.0
 */
export interface ReferralCode {
  readonly _tag: "REFERRAL"
  readonly url: string
}

/**
 * Any other response code: its name (uppercased) and the raw text after it, up to `]`.
 *
 * @category models
 * @since 0.1.0
 */
export interface UnknownCode {
  readonly _tag: "Unknown"
  readonly name: string
  readonly raw: string
}

/**
 * A response code (`resp-text-code`, RFC 9051 §7.1).
 *
 * @category models
 * @since 0.1.0
 */
export type ResponseCode =
  | SimpleCode
  | BadCharsetCode
  | CapabilityCode
  | PermanentFlagsCode
  | NumberCode
  | AppendUidCode
  | CopyUidCode
  | HighestModSeqCode
  | ModifiedCode
  | ReferralCode
  | UnknownCode

// -------------------------------------------------------------------------------------------------
// Continuation and status responses
// -------------------------------------------------------------------------------------------------

/**
 * A continuation request `+ ...` (RFC 9051 §7.6, RFC 3501 §7.5). `data` is present when the text
 * is syntactically base64 (a SASL challenge, possibly empty; whether it is one depends on the
 * command in progress, which the client knows); `text` is always the text as sent.
 *
 * @category models
 * @since 0.1.0
 */
export interface Continuation {
  readonly _tag: "Continuation"
  readonly code?: ResponseCode
  readonly text: string
  readonly data?: string
}

/**
 * A tagged completion `tag OK|NO|BAD [code] text` (RFC 9051 §7.1). The tag is returned as sent:
 * the client checks it names a command in flight.
 *
 * @category models
 * @since 0.1.0
 */
export interface Tagged {
  readonly _tag: "Tagged"
  readonly tag: string
  readonly status: "OK" | "NO" | "BAD"
  readonly code?: ResponseCode
  readonly text: string
}

/**
 * An untagged status response: `* OK|NO|BAD` (resp-cond-state), `* BYE` (resp-cond-bye) or
 * `* PREAUTH` (resp-cond-auth, greeting only), RFC 9051 §7.1.
 *
 * @category models
 * @since 0.1.0
 */
export interface Condition {
  readonly _tag: "Condition"
  readonly status: "OK" | "NO" | "BAD" | "BYE" | "PREAUTH"
  readonly code?: ResponseCode
  readonly text: string
}

// -------------------------------------------------------------------------------------------------
// Server and mailbox data (RFC 9051 §7.2, §7.3)
// -------------------------------------------------------------------------------------------------

/**
 * `* CAPABILITY ...` (RFC 9051 §7.2.2), capabilities as sent.
 *
 * @category models
 * @since 0.1.0
 */
export interface Capability {
  readonly _tag: "Capability"
  readonly capabilities: ReadonlyArray<string>
}

/**
 * `* ENABLED ...` (RFC 5161 §3.2).
 *
 * @category models
 * @since 0.1.0
 */
export interface Enabled {
  readonly _tag: "Enabled"
  readonly capabilities: ReadonlyArray<string>
}

/**
 * `* FLAGS (...)` (RFC 9051 §7.3.5).
 *
 * @category models
 * @since 0.1.0
 */
export interface Flags {
  readonly _tag: "Flags"
  readonly flags: ReadonlyArray<string>
}

/**
 * `* LIST` / `* LSUB` (RFC 9051 §7.3.1, RFC 3501 §7.2.3) with LIST-EXTENDED data (RFC 5258 §4:
 * CHILDINFO, RFC 9051 OLDNAME; others in `extensions`). `delimiter` is `null` for NIL (flat
 * namespace); `mailbox` is the astring as sent (modified UTF-7 not decoded).
 *
 * @category models
 * @since 0.1.0
 */
export interface MailboxList {
  readonly _tag: "List" | "Lsub"
  readonly attributes: ReadonlyArray<string>
  readonly delimiter: string | null
  readonly mailbox: string
  readonly childInfo?: ReadonlyArray<string>
  readonly oldName?: string
  readonly extensions?: ReadonlyArray<NamedValue>
}

/**
 * Status items of a `* STATUS` response (RFC 9051 §7.3.3; SIZE RFC 8438, HIGHESTMODSEQ RFC 7162,
 * APPENDLIMIT RFC 7889, MAILBOXID RFC 8474). Items the parser does not know are in `unknown`.
 *
 * @category models
 * @since 0.1.0
 */
export interface StatusAttributes {
  readonly messages?: number
  readonly recent?: number
  readonly uidNext?: number
  readonly uidValidity?: number
  readonly unseen?: number
  readonly deleted?: number
  readonly size?: number
  readonly highestModSeq?: bigint
  readonly appendLimit?: number | null
  readonly mailboxId?: string
  readonly unknown?: ReadonlyArray<NamedValue>
}

/**
 * `* STATUS mailbox (...)` (RFC 9051 §7.3.3).
 *
 * @category models
 * @since 0.1.0
 */
export interface Status {
  readonly _tag: "Status"
  readonly mailbox: string
  readonly attributes: StatusAttributes
}

/**
 * `* SEARCH n...` (RFC 3501 §7.2.5) with the CONDSTORE `(MODSEQ n)` suffix (RFC 7162 §3.1.5),
 * and `* SORT n...` (RFC 5256 §4) under `_tag: "Sort"`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Search {
  readonly _tag: "Search" | "Sort"
  readonly numbers: ReadonlyArray<number>
  readonly modseq?: bigint
}

/**
 * `* ESEARCH` (RFC 4731, RFC 9051 §7.3.4). `all` is the sequence-set as sent; return items the
 * parser does not know are in `unknown`.
 *
 * @category models
 * @since 0.1.0
 */
export interface ESearch {
  readonly _tag: "ESearch"
  readonly tag?: string
  readonly uid: boolean
  readonly min?: number
  readonly max?: number
  readonly all?: string
  readonly count?: number
  readonly modseq?: bigint
  readonly unknown?: ReadonlyArray<NamedValue>
}

/**
 * `* n EXISTS` (RFC 9051 §7.4.1).
 *
 * @category models
 * @since 0.1.0
 */
export interface Exists {
  readonly _tag: "Exists"
  readonly count: number
}

/**
 * `* n RECENT` (RFC 3501 §7.3.2; gone in IMAP4rev2).
 *
 * @category models
 * @since 0.1.0
 */
export interface Recent {
  readonly _tag: "Recent"
  readonly count: number
}

/**
 * `* n EXPUNGE` (RFC 9051 §7.5.1).
 *
 * @category models
 * @since 0.1.0
 */
export interface Expunge {
  readonly _tag: "Expunge"
  readonly seq: number
}

/**
 * `* VANISHED [(EARLIER)] uids` (RFC 7162 §3.2.10), set as sent.
 *
 * @category models
 * @since 0.1.0
 */
export interface Vanished {
  readonly _tag: "Vanished"
  readonly earlier: boolean
  readonly uids: string
}

/**
 * One namespace of a NAMESPACE response (RFC 2342 §5, RFC 9051 §7.3.2).
 *
 * @category models
 * @since 0.1.0
 */
export interface NamespaceDescription {
  readonly prefix: string
  readonly delimiter: string | null
  readonly extensions?: ReadonlyArray<{ readonly name: string; readonly values: ReadonlyArray<string> }>
}

/**
 * `* NAMESPACE personal other shared`; each is `null` for NIL.
 *
 * @category models
 * @since 0.1.0
 */
export interface Namespace {
  readonly _tag: "Namespace"
  readonly personal: ReadonlyArray<NamespaceDescription> | null
  readonly other: ReadonlyArray<NamespaceDescription> | null
  readonly shared: ReadonlyArray<NamespaceDescription> | null
}

/**
 * `* ID (...)` (RFC 2971 §3.2): field/value pairs (a prototype-free record, keys as sent), or
 * `null` for `* ID NIL`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Id {
  readonly _tag: "Id"
  readonly params: Readonly<Record<string, string | null>> | null
}

/**
 * An untagged response the parser has no model for (QUOTA, ACL, METADATA, THREAD, XLIST ...):
 * its name (uppercased), the leading number if any (`* n NAME`), the rest of the response as sent
 * (literal markers included) and the literals in order.
 *
 * @category models
 * @since 0.1.0
 */
export interface Unknown {
  readonly _tag: "Unknown"
  readonly name: string
  readonly number?: number
  readonly raw: string
  readonly literals: ReadonlyArray<Uint8Array>
}

// -------------------------------------------------------------------------------------------------
// FETCH (RFC 9051 §7.5.2)
// -------------------------------------------------------------------------------------------------

/**
 * One address of an ENVELOPE address list (RFC 9051 §7.5.2 `address`). `name` has RFC 2047
 * encoded-words decoded.
 *
 * @category models
 * @since 0.1.0
 */
export interface Address {
  readonly _tag: "Address"
  readonly name: string | null
  readonly adl: string | null
  readonly mailbox: string | null
  readonly host: string | null
}

/**
 * An RFC 5322 group, rebuilt from the group markers of RFC 3501 §7.4.2 (an address with NIL host:
 * non-NIL mailbox starts a group named by it, NIL mailbox ends it).
 *
 * @category models
 * @since 0.1.0
 */
export interface Group {
  readonly _tag: "Group"
  readonly name: string
  readonly members: ReadonlyArray<Address>
}

/**
 * An ENVELOPE address list (NIL is an empty array).
 *
 * @category models
 * @since 0.1.0
 */
export type AddressList = ReadonlyArray<Address | Group>

/**
 * ENVELOPE (RFC 9051 §7.5.2). `subject` has RFC 2047 encoded-words decoded (B and Q, any charset
 * the platform's TextDecoder knows); `subjectRaw` is the string as sent.
 *
 * @category models
 * @since 0.1.0
 */
export interface Envelope {
  readonly date: string | null
  readonly subject: string | null
  readonly subjectRaw: string | null
  readonly from: AddressList
  readonly sender: AddressList
  readonly replyTo: AddressList
  readonly to: AddressList
  readonly cc: AddressList
  readonly bcc: AddressList
  readonly inReplyTo: string | null
  readonly messageId: string | null
}

/**
 * MIME parameters (`body-fld-param`): names lowercased, values as sent, in a prototype-free record.
 *
 * @category models
 * @since 0.1.0
 */
export type BodyParams = Readonly<Record<string, string>>

/**
 * `body-fld-dsp`: Content-Disposition type and parameters.
 *
 * @category models
 * @since 0.1.0
 */
export interface BodyDisposition {
  readonly type: string
  readonly params: BodyParams
}

/**
 * A non-multipart body part (`body-type-1part`). `type`/`subtype` are lowercased (RFC 2045 §5.1:
 * case-insensitive). `lines` is set for text parts and message/rfc822; `envelope` and `body` for
 * message/rfc822 and message/global. Extension fields are set only when sent (BODYSTRUCTURE, not
 * BODY). Every field is present as a key, `undefined` when not set: one fixed shape per model keeps
 * the parser and the code reading these objects on monomorphic paths.
 *
 * @category models
 * @since 0.1.0
 */
export interface SinglePart {
  readonly _tag: "SinglePart"
  readonly type: string
  readonly subtype: string
  readonly params: BodyParams
  readonly id: string | null
  readonly description: string | null
  readonly encoding: string
  readonly size: number
  readonly lines?: number | undefined
  readonly envelope?: Envelope | undefined
  readonly body?: BodyStructure | undefined
  readonly md5?: string | null | undefined
  readonly disposition?: BodyDisposition | null | undefined
  readonly language?: ReadonlyArray<string> | null | undefined
  readonly location?: string | null | undefined
  readonly extensions?: ReadonlyArray<Value> | undefined
}

/**
 * A multipart body (`body-type-mpart`); `subtype` lowercased. Like `SinglePart`, every field is
 * present as a key, `undefined` when not sent.
 *
 * @category models
 * @since 0.1.0
 */
export interface Multipart {
  readonly _tag: "Multipart"
  readonly parts: ReadonlyArray<BodyStructure>
  readonly subtype: string
  readonly params?: BodyParams | undefined
  readonly disposition?: BodyDisposition | null | undefined
  readonly language?: ReadonlyArray<string> | null | undefined
  readonly location?: string | null | undefined
  readonly extensions?: ReadonlyArray<Value> | undefined
}

/**
 * BODY / BODYSTRUCTURE (RFC 9051 §7.5.2).
 *
 * @category models
 * @since 0.1.0
 */
export type BodyStructure = SinglePart | Multipart

/**
 * A `BODY[section]<origin>` or `BINARY[section]<origin>` value. `section` is the text between the
 * brackets as sent (`""`, `"HEADER"`, `"1.2.TEXT"`, `"HEADER.FIELDS (SUBJECT)"`); `bytes` is `null`
 * for NIL. When the literal was streamed (`streamLiteralsAbove`), `bytes` is `null`, `streamed` is
 * `true` and `size` is its length: its bytes went out as `LiteralChunk` frames before this FETCH.
 *
 * @category models
 * @since 0.1.0
 */
export interface BodySection {
  readonly section: string
  readonly origin?: number
  readonly bytes: Uint8Array | null
  readonly streamed?: true
  readonly size?: number
}

/**
 * `BINARY.SIZE[section] n` (RFC 3516 §4.2).
 *
 * @category models
 * @since 0.1.0
 */
export interface BinarySize {
  readonly section: string
  readonly size: number
}

/**
 * The attributes of one FETCH response. Every field is present as a key and is `undefined` unless
 * the server sent it (one fixed shape: FETCH attributes are read in hot loops). `internalDate` is
 * the string as sent and `internalDateMillis` its epoch milliseconds (`undefined` if it does not
 * parse); BODY without a section is reported as `bodyStructure`; attributes without a model are
 * in `unknown` (e.g. Gmail's X-GM-LABELS).
 *
 * @category models
 * @since 0.1.0
 */
export interface FetchAttributes {
  readonly uid?: number | undefined
  readonly flags?: ReadonlyArray<string> | undefined
  readonly internalDate?: string | undefined
  readonly internalDateMillis?: number | undefined
  readonly rfc822Size?: number | undefined
  readonly envelope?: Envelope | undefined
  readonly bodyStructure?: BodyStructure | undefined
  readonly bodySections?: ReadonlyArray<BodySection> | undefined
  readonly binarySections?: ReadonlyArray<BodySection> | undefined
  readonly binarySizes?: ReadonlyArray<BinarySize> | undefined
  readonly modseq?: bigint | undefined
  readonly emailId?: string | undefined
  readonly threadId?: string | null | undefined
  readonly rfc822?: Uint8Array | null | undefined
  readonly rfc822Header?: Uint8Array | null | undefined
  readonly rfc822Text?: Uint8Array | null | undefined
  readonly preview?: string | null | undefined
  readonly saveDate?: string | null | undefined
  readonly unknown?: ReadonlyArray<NamedValue> | undefined
}

/**
 * `* seq FETCH (...)` (RFC 9051 §7.5.2).
 *
 * @category models
 * @since 0.1.0
 */
export interface Fetch {
  readonly _tag: "Fetch"
  readonly seq: number
  readonly attributes: FetchAttributes
}

/**
 * Any untagged response (`response-data`).
 *
 * @category models
 * @since 0.1.0
 */
export type Untagged =
  | Condition
  | Capability
  | Enabled
  | Flags
  | MailboxList
  | Status
  | Search
  | ESearch
  | Exists
  | Recent
  | Expunge
  | Vanished
  | Fetch
  | Namespace
  | Id
  | Unknown

/**
 * One complete server response.
 *
 * @category models
 * @since 0.1.0
 */
export type ImapResponse = Continuation | Tagged | Untagged

// -------------------------------------------------------------------------------------------------
// Streamed literals
// -------------------------------------------------------------------------------------------------

/**
 * A large BODY[]/BINARY[] literal begins and will be streamed (see `streamLiteralsAbove`): its
 * `size` bytes follow as `LiteralChunk` frames, then the FETCH response (`seq`) completes with the
 * section marked `streamed`.
 *
 * @category models
 * @since 0.1.0
 */
export interface LiteralStart {
  readonly _tag: "LiteralStart"
  readonly seq: number
  readonly item: "BODY" | "BINARY"
  readonly section: string
  readonly origin?: number
  readonly size: number
}

/**
 * A piece of a streamed literal: a view into the pushed chunk (consume or copy it before the
 * buffer is reused).
 *
 * @category models
 * @since 0.1.0
 */
export interface LiteralChunk {
  readonly _tag: "LiteralChunk"
  readonly bytes: Uint8Array
}

/**
 * What `push` returns: complete responses, and the frames of streamed literals.
 *
 * @category models
 * @since 0.1.0
 */
export type Frame = ImapResponse | LiteralStart | LiteralChunk
