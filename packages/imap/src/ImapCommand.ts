/**
 * IMAP client commands as `_tag`ged values and their pure encoder (RFC 9051 IMAP4rev2, RFC 3501
 * IMAP4rev1 and the extensions named on each command).
 *
 * `encode(tag, command, context)` validates every argument before producing anything (NUL never,
 * CR/LF only inside literals, 8-bit text only in literals unless UTF-8 is allowed) and returns the
 * bytes to write as ordered parts: `Line` (bytes), `AwaitContinuation` (wait for the server's "+"
 * before the next part: a synchronizing literal follows) and `Payload` (APPEND: the caller writes
 * the message's bytes here). `redacted` is the command for wire traces with secrets (passwords,
 * SASL responses) replaced by "***"; the encoder knows which arguments are secret, so redaction is
 * by construction, not by pattern.
 *
 * Strings are written as an atom when every character is ASTRING-CHAR, as a quoted string when
 * printable (ASCII, or UTF-8 once UTF8=ACCEPT is enabled / IMAP4rev2), without CR/LF and at most
 * 1024 octets, else as a literal, `{n}` or non-synchronizing `{n+}` as LITERAL+ / LITERAL- allow.
 *
 * Not done here: deciding whether a command may be sent in the current state or whether an
 * extension command (MOVE, ID, ENABLE ...) is advertised, which is the client's job. Syntax that
 * the server could not parse is refused: non-synchronizing literals without LITERAL+/-, UTF-8
 * quoted strings without UTF-8 mode, literal8 without BINARY, an initial response without SASL-IR,
 * and LOGIN when the server advertises LOGINDISABLED (invariant S11).
 *
 * @since 0.1.0
 */
import * as CodecError from "@starttls/core/CodecError"
import * as Base64 from "effect/encoding/Base64"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as ImapCapabilities from "./ImapCapabilities.ts"
import { ATOM, isToken, TAG_CHAR, Writer } from "./internal/commandWriter.ts"
import { isNumber64, isNzNumber, modSeqText } from "./internal/numset.ts"
import * as MailboxName from "./MailboxName.ts"
import * as SearchCriteria from "./SearchCriteria.ts"
import * as SequenceSet from "./SequenceSet.ts"

// -----------------------------------------------------------------------------
// Encoded form
// -----------------------------------------------------------------------------

/**
 * A piece of an encoded command, written in order.
 *
 * @category models
 * @since 0.1.0
 */
export type Part =
  | { readonly _tag: "Line"; readonly bytes: Uint8Array }
  | { readonly _tag: "AwaitContinuation" }
  | { readonly _tag: "Payload"; readonly size: number }

/**
 * An encoded command: the parts to write and its redacted trace text (without the final CRLF).
 *
 * @category models
 * @since 0.1.0
 */
export interface EncodedCommand {
  readonly parts: ReadonlyArray<Part>
  readonly redacted: string
}

/**
 * What the encoder needs to know about the session. `utf8` is true once the server confirmed
 * `ENABLE UTF8=ACCEPT` (RFC 6855 §3) or `ENABLE IMAP4rev2`; when omitted it is true only for a
 * server that speaks IMAP4rev2 and not IMAP4rev1. It has no effect unless the capabilities include
 * UTF8=ACCEPT or IMAP4rev2.
 *
 * @category models
 * @since 0.1.0
 */
export interface EncodeContext {
  readonly capabilities: ImapCapabilities.ImapCapabilities
  readonly utf8?: boolean | undefined
}

// -----------------------------------------------------------------------------
// Commands
// -----------------------------------------------------------------------------

/**
 * Commands without arguments. `Done` ends IDLE (RFC 2177, RFC 9051 §6.3.13) and
 * `AuthenticateCancel` ("*") aborts an AUTHENTICATE exchange (RFC 9051 §6.2.2); both are
 * continuation lines, written without a tag.
 *
 * @category models
 * @since 0.1.0
 */
export interface NoArguments {
  readonly _tag:
    | "Capability"
    | "Noop"
    | "Logout"
    | "StartTls"
    | "Namespace"
    | "Idle"
    | "Done"
    | "Close"
    | "Unselect"
    | "Expunge"
    | "AuthenticateCancel"
}

/**
 * AUTHENTICATE (RFC 9051 §6.2.2) with an optional initial response (SASL-IR, RFC 4959; an empty
 * response is sent as "="). The response is secret.
 *
 * @category models
 * @since 0.1.0
 */
export interface Authenticate {
  readonly _tag: "Authenticate"
  readonly mechanism: string
  readonly initialResponse?: Redacted.Redacted<Uint8Array> | undefined
}

/**
 * A client response in an AUTHENTICATE exchange: one base64 line, untagged, secret.
 *
 * @category models
 * @since 0.1.0
 */
export interface AuthenticateContinue {
  readonly _tag: "AuthenticateContinue"
  readonly response: Redacted.Redacted<Uint8Array>
}

/**
 * LOGIN (RFC 9051 §6.2.3). Refused when the server advertises LOGINDISABLED.
 *
 * @category models
 * @since 0.1.0
 */
export interface Login {
  readonly _tag: "Login"
  readonly user: string
  readonly password: Redacted.Redacted<string>
}

/**
 * ENABLE (RFC 5161, RFC 9051 §6.3.1).
 *
 * @category models
 * @since 0.1.0
 */
export interface Enable {
  readonly _tag: "Enable"
  readonly capabilities: ReadonlyArray<string>
}

/**
 * QRESYNC select parameters (RFC 7162 §3.2.5).
 *
 * @category models
 * @since 0.1.0
 */
export interface QResync {
  readonly uidValidity: number
  readonly modSeq: number | bigint
  readonly knownUids?: SequenceSet.SequenceSet | undefined
  readonly seqMatch?: {
    readonly sequences: SequenceSet.SequenceSet
    readonly uids: SequenceSet.SequenceSet
  } | undefined
}

/**
 * SELECT / EXAMINE (RFC 9051 §6.3.2, §6.3.3) with CONDSTORE / QRESYNC parameters (RFC 7162).
 *
 * @category models
 * @since 0.1.0
 */
export interface Select {
  readonly _tag: "Select" | "Examine"
  readonly mailbox: string
  readonly condstore?: boolean | undefined
  readonly qresync?: QResync | undefined
}

/**
 * CREATE (RFC 9051 §6.3.4), with special-use attributes (RFC 6154 §3, CREATE-SPECIAL-USE).
 *
 * @category models
 * @since 0.1.0
 */
export interface Create {
  readonly _tag: "Create"
  readonly mailbox: string
  readonly specialUse?: ReadonlyArray<string> | undefined
}

/**
 * DELETE, SUBSCRIBE, UNSUBSCRIBE (RFC 9051 §6.3.5, §6.3.7, §6.3.8).
 *
 * @category models
 * @since 0.1.0
 */
export interface MailboxCommand {
  readonly _tag: "Delete" | "Subscribe" | "Unsubscribe"
  readonly mailbox: string
}

/**
 * RENAME (RFC 9051 §6.3.6).
 *
 * @category models
 * @since 0.1.0
 */
export interface Rename {
  readonly _tag: "Rename"
  readonly from: string
  readonly to: string
}

/**
 * STATUS data items (RFC 9051 §6.3.11; HIGHESTMODSEQ RFC 7162, APPENDLIMIT RFC 7889, MAILBOXID
 * RFC 8474, RECENT IMAP4rev1 only).
 *
 * @category models
 * @since 0.1.0
 */
export type StatusItem =
  | "MESSAGES"
  | "UIDNEXT"
  | "UIDVALIDITY"
  | "UNSEEN"
  | "DELETED"
  | "SIZE"
  | "RECENT"
  | "HIGHESTMODSEQ"
  | "APPENDLIMIT"
  | "MAILBOXID"

/**
 * LIST selection options (RFC 5258 §3, RFC 6154 §5.1).
 *
 * @category models
 * @since 0.1.0
 */
export type ListSelectOption = "SUBSCRIBED" | "REMOTE" | "RECURSIVEMATCH" | "SPECIAL-USE"

/**
 * LIST return options (RFC 5258 §3, RFC 6154 §5.1, RFC 5819 STATUS).
 *
 * @category models
 * @since 0.1.0
 */
export interface ListReturn {
  readonly subscribed?: boolean | undefined
  readonly children?: boolean | undefined
  readonly specialUse?: boolean | undefined
  readonly status?: ReadonlyArray<StatusItem> | undefined
}

/**
 * LIST (RFC 9051 §6.3.9, extended syntax RFC 5258 when options or several patterns are given).
 * Patterns are mailbox names with the wildcards "%" and "*".
 *
 * @category models
 * @since 0.1.0
 */
export interface List {
  readonly _tag: "List"
  readonly reference: string
  readonly patterns: string | ReadonlyArray<string>
  readonly select?: ReadonlyArray<ListSelectOption> | undefined
  readonly return?: ListReturn | undefined
}

/**
 * LSUB (RFC 3501 §6.3.9; IMAP4rev1 only, replaced by LIST (SUBSCRIBED)).
 *
 * @category models
 * @since 0.1.0
 */
export interface Lsub {
  readonly _tag: "Lsub"
  readonly reference: string
  readonly pattern: string
}

/**
 * STATUS (RFC 9051 §6.3.11).
 *
 * @category models
 * @since 0.1.0
 */
export interface Status {
  readonly _tag: "Status"
  readonly mailbox: string
  readonly items: ReadonlyArray<StatusItem>
}

/**
 * APPEND (RFC 9051 §6.3.12). Only the message's size is encoded: the parts end with a `Payload`
 * part where the caller writes exactly `message.size` octets, then a final CRLF line. `binary`
 * sends literal8 (`~{n}`, RFC 3516 §4.4), which needs BINARY. The server's APPENDLIMIT is checked.
 *
 * @category models
 * @since 0.1.0
 */
export interface Append {
  readonly _tag: "Append"
  readonly mailbox: string
  readonly flags?: ReadonlyArray<string> | undefined
  readonly internalDate?: Date | undefined
  readonly message: { readonly size: number }
  readonly binary?: boolean | undefined
  /**
   * Sends the message as `UTF8 (~{n})` (RFC 6855 §4: a message with UTF-8 header fields), which
   * needs UTF-8 mode (UTF8=ACCEPT enabled, or IMAP4rev2).
   */
  readonly utf8?: boolean | undefined
}

/**
 * UID EXPUNGE (RFC 4315 §2.1, RFC 9051 §6.4.9).
 *
 * @category models
 * @since 0.1.0
 */
export interface UidExpunge {
  readonly _tag: "UidExpunge"
  readonly set: SequenceSet.SequenceSet
}

/**
 * ESEARCH return options (RFC 4731 §3.1; SAVE RFC 5182).
 *
 * @category models
 * @since 0.1.0
 */
export type SearchReturn = "MIN" | "MAX" | "ALL" | "COUNT" | "SAVE"

/**
 * [UID] SEARCH (RFC 9051 §6.4.4) with optional RETURN options (ESEARCH).
 *
 * @category models
 * @since 0.1.0
 */
export interface Search {
  readonly _tag: "Search"
  readonly uid: boolean
  readonly criteria: SearchCriteria.Criterion
  readonly return?: ReadonlyArray<SearchReturn> | undefined
}

/**
 * Fetch data items without arguments (RFC 9051 §6.4.5; RFC822* IMAP4rev1, MODSEQ RFC 7162,
 * EMAILID / THREADID RFC 8474).
 *
 * @category models
 * @since 0.1.0
 */
export type FetchAttribute =
  | "UID"
  | "FLAGS"
  | "INTERNALDATE"
  | "RFC822.SIZE"
  | "ENVELOPE"
  | "BODYSTRUCTURE"
  | "BODY"
  | "MODSEQ"
  | "RFC822"
  | "RFC822.HEADER"
  | "RFC822.TEXT"
  | "EMAILID"
  | "THREADID"

/**
 * `<offset.length>`: `length` octets from `offset` (RFC 9051 §6.4.5).
 *
 * @category models
 * @since 0.1.0
 */
export interface PartialRange {
  readonly offset: number
  readonly length: number
}

/**
 * What part of a body section to fetch: a MIME part path (`[1, 2]` is "1.2"), then HEADER, TEXT,
 * MIME (needs a part) or HEADER.FIELDS [.NOT] (field names).
 *
 * @category models
 * @since 0.1.0
 */
export type SectionSpecifier =
  | "HEADER"
  | "TEXT"
  | "MIME"
  | { readonly headerFields: ReadonlyArray<string>; readonly not?: boolean | undefined }

/**
 * BODY[section]<partial> or BODY.PEEK[...] (does not set \Seen).
 *
 * @category models
 * @since 0.1.0
 */
export interface BodySection {
  readonly _tag: "BodySection"
  readonly peek?: boolean | undefined
  readonly part?: ReadonlyArray<number> | undefined
  readonly specifier?: SectionSpecifier | undefined
  readonly partial?: PartialRange | undefined
}

/**
 * BINARY[part]<partial> / BINARY.PEEK (RFC 3516 §4.2): the part with its content transfer
 * encoding removed.
 *
 * @category models
 * @since 0.1.0
 */
export interface BinarySection {
  readonly _tag: "BinarySection"
  readonly peek?: boolean | undefined
  readonly part: ReadonlyArray<number>
  readonly partial?: PartialRange | undefined
}

/**
 * BINARY.SIZE[part] (RFC 3516 §4.2).
 *
 * @category models
 * @since 0.1.0
 */
export interface BinarySize {
  readonly _tag: "BinarySize"
  readonly part: ReadonlyArray<number>
}

/**
 * A fetch data item.
 *
 * @category models
 * @since 0.1.0
 */
export type FetchItem = FetchAttribute | BodySection | BinarySection | BinarySize

/**
 * [UID] FETCH (RFC 9051 §6.4.5) with CHANGEDSINCE / VANISHED modifiers (RFC 7162 §3.1.4.1,
 * §3.2.6; VANISHED needs UID FETCH and CHANGEDSINCE).
 *
 * @category models
 * @since 0.1.0
 */
export interface Fetch {
  readonly _tag: "Fetch"
  readonly uid: boolean
  readonly set: SequenceSet.SequenceSet
  readonly items: ReadonlyArray<FetchItem>
  readonly changedSince?: number | bigint | undefined
  readonly vanished?: boolean | undefined
}

/**
 * [UID] STORE (RFC 9051 §6.4.6): `op` "+" adds, "-" removes, "" replaces the flags; `silent`
 * suppresses the untagged FETCH; `unchangedSince` is the CONDSTORE condition (RFC 7162 §3.1.3).
 *
 * @category models
 * @since 0.1.0
 */
export interface Store {
  readonly _tag: "Store"
  readonly uid: boolean
  readonly set: SequenceSet.SequenceSet
  readonly op: "+" | "-" | ""
  readonly silent: boolean
  readonly flags: ReadonlyArray<string>
  readonly unchangedSince?: number | bigint | undefined
}

/**
 * [UID] COPY (RFC 9051 §6.4.7) and [UID] MOVE (RFC 6851, RFC 9051 §6.4.8).
 *
 * @category models
 * @since 0.1.0
 */
export interface CopyMove {
  readonly _tag: "Copy" | "Move"
  readonly uid: boolean
  readonly set: SequenceSet.SequenceSet
  readonly mailbox: string
}

/**
 * ID (RFC 2971): field/value pairs (at most 30, fields up to 30 octets, values up to 1024 octets,
 * null for NIL), or null to send NIL.
 *
 * @category models
 * @since 0.1.0
 */
export interface Id {
  readonly _tag: "Id"
  readonly params: Readonly<Record<string, string | null>> | null
}

/**
 * COMPRESS (RFC 4978).
 *
 * @category models
 * @since 0.1.0
 */
export interface Compress {
  readonly _tag: "Compress"
  readonly mechanism: "DEFLATE"
}

/**
 * Every client command.
 *
 * @category models
 * @since 0.1.0
 */
export type ImapCommand =
  | NoArguments
  | Authenticate
  | AuthenticateContinue
  | Login
  | Enable
  | Select
  | Create
  | MailboxCommand
  | Rename
  | List
  | Lsub
  | Status
  | Append
  | UidExpunge
  | Search
  | Fetch
  | Store
  | CopyMove
  | Id
  | Compress

const noArguments = (tag: NoArguments["_tag"]): ImapCommand => ({ _tag: tag })

/**
 * CAPABILITY.
 * @category constructors
 * @since 0.1.0
 */
export const capability: ImapCommand = noArguments("Capability")
/**
 * NOOP.
 * @category constructors
 * @since 0.1.0
 */
export const noop: ImapCommand = noArguments("Noop")
/**
 * LOGOUT.
 * @category constructors
 * @since 0.1.0
 */
export const logout: ImapCommand = noArguments("Logout")
/**
 * STARTTLS.
 * @category constructors
 * @since 0.1.0
 */
export const startTls: ImapCommand = noArguments("StartTls")
/**
 * NAMESPACE.
 * @category constructors
 * @since 0.1.0
 */
export const namespace: ImapCommand = noArguments("Namespace")
/**
 * IDLE.
 * @category constructors
 * @since 0.1.0
 */
export const idle: ImapCommand = noArguments("Idle")
/**
 * DONE (ends IDLE; untagged).
 * @category constructors
 * @since 0.1.0
 */
export const done: ImapCommand = noArguments("Done")
/**
 * CLOSE.
 * @category constructors
 * @since 0.1.0
 */
export const close: ImapCommand = noArguments("Close")
/**
 * UNSELECT.
 * @category constructors
 * @since 0.1.0
 */
export const unselect: ImapCommand = noArguments("Unselect")
/**
 * EXPUNGE.
 * @category constructors
 * @since 0.1.0
 */
export const expunge: ImapCommand = noArguments("Expunge")
/**
 * "*": cancels an AUTHENTICATE exchange (untagged).
 * @category constructors
 * @since 0.1.0
 */
export const authenticateCancel: ImapCommand = noArguments("AuthenticateCancel")

/**
 * LOGIN `user` `password`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const login = (user: string, password: Redacted.Redacted<string>): ImapCommand => ({
  _tag: "Login",
  user,
  password
})

// -----------------------------------------------------------------------------
// Encoding
// -----------------------------------------------------------------------------

const NAMES: Record<NoArguments["_tag"], string> = {
  Capability: "CAPABILITY",
  Noop: "NOOP",
  Logout: "LOGOUT",
  StartTls: "STARTTLS",
  Namespace: "NAMESPACE",
  Idle: "IDLE",
  Done: "DONE",
  Close: "CLOSE",
  Unselect: "UNSELECT",
  Expunge: "EXPUNGE",
  AuthenticateCancel: "*"
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"] as const

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n))
const pad4 = (n: number): string => String(n).padStart(4, "0")

const validDate = (w: Writer, date: Date, field: string): boolean => {
  const year = date.getUTCFullYear()
  if (Number.isNaN(date.getTime()) || year < 0 || year > 9999) {
    w.fail(field, "invalid date (year must have four digits)")
    return false
  }
  return true
}

// RFC 9051 §9 date = date-day "-" date-month "-" date-year, UTC calendar day.
const writeDate = (w: Writer, date: Date, field: string): void => {
  if (!validDate(w, date, field)) return
  w.raw(`${date.getUTCDate()}-${MONTHS[date.getUTCMonth()]}-${pad4(date.getUTCFullYear())}`)
}

// RFC 9051 §9 date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
const writeDateTime = (w: Writer, date: Date, field: string): void => {
  if (!validDate(w, date, field)) return
  w.raw(
    `"${pad2(date.getUTCDate())}-${MONTHS[date.getUTCMonth()]}-${pad4(date.getUTCFullYear())} ` +
      `${pad2(date.getUTCHours())}:${pad2(date.getUTCMinutes())}:${pad2(date.getUTCSeconds())} +0000"`
  )
}

const writeSet = (w: Writer, set: SequenceSet.SequenceSet, field: string): void => {
  const valid = SequenceSet.validate(set, field)
  if (Result.isFailure(valid)) w.fail(field, valid.failure.detail)
  else w.raw(SequenceSet.format(set))
}

const writeNz = (w: Writer, n: number, field: string): void => {
  if (isNzNumber(n)) w.number(n)
  else w.fail(field, `${n} is not a number in 1..4294967295`)
}

const writeNumber64 = (w: Writer, n: number, field: string): void => {
  if (isNumber64(n)) w.number(n)
  else w.fail(field, `${n} is not a non-negative integer`)
}

const writeModSeq = (w: Writer, value: number | bigint, zero: boolean, field: string): void => {
  const text = modSeqText(value, zero)
  if (text === undefined) w.fail(field, `${String(value)} is not a mod-sequence value`)
  else w.raw(text)
}

const writeMailbox = (w: Writer, name: string, field: string): void => {
  const wire = MailboxName.encode(name, w.mode)
  if (Result.isFailure(wire)) w.fail(field, wire.failure.detail)
  else w.astring(wire.success, field)
}

// RFC 9051 §9 list-mailbox: a mailbox name with the wildcards "%" and "*" left unquoted.
const writePattern = (w: Writer, pattern: string): void => {
  const wire = MailboxName.encode(pattern, w.mode)
  if (Result.isFailure(wire)) w.fail("pattern", wire.failure.detail)
  else w.listMailbox(wire.success, "pattern")
}

// RFC 9051 §9 flag = "\Answered" / ... / flag-keyword / flag-extension ("\" atom). "\*" exists only
// in PERMANENTFLAGS and "\Recent" cannot be set by a client (RFC 3501 §2.3.2).
const writeFlag = (w: Writer, flag: string, field: string): void => {
  const system = flag.charCodeAt(0) === 0x5c
  const name = system ? flag.slice(1) : flag
  if (!isToken(name, ATOM)) w.fail(field, `${JSON.stringify(flag)} is not a valid flag`)
  else if (system && name.toLowerCase() === "recent") w.fail(field, "\\Recent cannot be set by a client")
  else w.raw(flag)
}

const writeFlagList = (w: Writer, flags: ReadonlyArray<string>): void => {
  w.list(flags.length, (i) => writeFlag(w, flags[i]!, "flag"))
}

const writeAtoms = (w: Writer, atoms: ReadonlyArray<string>, field: string): void => {
  if (atoms.length === 0) w.fail(field, "must not be empty")
  w.list(atoms.length, (i) => w.atom(atoms[i]!, field))
}

// RFC 5322 §3.6.8 field-name = 1*ftext, ftext = %d33-57 / %d59-126 (printable ASCII except ":").
const writeHeaderFieldName = (w: Writer, name: string, field: string): void => {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c < 33 || c > 126 || c === 0x3a) {
      w.fail(field, `${JSON.stringify(name)} is not a header field name`)
      return
    }
  }
  if (name.length === 0) w.fail(field, "must not be empty")
  else w.astring(name, field)
}

const writeUid = (w: Writer, uid: boolean): void => {
  if (uid) w.raw("UID ")
}

const writeSearchKey = (w: Writer, c: SearchCriteria.Criterion, top: boolean): void => {
  switch (c._tag) {
    case "All":
    case "Answered":
    case "Deleted":
    case "Draft":
    case "Flagged":
    case "Seen":
    case "Unanswered":
    case "Undeleted":
    case "Undraft":
    case "Unflagged":
    case "Unseen":
    case "New":
    case "Old":
    case "Recent":
      w.raw(c._tag.toUpperCase())
      return
    case "Keyword":
    case "Unkeyword":
      w.raw(c._tag.toUpperCase()).sp().atom(c.keyword, "keyword")
      return
    case "Before":
    case "On":
    case "Since":
    case "SentBefore":
    case "SentOn":
    case "SentSince":
      w.raw(c._tag.toUpperCase()).sp()
      writeDate(w, c.date, "search date")
      return
    case "Larger":
    case "Smaller":
      w.raw(c._tag.toUpperCase()).sp()
      writeNumber64(w, c.size, "search size")
      return
    case "Body":
    case "Text":
    case "From":
    case "To":
    case "Cc":
    case "Bcc":
    case "Subject":
      w.raw(c._tag.toUpperCase()).sp().astring(c.value, "search string")
      return
    case "Header":
      w.raw("HEADER").sp()
      writeHeaderFieldName(w, c.field, "header field")
      w.sp().astring(c.value, "search string")
      return
    case "Uid":
      w.raw("UID").sp()
      writeSet(w, c.set, "uid set")
      return
    case "Sequence":
      writeSet(w, c.set, "sequence set")
      return
    case "ModSeq":
      // RFC 7162 §3.1.5 "MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer
      w.raw("MODSEQ")
      if (c.entry !== undefined) {
        const { flag, type } = c.entry
        w.sp()
        if (!isToken(flag.startsWith("\\") ? flag.slice(1) : flag, ATOM)) w.fail("modseq entry", "invalid flag")
        else w.quoted(`/flags/${flag}`, "modseq entry")
        if (type !== "priv" && type !== "shared" && type !== "all") w.fail("modseq entry", "invalid entry type")
        else w.sp().raw(type)
      }
      w.sp()
      writeModSeq(w, c.modSeq, true, "modseq")
      return
    case "Younger":
    case "Older":
      w.raw(c._tag.toUpperCase()).sp()
      writeNz(w, c.seconds, "seconds")
      return
    case "Not":
      w.raw("NOT").sp()
      writeSearchKey(w, c.criterion, false)
      return
    case "Or":
      w.raw("OR").sp()
      writeSearchKey(w, c.left, false)
      w.sp()
      writeSearchKey(w, c.right, false)
      return
    case "And":
      if (c.criteria.length === 0) {
        w.fail("search criteria", "an empty AND")
        return
      }
      if (!top) w.raw("(")
      for (let i = 0; i < c.criteria.length; i++) {
        if (i > 0) w.sp()
        writeSearchKey(w, c.criteria[i]!, false)
      }
      if (!top) w.raw(")")
      return
    default:
      w.fail("search criteria", `unknown criterion ${JSON.stringify((c as { _tag: unknown })._tag)}`)
  }
}

const writeSection = (w: Writer, part: ReadonlyArray<number> | undefined, specifier: SectionSpecifier | undefined) => {
  w.raw("[")
  const path = part ?? []
  for (let i = 0; i < path.length; i++) {
    if (i > 0) w.raw(".")
    writeNz(w, path[i]!, "section part")
  }
  if (specifier !== undefined) {
    if (path.length > 0) w.raw(".")
    if (typeof specifier !== "string") {
      w.raw(specifier.not === true ? "HEADER.FIELDS.NOT " : "HEADER.FIELDS ")
      if (specifier.headerFields.length === 0) w.fail("header fields", "must not be empty")
      w.list(specifier.headerFields.length, (i) => writeHeaderFieldName(w, specifier.headerFields[i]!, "header field"))
    } else if (specifier === "MIME" && path.length === 0) {
      w.fail("section", "MIME needs a part number")
    } else if (specifier === "HEADER" || specifier === "TEXT" || specifier === "MIME") {
      w.raw(specifier)
    } else {
      w.fail("section", `unknown section ${JSON.stringify(specifier)}`)
    }
  }
  w.raw("]")
}

const writePartial = (w: Writer, partial: PartialRange | undefined): void => {
  if (partial === undefined) return
  w.raw("<")
  writeNumber64(w, partial.offset, "partial offset")
  w.raw(".")
  if (Number.isSafeInteger(partial.length) && partial.length > 0) w.number(partial.length)
  else w.fail("partial length", `${partial.length} is not a positive integer`)
  w.raw(">")
}

const writeFetchItem = (w: Writer, item: FetchItem): void => {
  if (typeof item === "string") {
    w.token(item, ATOM, "fetch item")
    return
  }
  switch (item._tag) {
    case "BodySection":
      w.raw(item.peek === true ? "BODY.PEEK" : "BODY")
      writeSection(w, item.part, item.specifier)
      writePartial(w, item.partial)
      return
    case "BinarySection":
      w.raw(item.peek === true ? "BINARY.PEEK" : "BINARY")
      writeSection(w, item.part, undefined)
      writePartial(w, item.partial)
      return
    case "BinarySize":
      w.raw("BINARY.SIZE")
      writeSection(w, item.part, undefined)
      return
    default:
      w.fail("fetch item", "unknown fetch item")
  }
}

const writeSelect = (w: Writer, c: Select): void => {
  w.raw(c._tag === "Select" ? "SELECT " : "EXAMINE ")
  writeMailbox(w, c.mailbox, "mailbox")
  const condstore = c.condstore === true
  if (!condstore && c.qresync === undefined) return
  w.raw(" (")
  if (condstore) w.raw("CONDSTORE")
  const q = c.qresync
  if (q !== undefined) {
    // RFC 7162 §7: "QRESYNC" SP "(" uidvalidity SP mod-sequence-value [SP known-uids]
    //   [SP seq-match-data] ")"; known-uids and known-uid-set never contain "*".
    if (condstore) w.sp()
    w.raw("QRESYNC (")
    writeNz(w, q.uidValidity, "uidvalidity")
    w.sp()
    writeModSeq(w, q.modSeq, false, "modseq")
    const noStar = (set: SequenceSet.SequenceSet, field: string) => {
      if (set._tag === "Saved" || set.ranges.some((r) => r.start === "*" || r.end === "*")) {
        w.fail(field, "must list explicit numbers")
      }
      w.sp()
      writeSet(w, set, field)
    }
    if (q.knownUids !== undefined) noStar(q.knownUids, "known uids")
    if (q.seqMatch !== undefined) {
      w.raw(" (")
      writeSet(w, q.seqMatch.sequences, "known sequence set")
      noStar(q.seqMatch.uids, "known uid set")
      w.raw(")")
    }
    w.raw(")")
  }
  w.raw(")")
}

const writeList = (w: Writer, c: List): void => {
  w.raw("LIST ")
  const select = c.select ?? []
  if (select.length > 0) {
    // RFC 5258 §3: RECURSIVEMATCH only together with another selection option.
    if (select.every((o) => o === "RECURSIVEMATCH")) w.fail("list select", "RECURSIVEMATCH needs another option")
    writeAtoms(w, select, "list select")
    w.sp()
  }
  writeMailbox(w, c.reference, "reference")
  w.sp()
  const patterns = typeof c.patterns === "string" ? [c.patterns] : c.patterns
  if (patterns.length === 0) w.fail("pattern", "at least one pattern is needed")
  else if (patterns.length === 1) writePattern(w, patterns[0]!)
  else w.list(patterns.length, (i) => writePattern(w, patterns[i]!))
  const r = c.return
  if (r === undefined) return
  const options: Array<string> = []
  if (r.subscribed === true) options.push("SUBSCRIBED")
  if (r.children === true) options.push("CHILDREN")
  if (r.specialUse === true) options.push("SPECIAL-USE")
  if (options.length === 0 && r.status === undefined) return
  w.raw(" RETURN (").raw(options.join(" "))
  if (r.status !== undefined) {
    if (options.length > 0) w.sp()
    w.raw("STATUS ")
    writeAtoms(w, r.status, "status item")
  }
  w.raw(")")
}

const writeAppend = (w: Writer, c: Append, capabilities: ImapCapabilities.ImapCapabilities): void => {
  w.raw("APPEND ")
  writeMailbox(w, c.mailbox, "mailbox")
  if (c.flags !== undefined) {
    w.sp()
    writeFlagList(w, c.flags)
  }
  if (c.internalDate !== undefined) {
    w.sp()
    writeDateTime(w, c.internalDate, "internal date")
  }
  const size = c.message.size
  const binary = c.binary === true
  const utf8 = c.utf8 === true
  if (!isNumber64(size)) w.fail("message size", `${size} is not a non-negative integer`)
  else if (capabilities.appendLimit !== undefined && size > capabilities.appendLimit) {
    w.fail("message size", `${size} octets exceed the server's APPENDLIMIT of ${capabilities.appendLimit}`)
  } else if (utf8 && !w.mode.utf8) w.fail("message", "UTF8 append data needs UTF8=ACCEPT enabled (RFC 6855 §4)")
  else if (binary && !utf8 && !w.mode.binary) w.fail("message", "literal8 needs the BINARY capability")
  // RFC 6855 §4: append-data =/ "UTF8" SP "(" literal8 ")"
  if (utf8) w.sp().raw("UTF8 (").payload(size, true).raw(")")
  else w.sp().payload(size, binary)
}

const ID_MAX_PAIRS = 30
const ID_MAX_FIELD = 30
const ID_MAX_VALUE = 1024
const utf8Length = (s: string): number => new TextEncoder().encode(s).length

const writeId = (w: Writer, params: Id["params"]): void => {
  w.raw("ID ")
  const entries = params === null ? [] : Object.entries(params)
  if (entries.length === 0) {
    w.raw("NIL")
    return
  }
  // RFC 2971 §3.3: at most 30 pairs, fields <= 30 octets, values <= 1024 octets, no repeated field.
  if (entries.length > ID_MAX_PAIRS) w.fail("id", `more than ${ID_MAX_PAIRS} fields`)
  const seen = new Set<string>()
  w.list(entries.length, (i) => {
    const [field, value] = entries[i]!
    const key = field.toLowerCase()
    if (seen.has(key)) w.fail("id field", `${JSON.stringify(field)} appears twice`)
    seen.add(key)
    if (utf8Length(field) > ID_MAX_FIELD) w.fail("id field", `longer than ${ID_MAX_FIELD} octets`)
    w.string(field, "id field").sp()
    if (value === null) w.raw("NIL")
    else if (utf8Length(value) > ID_MAX_VALUE) w.fail("id value", `longer than ${ID_MAX_VALUE} octets`)
    else w.string(value, "id value")
  })
}

const base64 = (bytes: Uint8Array): string => Base64.encode(bytes)

const writeCommand = (w: Writer, c: ImapCommand, capabilities: ImapCapabilities.ImapCapabilities): void => {
  switch (c._tag) {
    case "Capability":
    case "Noop":
    case "Logout":
    case "StartTls":
    case "Namespace":
    case "Idle":
    case "Done":
    case "Close":
    case "Unselect":
    case "Expunge":
    case "AuthenticateCancel":
      w.raw(NAMES[c._tag])
      return
    case "Authenticate": {
      w.raw("AUTHENTICATE ").atom(c.mechanism, "mechanism")
      const ir = c.initialResponse
      if (ir === undefined) return
      // RFC 4959 §3: initial-response = base64 / "=" (empty response).
      if (!capabilities.saslIr) w.fail("initial response", "the server does not advertise SASL-IR")
      w.sp().secret(() => {
        const bytes = Redacted.value(ir)
        w.raw(bytes.length === 0 ? "=" : base64(bytes))
      })
      return
    }
    case "AuthenticateContinue":
      w.secret(() => w.raw(base64(Redacted.value(c.response))))
      return
    case "Login":
      if (capabilities.loginDisabled) w.fail("LOGIN", "the server advertises LOGINDISABLED")
      w.raw("LOGIN ").astring(c.user, "user").sp()
      w.secret(() => w.astring(Redacted.value(c.password), "password"))
      return
    case "Enable":
      w.raw("ENABLE")
      if (c.capabilities.length === 0) w.fail("capabilities", "must not be empty")
      for (const cap of c.capabilities) w.sp().atom(cap, "capability")
      return
    case "Select":
    case "Examine":
      writeSelect(w, c)
      return
    case "Create":
      w.raw("CREATE ")
      writeMailbox(w, c.mailbox, "mailbox")
      if (c.specialUse !== undefined) {
        // RFC 6154 §5.3 create-param =/ "USE" SP "(" [use-attr *(SP use-attr)] ")"
        w.raw(" (USE ")
        w.list(c.specialUse.length, (i) => {
          const attr = c.specialUse![i]!
          if (attr.charCodeAt(0) !== 0x5c || !isToken(attr.slice(1), ATOM)) {
            w.fail("special use", `${JSON.stringify(attr)} is not a use-attr`)
          } else w.raw(attr)
        })
        w.raw(")")
      }
      return
    case "Delete":
    case "Subscribe":
    case "Unsubscribe":
      w.raw(c._tag.toUpperCase()).sp()
      writeMailbox(w, c.mailbox, "mailbox")
      return
    case "Rename":
      w.raw("RENAME ")
      writeMailbox(w, c.from, "mailbox")
      w.sp()
      writeMailbox(w, c.to, "new mailbox")
      return
    case "List":
      writeList(w, c)
      return
    case "Lsub":
      w.raw("LSUB ")
      writeMailbox(w, c.reference, "reference")
      w.sp()
      writePattern(w, c.pattern)
      return
    case "Status":
      w.raw("STATUS ")
      writeMailbox(w, c.mailbox, "mailbox")
      w.sp()
      writeAtoms(w, c.items, "status item")
      return
    case "Append":
      writeAppend(w, c, capabilities)
      return
    case "UidExpunge":
      w.raw("UID EXPUNGE ")
      writeSet(w, c.set, "uid set")
      return
    case "Search":
      writeUid(w, c.uid)
      w.raw("SEARCH")
      if (c.return !== undefined) {
        w.raw(" RETURN (")
        for (let i = 0; i < c.return.length; i++) {
          if (i > 0) w.sp()
          w.atom(c.return[i]!, "search return")
        }
        w.raw(")")
      }
      // RFC 9051 §6.4.4: CHARSET UTF-8 for non-ASCII strings, unless UTF-8 is the session's
      // charset (RFC 6855 §3).
      if (!w.mode.utf8 && SearchCriteria.needsUtf8(c.criteria)) w.raw(" CHARSET UTF-8")
      w.sp()
      writeSearchKey(w, c.criteria, true)
      return
    case "Fetch":
      writeUid(w, c.uid)
      w.raw("FETCH ")
      writeSet(w, c.set, "set")
      w.sp()
      if (c.items.length === 0) w.fail("fetch items", "must not be empty")
      w.list(c.items.length, (i) => writeFetchItem(w, c.items[i]!))
      if (c.changedSince !== undefined) {
        // RFC 7162 §3.1.4.1 fetch-modifier "CHANGEDSINCE" SP mod-sequence-value; §3.2.6 VANISHED.
        w.raw(" (CHANGEDSINCE ")
        writeModSeq(w, c.changedSince, false, "changedsince")
        if (c.vanished === true) w.raw(" VANISHED")
        w.raw(")")
      }
      if (c.vanished === true && (!c.uid || c.changedSince === undefined)) {
        w.fail("vanished", "VANISHED needs UID FETCH with CHANGEDSINCE")
      }
      return
    case "Store":
      writeUid(w, c.uid)
      w.raw("STORE ")
      writeSet(w, c.set, "set")
      if (c.unchangedSince !== undefined) {
        w.raw(" (UNCHANGEDSINCE ")
        writeModSeq(w, c.unchangedSince, true, "unchangedsince")
        w.raw(")")
      }
      if (c.op !== "+" && c.op !== "-" && c.op !== "") w.fail("store op", "must be +, - or empty")
      w.sp().raw(`${c.op}FLAGS${c.silent ? ".SILENT" : ""} `)
      writeFlagList(w, c.flags)
      return
    case "Copy":
    case "Move":
      writeUid(w, c.uid)
      w.raw(c._tag.toUpperCase()).sp()
      writeSet(w, c.set, "set")
      w.sp()
      writeMailbox(w, c.mailbox, "mailbox")
      return
    case "Id":
      writeId(w, c.params)
      return
    case "Compress":
      w.raw("COMPRESS ").atom(c.mechanism, "mechanism")
      return
    default:
      w.fail("command", `unknown command ${JSON.stringify((c as { _tag: unknown })._tag)}`)
  }
}

const UNTAGGED: ReadonlySet<ImapCommand["_tag"]> = new Set(["Done", "AuthenticateContinue", "AuthenticateCancel"])

/**
 * Whether a tag can be used (RFC 9051 §9: tag = 1*<any ASTRING-CHAR except "+">).
 *
 * @category guards
 * @since 0.1.0
 */
export const isValidTag = (tag: string): boolean => isToken(tag, TAG_CHAR)

/**
 * The write mode for a context (see `EncodeContext`).
 *
 * @category encoding
 * @since 0.1.0
 */
export const modeOf = (context: EncodeContext): {
  readonly literal: ImapCapabilities.LiteralMode
  readonly utf8: boolean
  readonly binary: boolean
} => {
  const caps = context.capabilities
  const utf8Allowed = caps.utf8Accept || caps.imap4rev2
  return {
    literal: ImapCapabilities.literalMode(caps),
    utf8: utf8Allowed && (context.utf8 ?? (caps.imap4rev2 && !caps.imap4rev1)),
    binary: caps.binary
  }
}

/**
 * Encodes a command. `tag` is validated and written first, except for the continuation lines
 * `Done`, `AuthenticateContinue` and `AuthenticateCancel`, which carry no tag (it is ignored).
 * Fails with the first invalid argument, before any part is produced.
 *
 * @example
 * ```ts
 * import * as ImapCapabilities from "@starttls/imap/ImapCapabilities"
 * import * as ImapCommand from "@starttls/imap/ImapCommand"
 * import * as Redacted from "effect/Redacted"
 *
 * const encoded = ImapCommand.encode(
 *   "A1",
 *   ImapCommand.login("alice", Redacted.make("s3cret")),
 *   { capabilities: ImapCapabilities.make(["IMAP4rev1", "AUTH=PLAIN"]) }
 * )
 * // Success: parts [Line "A1 LOGIN alice s3cret\r\n"], redacted "A1 LOGIN alice ***"
 * ```
 *
 * @category encoding
 * @since 0.1.0
 */
export const encode = (
  tag: string,
  command: ImapCommand,
  context: EncodeContext
): Result.Result<EncodedCommand, CodecError.EncodeError> => {
  const w = new Writer(modeOf(context))
  if (!UNTAGGED.has(command._tag)) {
    if (!isValidTag(tag)) w.fail("tag", `${JSON.stringify(tag)} is not a valid tag`)
    w.raw(tag).sp()
  }
  writeCommand(w, command, context.capabilities)
  return w.finish()
}
