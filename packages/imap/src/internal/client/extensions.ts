/**
 * IMAP extensions of the client besides IDLE (`idle.ts`), pipelining and COMPRESS: ENABLE
 * (RFC 5161) with CONDSTORE / QRESYNC (RFC 7162) and UTF8=ACCEPT (RFC 6855), ID (RFC 2971, over TLS
 * only), NAMESPACE (RFC 2342), CREATE-SPECIAL-USE (RFC 6154 §3), the MOVE fallback (RFC 6851 §3.3:
 * COPY + STORE + UID EXPUNGE, opt-in), and the capability checks of the CONDSTORE-dependent options
 * of FETCH / STORE / SEARCH / SELECT.
 *
 * Every check happens before anything is written: a missing capability is `ImapError`
 * `MissingCapability`, a command the connection's state forbids is `InvalidState`.
 *
 * @internal
 */
import * as Connection from "@starttls/core/Connection"
import * as MailError from "@starttls/core/MailError"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type {
  Authenticated,
  CopyResult,
  FetchOptions,
  FetchQuery,
  ImapConnection,
  MoveOptions,
  NamespaceEntry,
  Namespaces,
  Resync,
  Selected,
  SelectOptions
} from "../../ImapClient.ts"
import * as ImapCapabilities from "../../ImapCapabilities.ts"
import type * as ImapCommand from "../../ImapCommand.ts"
import * as ImapError from "../../ImapError.ts"
import * as ImapMailbox from "../../ImapMailbox.ts"
import type * as ImapResponse from "../../ImapResponse.ts"
import * as MailboxName from "../../MailboxName.ts"
import * as SearchCriteria from "../../SearchCriteria.ts"
import * as SequenceSet from "../../SequenceSet.ts"
import * as Command from "./command.ts"
import { withSelection, withState } from "./handles.ts"
import * as Messages from "./messages.ts"
import * as State from "./state.ts"

const missing = (command: string, capability: string) =>
  Effect.fail(ImapError.missingCapability(command, capability))

const invalidState = (command: string, detail: string) =>
  Effect.fail(ImapError.make(new ImapError.InvalidState({ command, detail })))

// -----------------------------------------------------------------------------
// ENABLE (RFC 5161)
// -----------------------------------------------------------------------------

const upper = (names: Iterable<string>): Set<string> => {
  const out = new Set<string>()
  for (const name of names) out.add(name.toUpperCase())
  return out
}

/**
 * ENABLE: only the advertised extensions are asked for; the answer counts only for what was asked
 * (a server cannot switch on what the client did not want).
 */
export const enable = (
  handle: ImapConnection<"Authenticated">,
  requested: ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<string>, ImapError.ImapError | MailError.MailError> =>
  withState(handle, (session, state) =>
    Effect.gen(function*() {
      const caps = Command.capabilitiesOf(session)
      if (!caps.enable) return yield* missing("ENABLE", "ENABLE")
      // RFC 5161 §3.1: "Clients MUST NOT issue ENABLE once they SELECT/EXAMINE a mailbox".
      if (state.selections > 0) {
        return yield* invalidState("ENABLE", "RFC 5161 §3.1: ENABLE must come before the connection's first SELECT / EXAMINE")
      }
      const wanted = [...upper(requested)].filter((name) => ImapCapabilities.has(caps, name))
      if (wanted.length === 0) return []
      const answered: Array<string> = []
      yield* Command.run(session, { _tag: "Enable", capabilities: wanted.map(spelling(requested)) }, {
        name: "ENABLE",
        onUntagged: (response) => {
          if (response._tag !== "Enabled") return false
          for (const name of response.capabilities) if (wanted.includes(name.toUpperCase())) answered.push(name)
          return true
        }
      })
      const enabled = [...answered]
      const names = upper(answered)
      // RFC 7162 §3.2.3: ENABLE QRESYNC implies ENABLE CONDSTORE.
      if (names.has("QRESYNC") && !names.has("CONDSTORE")) {
        names.add("CONDSTORE")
        enabled.push("CONDSTORE")
      }
      for (const name of names) state.enabled.add(name)
      // RFC 6855 §3, RFC 9051 §6.3.1: from now on strings (mailbox names) are UTF-8.
      if (names.has("UTF8=ACCEPT") || names.has("IMAP4REV2")) state.utf8 = true
      return enabled
    })
  )

/** The caller's spelling of an upper-cased name (ENABLE atoms are case-insensitive; keep theirs). */
const spelling = (requested: ReadonlyArray<string>) => (name: string): string =>
  requested.find((r) => r.toUpperCase() === name) ?? name

// -----------------------------------------------------------------------------
// ID (RFC 2971)
// -----------------------------------------------------------------------------

/** ID: only over TLS (it tells the server, and anyone on the path, what the client is). */
export const id = (
  handle: ImapConnection<"Secure"> | Authenticated,
  params: Readonly<Record<string, string | null>> | null
): Effect.Effect<Readonly<Record<string, string | null>> | null, ImapError.ImapError | MailError.MailError> =>
  withState(handle, (session) =>
    Effect.gen(function*() {
      if (session.wire.tls() === undefined) {
        return yield* MailError.make(
          new MailError.PolicyViolation({ detail: "ID is only sent over TLS: this connection is not encrypted" })
        )
      }
      if (!Command.capabilitiesOf(session).id) return yield* missing("ID", "ID")
      let answer: Readonly<Record<string, string | null>> | null = null
      yield* Command.run(session, { _tag: "Id", params }, {
        name: "ID",
        onUntagged: (response) => {
          if (response._tag !== "Id") return false
          answer = response.params
          return true
        }
      })
      return answer
    })
  )

// -----------------------------------------------------------------------------
// NAMESPACE (RFC 2342)
// -----------------------------------------------------------------------------

const namespaceEntries = (
  utf8: boolean,
  list: ReadonlyArray<ImapResponse.NamespaceDescription> | null
): ReadonlyArray<NamespaceEntry> =>
  (list ?? []).map((d) => {
    const decoded = MailboxName.decode(d.prefix, { utf8 })
    return {
      prefix: Result.isSuccess(decoded) ? decoded.success : d.prefix,
      wirePrefix: d.prefix,
      delimiter: d.delimiter,
      extensions: d.extensions ?? []
    }
  })

/** NAMESPACE (built into IMAP4rev2). */
export const namespace = (handle: Authenticated): Effect.Effect<Namespaces, ImapError.ImapError | MailError.MailError> =>
  withState(handle, (session) =>
    Effect.gen(function*() {
      if (!Command.capabilitiesOf(session).namespace) return yield* missing("NAMESPACE", "NAMESPACE")
      let found: ImapResponse.Namespace | undefined
      yield* Command.run(session, { _tag: "Namespace" }, {
        name: "NAMESPACE",
        onUntagged: (response) => {
          if (response._tag !== "Namespace") return false
          found = response
          return true
        }
      })
      if (found === undefined) return yield* Command.violation(session, "command", "no NAMESPACE response")
      const utf8 = Command.utf8Names(session)
      return {
        personal: namespaceEntries(utf8, found.personal),
        other: namespaceEntries(utf8, found.other),
        shared: namespaceEntries(utf8, found.shared)
      }
    })
  )

// -----------------------------------------------------------------------------
// CREATE with special use (RFC 6154 §3)
// -----------------------------------------------------------------------------

export const create = (
  handle: Authenticated,
  mailbox: string,
  specialUse: ImapMailbox.SpecialUse | ReadonlyArray<ImapMailbox.SpecialUse> | undefined
): Effect.Effect<void, ImapError.ImapError | MailError.MailError> =>
  withState(handle, (session) => {
    if (specialUse === undefined) return Effect.asVoid(Command.run(session, { _tag: "Create", mailbox }, { name: "CREATE" }))
    if (!Command.capabilitiesOf(session).createSpecialUse) return missing("CREATE (USE)", "CREATE-SPECIAL-USE")
    const uses: ReadonlyArray<string> = typeof specialUse === "string" ? [specialUse] : specialUse
    return Effect.asVoid(Command.run(session, { _tag: "Create", mailbox, specialUse: uses }, { name: "CREATE" }))
  })

// -----------------------------------------------------------------------------
// CONDSTORE / QRESYNC (RFC 7162)
// -----------------------------------------------------------------------------

/** Whether a search uses the MODSEQ key (RFC 7162 §3.1.5). */
export const usesModSeq = (criterion: SearchCriteria.Criterion): boolean =>
  SearchCriteria.some(criterion, (c) => c._tag === "ModSeq")

/**
 * CONDSTORE is needed for MODSEQ / CHANGEDSINCE (RFC 7162 §3.1.4); VANISHED needs QRESYNC enabled
 * (RFC 7162 §3.2.6; that it goes with UID FETCH and CHANGEDSINCE the encoder checks).
 */
export const checkFetch = (
  handle: Selected,
  query: FetchQuery,
  options: FetchOptions | undefined
): Effect.Effect<void, ImapError.ImapError | MailError.MailError> => {
  const wants = options?.changedSince !== undefined ? "FETCH CHANGEDSINCE" : query.modseq === true ? "FETCH MODSEQ" : undefined
  if (wants === undefined && options?.vanished !== true) return Effect.void
  return Effect.flatMap(Connection.check(handle.connection), (session) => {
    const caps = Command.capabilitiesOf(session)
    if (wants !== undefined && !caps.condstore) return missing(wants, "CONDSTORE")
    if (options?.vanished !== true) return Effect.void
    if (!caps.qresync) return missing("FETCH VANISHED", "QRESYNC")
    return State.of(session).enabled.has("QRESYNC")
      ? Effect.void
      : invalidState("FETCH VANISHED", "RFC 7162 §3.2.6: QRESYNC must be enabled first (ImapClient.enable)")
  })
}

/** CONDSTORE is needed for the MODSEQ search key (RFC 7162 §3.1.5). */
export const checkSearch = (
  handle: Selected,
  criteria: SearchCriteria.Criterion
): Effect.Effect<void, ImapError.ImapError | MailError.MailError> =>
  usesModSeq(criteria)
    ? Effect.flatMap(
      Connection.check(handle.connection),
      (session) => (Command.capabilitiesOf(session).condstore ? Effect.void : missing("SEARCH MODSEQ", "CONDSTORE"))
    )
    : Effect.void

/** The MODIFIED set of a conditional STORE, parsed (a malformed one breaks the protocol). */
export const modifiedSet = (
  handle: Selected,
  modified: string | undefined
): Effect.Effect<SequenceSet.SequenceSet | undefined, MailError.MailError> => {
  if (modified === undefined) return Effect.succeed(undefined)
  const parsed = SequenceSet.parse(modified)
  if (Result.isSuccess(parsed)) return Effect.succeed(parsed.success)
  return Effect.flatMap(
    Connection.check(handle.connection),
    (session) => Command.violation(session, "command", "a MODIFIED response code that is not a sequence set")
  )
}

/**
 * The SELECT / EXAMINE command for the options, after their checks: CONDSTORE advertised for
 * `condstore`; QRESYNC advertised and enabled for `qresync` (RFC 7162 §3.2.5: "A client MUST NOT
 * use the QRESYNC SELECT parameter unless it has enabled QRESYNC").
 */
export const selectCommand = (
  session: State.Session,
  state: State.State,
  mailbox: string,
  examine: boolean,
  options: SelectOptions | undefined
): Effect.Effect<ImapCommand.Select, ImapError.ImapError> => {
  const name = examine ? "EXAMINE" : "SELECT"
  const _tag = examine ? "Examine" : "Select"
  const caps = Command.capabilitiesOf(session)
  if (options?.condstore === true && !caps.condstore) return missing(name, "CONDSTORE")
  const qresync = options?.qresync
  if (qresync === undefined) return Effect.succeed(options?.condstore === true ? { _tag, mailbox, condstore: true } : { _tag, mailbox })
  if (!caps.qresync) return missing(`${name} (QRESYNC)`, "QRESYNC")
  if (!state.enabled.has("QRESYNC")) {
    return invalidState(`${name} (QRESYNC)`, "RFC 7162 §3.2.5: QRESYNC must be enabled first (ImapClient.enable)")
  }
  return Effect.succeed({ _tag, mailbox, ...(options?.condstore === true ? { condstore: true } : {}), qresync })
}

/** What a QRESYNC SELECT reported besides the status (RFC 7162 §3.2.5.1), filled as it arrives. */
export interface Resyncing {
  readonly vanished: Array<string>
  readonly changed: Array<Resync["changed"][number]>
}

export const resyncing = (): Resyncing => ({ vanished: [], changed: [] })

/**
 * Claims the QRESYNC data of a SELECT: `VANISHED (EARLIER)` (messages gone since the known
 * mod-sequence, not part of the view's count) and the FETCHes of changed messages (into the view).
 */
export const claimResync = (
  resync: Resyncing,
  selection: State.Selection,
  state: State.State,
  response: ImapResponse.Untagged
): boolean => {
  if (response._tag === "Vanished") {
    resync.vanished.push(response.uids)
    // Without EARLIER the messages were in the count just announced (not expected during SELECT).
    if (!response.earlier) selection.view = ImapMailbox.applyVanished(selection.view, response.uids)
    return true
  }
  if (response._tag !== "Fetch") return false
  const a = response.attributes
  State.fetched(selection, state, response, false)
  resync.changed.push({ seq: response.seq, uid: a.uid, flags: a.flags, modseq: a.modseq })
  return true
}

// -----------------------------------------------------------------------------
// UTF8=ACCEPT (RFC 6855)
// -----------------------------------------------------------------------------

/** Whether a message's header section (up to the first empty line) has 8-bit octets. */
export const hasUtf8Header = (bytes: Uint8Array): boolean => {
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!
    if (c >= 0x80) return true
    // CRLF CRLF (or LF LF) ends the header section.
    if (c === 0x0a && (bytes[i + 1] === 0x0a || (bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a))) return false
  }
  return false
}

/**
 * Whether an APPEND goes as `UTF8 (~{n})` (RFC 6855 §4): as the caller says, else when UTF-8 mode
 * is on and the message's header has 8-bit octets (a stream is not looked into).
 */
export const appendUtf8 = (session: State.Session, bytes: Uint8Array | undefined, utf8: boolean | undefined): boolean =>
  utf8 ?? (bytes !== undefined && Command.utf8Names(session) && hasUtf8Header(bytes))

// -----------------------------------------------------------------------------
// MOVE and its fallback (RFC 6851 §3.3)
// -----------------------------------------------------------------------------

/**
 * MOVE when advertised; otherwise, only when the caller opted in, the emulation RFC 6851 §3.3
 * describes: the exact UIDs are resolved first (so a message arriving meanwhile is never touched),
 * then UID COPY, UID STORE +FLAGS.SILENT (\Deleted) and UID EXPUNGE of those UIDs (UIDPLUS), or a
 * plain EXPUNGE, which also removes every other `\Deleted` message, only with `expungeAllDeleted`.
 */
export const move = (
  handle: Selected,
  set: SequenceSet.SequenceSet,
  destination: string,
  options: MoveOptions | undefined
): Effect.Effect<CopyResult, ImapError.ImapError | MailError.MailError> =>
  Effect.flatMap(Connection.check(handle.connection), (session) => {
    const caps = Command.capabilitiesOf(session)
    if (caps.move || options?.fallback !== true) {
      return Messages.transfer(handle, "Move", set, destination, options)
    }
    if (!caps.uidplus && options.expungeAllDeleted !== true) return missing("MOVE (fallback)", "UIDPLUS")
    return emulateMove(handle, set, destination, options.uid === true, caps.uidplus)
  })

const emulateMove = (
  handle: Selected,
  set: SequenceSet.SequenceSet,
  destination: string,
  uid: boolean,
  uidplus: boolean
) =>
  withSelection(handle, (session, state, selection) =>
    Effect.gen(function*() {
      const uids = yield* Messages.searchIn(session, uid ? SearchCriteria.uid(set) : SearchCriteria.sequence(set), true)
      if (uids.length === 0) return Messages.NO_COPYUID
      const exact = SequenceSet.fromNumbers(uids)
      const copied = yield* Command.run(session, { _tag: "Copy", uid: true, set: exact, mailbox: destination }, {
        name: "UID COPY"
      })
      yield* Command.run(session, { _tag: "Store", uid: true, set: exact, op: "+", silent: true, flags: ["\\Deleted"] }, {
        name: "UID STORE",
        onUntagged: (response) => {
          if (response._tag !== "Fetch") return false
          State.fetched(selection, state, response, false)
          return true
        }
      })
      yield* Command.run(session, uidplus ? { _tag: "UidExpunge", set: exact } : { _tag: "Expunge" }, {
        name: uidplus ? "UID EXPUNGE" : "EXPUNGE",
        onUntagged: (response) => {
          if (response._tag === "Expunge") State.expunged(selection, state, response.seq)
          else if (response._tag === "Vanished" && !response.earlier) State.absorb(state, response)
          else return false
          return true
        }
      })
      return Messages.copyResult(copied.code) ?? Messages.NO_COPYUID
    })
  )
