/**
 * Message commands of the IMAP client (Selected state, RFC 9051 §6.4): building FETCH commands from
 * a query, STORE, SEARCH, COPY / MOVE with COPYUID, EXPUNGE / UID EXPUNGE (FETCH itself streams:
 * `fetch.ts`).
 *
 * @internal
 */
import * as Connection from "@starttls/core/Connection"
import * as MailError from "@starttls/core/MailError"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type {
  CopyResult,
  FetchOptions,
  FetchQuery,
  Selected,
  StoreAction,
  StoreOptions,
  StoreResult
} from "../../ImapClient.ts"
import type * as ImapCommand from "../../ImapCommand.ts"
import * as ImapError from "../../ImapError.ts"
import type * as ImapResponse from "../../ImapResponse.ts"
import type * as SearchCriteria from "../../SearchCriteria.ts"
import * as SequenceSet from "../../SequenceSet.ts"
import * as Command from "./command.ts"
import * as Fetch from "./fetch.ts"
import { checkSelection, pipelinedSelection, withSelection } from "./handles.ts"
import * as Pipeline from "./pipeline.ts"
import * as State from "./state.ts"

export const fetchItems = (query: FetchQuery, uid: boolean): Array<ImapCommand.FetchItem> => {
  const items: Array<ImapCommand.FetchItem> = []
  if (query.uid === true || uid) items.push("UID")
  if (query.flags === true) items.push("FLAGS")
  if (query.internalDate === true) items.push("INTERNALDATE")
  if (query.size === true) items.push("RFC822.SIZE")
  if (query.envelope === true) items.push("ENVELOPE")
  if (query.bodyStructure === true) items.push("BODYSTRUCTURE")
  if (query.modseq === true) items.push("MODSEQ")
  if (query.source === true) items.push({ _tag: "BodySection", peek: true })
  const headers = query.headers
  if (headers === true) items.push({ _tag: "BodySection", peek: true, specifier: "HEADER" })
  else if (headers !== undefined && headers !== false) {
    items.push({ _tag: "BodySection", peek: true, specifier: { headerFields: headers } })
  }
  if (query.sections !== undefined) items.push(...query.sections)
  return items
}

export const fetchCommand = (
  set: SequenceSet.SequenceSet,
  items: ReadonlyArray<ImapCommand.FetchItem>,
  options: FetchOptions | undefined
): ImapCommand.Fetch => ({
  _tag: "Fetch",
  uid: options?.uid === true,
  set,
  items,
  ...(options?.changedSince === undefined ? {} : { changedSince: options.changedSince }),
  ...(options?.vanished === true ? { vanished: true } : {})
})

/** The lock and a current selection for a stream's lifetime. */
export const acquireSelection = (handle: Selected): Fetch.Acquire =>
  Effect.flatMap(Connection.check(handle.connection), (session) =>
    Fetch.acquire(session, checkSelection(handle)))

const OPS = { add: "+", remove: "-", replace: "" } as const

export const copyResult = (code: ImapResponse.ResponseCode | undefined): CopyResult | undefined =>
  code !== undefined && code._tag === "COPYUID"
    ? { uidValidity: code.uidValidity, sourceUids: code.source, destinationUids: code.dest }
    : undefined

export const NO_COPYUID: CopyResult = { uidValidity: undefined, sourceUids: undefined, destinationUids: undefined }

export const transfer = (
  handle: Selected,
  command: "Copy" | "Move",
  set: SequenceSet.SequenceSet,
  destination: string,
  options: { readonly uid?: boolean | undefined } | undefined
) =>
  pipelinedSelection(handle, (session, _state, _selection, send) =>
    Effect.gen(function*() {
      if (command === "Move" && !Command.capabilitiesOf(session).move) {
        return yield* ImapError.missingCapability("MOVE", "MOVE")
      }
      let untagged: CopyResult | undefined
      const reply = yield* send({ _tag: command, uid: options?.uid === true, set, mailbox: destination }, {
        name: command.toUpperCase(),
        onUntagged: (response) => {
          // RFC 6851 §4.3: MOVE reports COPYUID in an untagged OK before the EXPUNGEs.
          if (response._tag !== "Condition" || response.status !== "OK") return false
          untagged ??= copyResult(response.code)
          return untagged !== undefined
        }
      })
      return copyResult(reply.code) ?? untagged ?? NO_COPYUID
    }))

export const expungeWith = (handle: Selected, command: ImapCommand.ImapCommand, name: string) =>
  withSelection(handle, (session, state, selection) => {
    const expunged: Array<number> = []
    return Command.run(session, command, {
      name,
      onUntagged: (response) => {
        if (response._tag !== "Expunge") return false
        State.expunged(selection, state, response.seq)
        expunged.push(response.seq)
        return true
      }
    }).pipe(Effect.as(expunged as ReadonlyArray<number>))
  })

/** A STORE's outcome: what the server reported per message, and the MODIFIED set (RFC 7162 §3.1.3). */
export interface Stored {
  /** The messages whose new flags the server reported. */
  readonly results: ReadonlyArray<StoreResult>
  /** The messages whose new flags or mod-sequence the server reported (CONDSTORE). */
  readonly updated: ReadonlyArray<StoreResult & { readonly modseq: bigint | undefined }>
  readonly modified: string | undefined
}

export const store = (
  handle: Selected,
  set: SequenceSet.SequenceSet,
  action: StoreAction,
  flags: ReadonlyArray<string>,
  options?: StoreOptions & { readonly unchangedSince?: bigint | number | undefined }
): Effect.Effect<Stored, ImapError.ImapError | MailError.MailError> =>
  pipelinedSelection(handle, (session, state, selection, send) => {
    const results: Array<StoreResult> = []
    const updated: Array<StoreResult & { readonly modseq: bigint | undefined }> = []
    const uid = options?.uid === true
    if (options?.unchangedSince !== undefined && !Command.capabilitiesOf(session).condstore) {
      return Effect.fail(ImapError.missingCapability("STORE UNCHANGEDSINCE", "CONDSTORE"))
    }
    const command: ImapCommand.Store = {
      _tag: "Store",
      uid,
      set,
      op: OPS[action],
      silent: options?.silent === true,
      flags,
      ...(options?.unchangedSince === undefined ? {} : { unchangedSince: options.unchangedSince })
    }
    return send(command, {
      name: "STORE",
      onUntagged: (response) => {
        if (response._tag !== "Fetch") return false
        const a = response.attributes
        State.fetched(selection, state, response, false)
        // RFC 7162 §3.1.3: a conditional STORE reports MODSEQ even with .SILENT (then without FLAGS).
        if (a.flags !== undefined) results.push({ seq: response.seq, uid: a.uid, flags: a.flags })
        if (a.flags !== undefined || a.modseq !== undefined) {
          updated.push({ seq: response.seq, uid: a.uid, flags: a.flags ?? [], modseq: a.modseq })
        }
        return true
      }
    }).pipe(Effect.map((reply): Stored => ({
      results,
      updated,
      modified: reply.code !== undefined && reply.code._tag === "MODIFIED" ? reply.code.set : undefined
    })))
  })

const setSize = (set: SequenceSet.SequenceSet): number => {
  let size = 0
  if (set._tag === "Ranges") {
    for (const r of set.ranges) if (r.start !== "*" && r.end !== "*") size += Math.abs(r.end - r.start) + 1
  }
  return size
}

export const search = (
  handle: Selected,
  criteria: SearchCriteria.Criterion,
  options?: { readonly uid?: boolean | undefined }
): Effect.Effect<ReadonlyArray<number>, ImapError.ImapError | MailError.MailError> =>
  pipelinedSelection(handle, (session, _state, _selection, send) => searchIn(session, criteria, options?.uid === true, send))

export const searchWithModSeq = (
  handle: Selected,
  criteria: SearchCriteria.Criterion,
  options: { readonly uid?: boolean | undefined } | undefined
) =>
  pipelinedSelection(handle, (session, _state, _selection, send) => searchFound(session, criteria, options?.uid === true, send))

/** What a SEARCH found, with the highest mod-sequence the server reported (RFC 7162 §3.1.5). */
export interface Found {
  readonly numbers: ReadonlyArray<number>
  readonly modseq: bigint | undefined
}

/** [UID] SEARCH on a session the caller holds (or through the pipeline with `send`). */
export const searchIn = (
  session: State.Session,
  criteria: SearchCriteria.Criterion,
  uid: boolean,
  send: Pipeline.Send = Pipeline.alone(session)
): Effect.Effect<ReadonlyArray<number>, ImapError.ImapError | MailError.MailError> =>
  Effect.map(searchFound(session, criteria, uid, send), (found) => found.numbers)

/** SEARCH / UID SEARCH with what the server found and the MODSEQ it reported. */
export const searchFound = (
  session: State.Session,
  criteria: SearchCriteria.Criterion,
  uid: boolean,
  send: Pipeline.Send = Pipeline.alone(session)
): Effect.Effect<Found, ImapError.ImapError | MailError.MailError> =>
  Effect.suspend(() => {
    const numbers: Array<number> = []
    let modseq: bigint | undefined
    // A number in a JavaScript array costs at least 8 bytes: bound an ESEARCH expansion like a response.
    const most = Math.floor(session.limits.maxResponseBytes / 8)
    let tooMany: number | undefined
    return send({ _tag: "Search", uid, criteria }, {
      name: uid ? "UID SEARCH" : "SEARCH",
      onUntagged: (response) => {
        if (response._tag === "Search") {
          for (const n of response.numbers) numbers.push(n)
          if (response.modseq !== undefined) modseq = response.modseq
          return true
        }
        // RFC 9051 §7.3.4: an IMAP4rev2 server answers SEARCH with ESEARCH (ALL as a sequence set).
        if (response._tag === "ESearch" && response.modseq !== undefined) modseq = response.modseq
        if (response._tag !== "ESearch" || response.all === undefined) return response._tag === "ESearch"
        const set = SequenceSet.parse(response.all)
        if (Result.isFailure(set)) return true
        for (const n of SequenceSet.values(set.success, 0)) {
          if (numbers.length >= most) {
            tooMany = setSize(set.success)
            break
          }
          numbers.push(n)
        }
        return true
      }
    }).pipe(
      Effect.flatMap(() =>
        tooMany === undefined
          ? Effect.succeed<Found>({ numbers, modseq })
          : Effect.fail(MailError.make(new MailError.LimitExceeded({ limit: "maxResponseBytes", max: most, actual: tooMany })))
      )
    )
  })

/** FETCH into memory (`ImapClient.fetchAll`): one pipelined command, the messages of its reply. */
export const fetchAll = (
  handle: Selected,
  command: ImapCommand.Fetch
): Effect.Effect<ReadonlyArray<Fetch.Message>, ImapError.ImapError | MailError.MailError> =>
  pipelinedSelection(handle, (_session, state, selection, send) => {
    const belongs = Fetch.answers(command)
    const messages: Array<Fetch.Message> = []
    return send(command, {
      name: "FETCH",
      onUntagged: (response, assembled) => {
        if (response._tag !== "Fetch" || !belongs(selection, response)) return false
        State.fetched(selection, state, response, false)
        messages.push(Fetch.message(response, assembled))
        return true
      }
    }).pipe(Effect.as(messages as ReadonlyArray<Fetch.Message>))
  })
