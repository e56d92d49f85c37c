/**
 * Mailbox commands of the IMAP client (RFC 9051 §6.3, and CLOSE / UNSELECT §6.4.1-2): SELECT and
 * EXAMINE (whose responses build the mailbox view, not events), LIST with special-use, STATUS,
 * APPEND, and the simple ones.
 *
 * @internal
 */
import * as MailError from "@starttls/core/MailError"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Stream from "effect/Stream"
import type {
  AppendMessage,
  AppendOptions,
  AppendResult,
  Authenticated,
  ListOptions,
  Selected,
  SelectOptions
} from "../../ImapClient.ts"
import type * as ImapCommand from "../../ImapCommand.ts"
import * as ImapError from "../../ImapError.ts"
import * as ImapMailbox from "../../ImapMailbox.ts"
import type * as ImapResponse from "../../ImapResponse.ts"
import * as MailboxName from "../../MailboxName.ts"
import * as Command from "./command.ts"
import * as Extensions from "./extensions.ts"
import { authenticatedOf, currentSelection, pipelined, withSelection, withState } from "./handles.ts"
import * as State from "./state.ts"

const newStatus = (name: string, readOnly: boolean): ImapMailbox.MailboxStatus => ({
  name,
  readOnly,
  exists: 0,
  recent: undefined,
  flags: [],
  permanentFlags: undefined,
  uidValidity: undefined,
  uidNext: undefined,
  firstUnseen: undefined,
  highestModSeq: undefined
})

export const open = (handle: Authenticated, mailbox: string, examine: boolean, options: SelectOptions | undefined) =>
  withState(handle, (session, state) =>
    Effect.gen(function*() {
      const name = MailboxName.normalize(mailbox)
      const command = yield* Extensions.selectCommand(session, state, mailbox, examine, options)
      // RFC 9051 §6.3.2: SELECT deselects the current mailbox first, whether or not it succeeds.
      state.selected = undefined
      const selection: State.Selection = {
        id: ++state.selections,
        name,
        view: ImapMailbox.makeView(newStatus(name, examine))
      }
      const resync = command.qresync === undefined ? undefined : Extensions.resyncing()
      const reply = yield* Command.run(session, command, {
        name: examine ? "EXAMINE" : "SELECT",
        // The responses of SELECT describe the mailbox: the view, not events.
        onUntagged: (response) => {
          const view = selection.view
          switch (response._tag) {
            case "Exists":
              selection.view = ImapMailbox.applyExists(view, response.count)
              return true
            case "Recent":
              selection.view = ImapMailbox.applyRecent(view, response.count)
              return true
            case "Flags":
              selection.view = ImapMailbox.applyMailboxFlags(view, response.flags)
              return true
            case "Condition":
              if (response.status !== "OK" || response.code === undefined) return false
              State.applyStatusCode(selection, response.code)
              return response.code._tag !== "ALERT"
            default:
              // RFC 7162 §3.2.5.1: VANISHED (EARLIER) and the FETCHes of changed messages.
              return resync !== undefined && Extensions.claimResync(resync, selection, state, response)
          }
        }
      })
      if (reply.code !== undefined) State.applyStatusCode(selection, reply.code)
      state.selected = selection
      const selected: Selected = {
        state: "Selected",
        connection: authenticatedOf(handle),
        id: selection.id,
        status: selection.view.status,
        ...(resync === undefined ? {} : { resync })
      }
      return selected
    })
  )

export const leave = (handle: Selected, command: "Close" | "Unselect") =>
  withSelection(handle, (session, state) =>
    Effect.gen(function*() {
      const caps = Command.capabilitiesOf(session)
      if (command === "Unselect" && !caps.unselect) {
        return yield* ImapError.missingCapability("UNSELECT", "UNSELECT")
      }
      yield* Command.run(session, { _tag: command }, { name: command.toUpperCase() }).pipe(
        Effect.ensuring(Effect.sync(() => {
          state.selected = undefined
        }))
      )
      return handle.connection
    }))

const listEntry = (utf8: boolean, response: ImapResponse.MailboxList): ImapMailbox.ListEntry => {
  const decoded = MailboxName.decode(response.mailbox, { utf8 })
  let specialUse: ImapMailbox.SpecialUse | undefined
  let selectable = true
  for (const attribute of response.attributes) {
    specialUse ??= ImapMailbox.specialUseOf(attribute)
    const lower = attribute.toLowerCase()
    if (lower === "\\noselect" || lower === "\\nonexistent") selectable = false
  }
  return {
    name: Result.isSuccess(decoded) ? decoded.success : response.mailbox,
    wireName: response.mailbox,
    delimiter: response.delimiter,
    attributes: response.attributes,
    specialUse,
    selectable
  }
}

export const DEFAULT_STATUS: ReadonlyArray<ImapCommand.StatusItem> = ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"]

export const simple = (handle: Authenticated, command: ImapCommand.ImapCommand, name: string) =>
  pipelined(handle, (_session, _state, send) => Effect.asVoid(send(command, { name })))

const uidOf = (set: string): number | undefined => (/^[1-9][0-9]*$/.test(set) ? Number(set) : undefined)

export const list = (
  handle: Authenticated,
  options?: ListOptions
): Effect.Effect<ReadonlyArray<ImapMailbox.ListEntry>, ImapError.ImapError | MailError.MailError> =>
  pipelined(handle, (session, _state, send) => {
    const caps = Command.capabilitiesOf(session)
    const utf8 = Command.utf8Names(session)
    const reference = options?.reference ?? ""
    const pattern = options?.pattern ?? "*"
    const subscribed = options?.subscribed === true
    const lsub = subscribed && !caps.listExtended
    const entries: Array<ImapMailbox.ListEntry> = []
    const command: ImapCommand.ImapCommand = lsub
      ? { _tag: "Lsub", reference, pattern: typeof pattern === "string" ? pattern : pattern[0] ?? "*" }
      : {
        _tag: "List",
        reference,
        patterns: pattern,
        ...(subscribed ? { select: ["SUBSCRIBED"] as const } : {}),
        ...(caps.specialUse && caps.listExtended ? { return: { specialUse: true } } : {})
      }
    return send(command, {
      name: lsub ? "LSUB" : "LIST",
      onUntagged: (response) => {
        if (response._tag !== (lsub ? "Lsub" : "List")) return false
        entries.push(listEntry(utf8, response as ImapResponse.MailboxList))
        return true
      }
    }).pipe(Effect.as(entries as ReadonlyArray<ImapMailbox.ListEntry>))
  })

export const status = (
  handle: Authenticated,
  mailbox: string,
  items: ReadonlyArray<ImapCommand.StatusItem>
): Effect.Effect<ImapMailbox.StatusResult, ImapError.ImapError | MailError.MailError> =>
  pipelined(handle, (session, _state, send) =>
    Effect.gen(function*() {
      const name = MailboxName.normalize(mailbox)
      let found: ImapResponse.StatusAttributes | undefined
      yield* send({ _tag: "Status", mailbox, items }, {
        name: "STATUS",
        // The pipeline offers only the `* STATUS` of this mailbox (its name decoded and compared).
        onUntagged: (response) => {
          if (response._tag !== "Status") return false
          found = response.attributes
          return true
        }
      })
      if (found === undefined) {
        return yield* Command.violation(session, "command", "no STATUS response for the mailbox")
      }
      const a = found
      return {
        name,
        messages: a.messages,
        recent: a.recent,
        uidNext: a.uidNext,
        uidValidity: a.uidValidity,
        unseen: a.unseen,
        deleted: a.deleted,
        size: a.size,
        highestModSeq: a.highestModSeq
      }
    }))

export const append = <E = never>(
  handle: Authenticated,
  mailbox: string,
  message: AppendMessage<E>,
  options?: AppendOptions
): Effect.Effect<AppendResult, E | ImapError.ImapError | MailError.MailError> =>
  withState(handle, (session) => {
    const bytes = message instanceof Uint8Array ? message : undefined
    const size = bytes !== undefined ? bytes.length : (message as { readonly size: number }).size
    const command: ImapCommand.Append = {
      _tag: "Append",
      mailbox,
      message: { size },
      ...(options?.flags === undefined ? {} : { flags: options.flags }),
      ...(options?.internalDate === undefined ? {} : { internalDate: options.internalDate }),
      ...(Extensions.appendUtf8(session, bytes, options?.utf8) ? { utf8: true } : {})
    }
    return Command.run<E>(session, command, {
      name: "APPEND",
      payload: bytes !== undefined
        ? { _tag: "Bytes", bytes }
        : { _tag: "Stream", stream: (message as { readonly stream: Stream.Stream<Uint8Array, E> }).stream }
    }).pipe(Effect.map((reply): AppendResult => {
      const code = reply.code
      return code !== undefined && code._tag === "APPENDUID"
        ? { uidValidity: code.uidValidity, uid: uidOf(code.uids) }
        : { uidValidity: undefined, uid: undefined }
    }))
  })

/** The live view, copied (the view's storage is the client's). */
export const view = (handle: Selected, session: State.Session): Effect.Effect<ImapMailbox.View, MailError.MailError> =>
  Effect.map(currentSelection(handle, State.of(session)), (selection) => ({
    status: selection.view.status,
    messages: [...selection.view.messages]
  }))
