/**
 * State shared by the IMAP server's command handlers: the server (settings, store, faults), one
 * session per connection, the selected mailbox as this session sees it, and the delivery of other
 * sessions' changes as unilateral responses (RFC 9051 §7.5.1 / §7.4.1, RFC 7162 §3.2.10 VANISHED).
 *
 * A session's view (`Selection.view`) is its own list of messages in sequence-number order. The
 * store changes under it; the session catches up in `sync`, which reports EXPUNGE (or VANISHED),
 * EXISTS, RECENT and FETCH FLAGS in that order. EXPUNGE is held back while a FETCH, STORE, SEARCH,
 * COPY or MOVE by sequence number runs, so the numbers the client sent stay valid.
 *
 * @internal
 */
import type * as Certificates from "../../Certificates.ts"
import type * as ImapServer from "../../ImapServer.ts"
import type * as SaslServer from "../saslServer.ts"
import type { Out } from "./out.ts"
import type * as Reader from "./reader.ts"
import * as Sequence from "./sequence.ts"
import type * as Store from "./store.ts"

export interface Settings {
  readonly security: ImapServer.Security
  readonly keyPair: Certificates.KeyPair
  readonly clientCa: string | undefined
  readonly capabilities: {
    readonly beforeTls: ReadonlyArray<string>
    readonly afterTls: ReadonlyArray<string>
    readonly authenticated: ReadonlyArray<string>
  }
  readonly mechanisms: ReadonlyArray<SaslServer.MechanismName>
  readonly allowPlaintextAuth: boolean
  readonly greeting: ImapServer.Greeting
  readonly startTlsReply: "OK" | "NO" | "BAD"
  readonly limits: Reader.Limits
  readonly serverId: ReadonlyArray<readonly [string, string]>
  readonly handshakeTimeoutMs: number
  readonly scramIterations: number
  readonly forgeScramSignature: boolean
  readonly writeChunkSize: number
  readonly defaultInternalDate: number
}

export interface FaultEntry {
  readonly fault: ImapServer.Fault
  remaining: number
}

export interface Server {
  readonly settings: Settings
  readonly store: Store.Store
  faults: Array<FaultEntry>
  readonly connections: Array<ImapServer.Connection>
  nextConnectionId: number
}

export interface Selection {
  readonly mailbox: Store.Mailbox
  readonly readOnly: boolean
  view: Array<Store.Message>
  /** UIDs that are \Recent in this session. */
  readonly recent: Set<number>
  seenVersion: number
  maxUid: number
  expungePending: boolean
  recentReported: number
  /** The mod-sequence of each message's flags as last reported to the client. */
  readonly reported: WeakMap<Store.Message, number>
}

export type State = "NotAuthenticated" | "Authenticated" | "Selected" | "Logout"

export interface Session {
  readonly server: Server
  state: State
  account: Store.Account | undefined
  selected: Selection | undefined
  readonly enabled: Set<string>
  /** CONDSTORE is active: enabled, or a CONDSTORE feature was used (RFC 7162 §3.1). */
  condstore: boolean
  readonly secure: () => boolean
}

export interface Completion {
  readonly status: "OK" | "NO" | "BAD"
  readonly text: string
}

export const ok = (text: string): Completion => ({ status: "OK", text })
export const no = (text: string): Completion => ({ status: "NO", text })
export const bad = (text: string): Completion => ({ status: "BAD", text })

export const capabilities = (session: Session): ReadonlyArray<string> => {
  const lists = session.server.settings.capabilities
  if (session.state !== "NotAuthenticated" && session.state !== "Logout") return lists.authenticated
  return session.secure() || session.server.settings.security === "plaintext" ? lists.afterTls : lists.beforeTls
}

export const has = (session: Session, capability: string): boolean => {
  const wanted = capability.toUpperCase()
  return capabilities(session).some((c) => c.toUpperCase() === wanted)
}

export const literalMode = (session: Session): Reader.LiteralMode =>
  has(session, "LITERAL+") ? "plus" : has(session, "LITERAL-") ? "minus" : "none"

export const qresync = (session: Session): boolean => session.enabled.has("QRESYNC")

export const utf8 = (session: Session): boolean => session.enabled.has("UTF8=ACCEPT")

/** `FLAGS (...)` content of a message as this session sees it. */
export const flagList = (selection: Selection, message: Store.Message): string => {
  const flags = [...message.flags]
  if (selection.recent.has(message.uid)) flags.push("\\Recent")
  return `(${flags.join(" ")})`
}

/** Starts a view of a mailbox (SELECT / EXAMINE). SELECT takes the \Recent messages for itself. */
export const select = (mailbox: Store.Mailbox, readOnly: boolean): Selection => {
  const recent = new Set<number>()
  for (const uid of mailbox.recent) recent.add(uid)
  if (!readOnly) {
    mailbox.recent.clear()
    mailbox.holders.add(recent)
  }
  const reported = new WeakMap<Store.Message, number>()
  for (const message of mailbox.messages) reported.set(message, message.modseq)
  const last = mailbox.messages[mailbox.messages.length - 1]
  return {
    mailbox,
    readOnly,
    view: [...mailbox.messages],
    recent,
    seenVersion: mailbox.version,
    maxUid: last === undefined ? 0 : last.uid,
    expungePending: false,
    recentReported: recent.size,
    reported
  }
}

/** Leaves the selected state (CLOSE, UNSELECT, another SELECT, DELETE, the end of the connection). */
export const deselect = (session: Session): void => {
  const selection = session.selected
  if (selection === undefined) return
  selection.mailbox.holders.delete(selection.recent)
  session.selected = undefined
  if (session.state === "Selected") session.state = "Authenticated"
}

/** The \Recent set new messages should go to when this session adds them to `mailbox`. */
export const recentHolder = (session: Session, mailbox: Store.Mailbox): Set<number> | undefined =>
  session.selected?.mailbox === mailbox && !session.selected.readOnly ? session.selected.recent : undefined

/** Records that the client has been told a message's current flags. */
export const reported = (selection: Selection, message: Store.Message): void => {
  selection.reported.set(message, message.modseq)
}

/** Writes what changed in the selected mailbox since the session last looked. */
export const sync = (session: Session, out: Out, allowExpunge: boolean): void => {
  const selection = session.selected
  if (selection === undefined) return
  const mailbox = selection.mailbox
  if (mailbox.version === selection.seenVersion && !(allowExpunge && selection.expungePending)) return
  const view = selection.view
  if (allowExpunge) {
    const vanished: Array<number> = []
    for (let i = 0; i < view.length;) {
      const message = view[i]!
      if (!message.expunged) {
        i++
        continue
      }
      if (qresync(session)) vanished.push(message.uid)
      else out.text(`* ${i + 1} EXPUNGE\r\n`)
      view.splice(i, 1)
      selection.recent.delete(message.uid)
    }
    if (vanished.length > 0) out.text(`* VANISHED ${Sequence.format(vanished.sort((a, b) => a - b))}\r\n`)
    selection.expungePending = false
  } else {
    selection.expungePending = view.some((m) => m.expunged)
  }
  let first = mailbox.messages.length
  while (first > 0 && mailbox.messages[first - 1]!.uid > selection.maxUid) first--
  if (first < mailbox.messages.length) {
    for (const message of mailbox.messages.slice(first)) {
      view.push(message)
      selection.maxUid = message.uid
      selection.reported.set(message, message.modseq)
      if (selection.readOnly && mailbox.recent.has(message.uid)) selection.recent.add(message.uid)
    }
    out.text(`* ${view.length} EXISTS\r\n`)
    // RFC 3501 §7.3.2: RECENT comes with new messages (a shrinking count is implied by EXPUNGE).
    if (selection.recent.size !== selection.recentReported) out.text(`* ${selection.recent.size} RECENT\r\n`)
  }
  selection.recentReported = selection.recent.size
  for (let i = 0; i < view.length; i++) {
    const message = view[i]!
    if (message.expunged || message.modseq <= (selection.reported.get(message) ?? 0)) continue
    selection.reported.set(message, message.modseq)
    out.text(`* ${i + 1} FETCH (`)
    if (qresync(session)) out.text(`UID ${message.uid} `)
    out.text(`FLAGS ${flagList(selection, message)}`)
    if (session.condstore) out.text(` MODSEQ (${message.modseq})`)
    out.text(")\r\n")
  }
  selection.seenVersion = mailbox.version
}

/** The fault to apply to this command, if any (one use is counted). */
export const takeFault = <T extends ImapServer.Fault["_tag"]>(
  server: Server,
  tag: T,
  command: string
): Extract<ImapServer.Fault, { readonly _tag: T }> | undefined => {
  const isWanted = (fault: ImapServer.Fault): fault is Extract<ImapServer.Fault, { readonly _tag: T }> =>
    fault._tag === tag
  for (const entry of server.faults) {
    const fault = entry.fault
    if (!isWanted(fault) || entry.remaining <= 0) continue
    const wanted = "command" in fault ? fault.command.toUpperCase() : "*"
    if (wanted !== "*" && wanted !== command) continue
    entry.remaining--
    return fault
  }
  return undefined
}
