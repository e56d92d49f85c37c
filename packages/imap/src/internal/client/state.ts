/**
 * The per-connection state of the IMAP client, shared by the dialect (which core runs for the
 * greeting, CAPABILITY, STARTTLS, AUTHENTICATE and LOGOUT) and the client operations: the tag
 * counter and the tags in flight, where the connection stands (STARTTLS accepted, frames read over
 * TLS), the selected mailbox's view, and what untagged responses produced (events for the event
 * stream, plaintext notices for `SecurityEvents`).
 *
 * `absorb` is the one place untagged data goes when no command claims it. Its rules:
 * - mailbox data (EXISTS, EXPUNGE, FETCH, FLAGS, RECENT, VANISHED, status codes) changes the view
 *   only while a mailbox is selected, which needs an authenticated session; before TLS (and before
 *   authentication) it is dropped (ATTACKS.md A12);
 * - `[ALERT]` text becomes an `Alert` event only when it came over TLS; otherwise it is dropped and
 *   an `UntrustedPlaintextNotice` is emitted (A21, S10);
 * - `[REFERRAL]` codes are never acted on (A20).
 *
 * @internal
 */
import type * as Connection from "@starttls/core/Connection"
import type * as Dialect from "@starttls/core/Dialect"
import * as SecurityEvents from "@starttls/core/SecurityEvents"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import type * as Redacted from "effect/Redacted"
import type * as ImapCapabilities from "../../ImapCapabilities.ts"
import * as ImapMailbox from "../../ImapMailbox.ts"
import type * as ImapResponse from "../../ImapResponse.ts"

export type Frame = ImapResponse.Frame
export type Caps = ImapCapabilities.ImapCapabilities
export type Session = Connection.Session<Frame, Caps>

/** The selected mailbox: its id (matched by `Selected` handles) and the live view. */
export interface Selection {
  readonly id: number
  readonly name: string
  view: ImapMailbox.View
}

/**
 * An AUTHENTICATE to send right after the post-TLS CAPABILITY, in the same write (pipelined
 * authentication, see `ImapClient.session`): armed before STARTTLS, written by the CAPABILITY core
 * sends over TLS, and taken up by the SASL exchange core runs next.
 */
export interface Pipelined {
  readonly mechanism: string
  readonly initial: Redacted.Redacted<Uint8Array>
}

export interface State {
  tag: number
  readonly inFlight: Set<string>
  /** The STARTTLS success reply was read: every later frame comes over TLS (or the connection fails). */
  startTlsAccepted: boolean
  /** Frames are read over TLS. */
  secure: boolean
  /** `[ALERT]` texts of the greeting: trusted or not depends on how the connection was opened. */
  greetingAlerts: Array<string>
  /** Plaintext notices not yet emitted (descriptions, no server text). */
  notices: Array<string>
  /** Events not yet published. */
  events: Array<ImapMailbox.ImapEvent>
  hub: PubSub.PubSub<ImapMailbox.ImapEvent | End> | undefined
  selected: Selection | undefined
  selections: number
  /** UTF8=ACCEPT or IMAP4rev2 enabled (RFC 6855 §3, RFC 9051 §6.3.1). */
  utf8: boolean | undefined
  /** What ENABLE turned on (upper-cased; QRESYNC implies CONDSTORE, RFC 7162 §3.2.3). */
  readonly enabled: Set<string>
  /** Sees every event as it is produced (the IDLE stream), besides the event hub. */
  tap: ((event: ImapMailbox.ImapEvent) => void) | undefined
  /** Told when an operation wants the connection (an IDLE in progress then ends its cycle). */
  wanted: (() => void) | undefined
  /** Capabilities announced during AUTHENTICATE (code of the tagged OK, or untagged). */
  authCapabilities: Caps | undefined
  /** Text of the last `* BYE` (untrusted). */
  bye: string | undefined
  /** Armed pipelined authentication (not written yet). */
  pipelined: Pipelined | undefined
  /** A pipelined AUTHENTICATE that was written and whose reply the SASL exchange will read. */
  pipelinedTag: { readonly mechanism: string; readonly tag: string } | undefined
}

/** Published when the connection ends: event streams stop at it (after what came before). */
export const END = { _tag: "End" } as const
export type End = typeof END

/** Whether an item of the hub is an event (not the end marker). */
export const isEvent = (item: ImapMailbox.ImapEvent | End): item is ImapMailbox.ImapEvent => item !== END

/** Most events / notices kept while nobody takes them (the oldest are dropped). */
export const MAX_PENDING = 4096

export const make = (): State => ({
  tag: 0,
  inFlight: new Set(),
  startTlsAccepted: false,
  secure: false,
  greetingAlerts: [],
  notices: [],
  events: [],
  hub: undefined,
  selected: undefined,
  selections: 0,
  utf8: undefined,
  enabled: new Set(),
  tap: undefined,
  wanted: undefined,
  authCapabilities: undefined,
  bye: undefined,
  pipelined: undefined,
  pipelinedTag: undefined
})

const registry = new WeakMap<object, State>()

/** Associates a state with the dialect session object core keeps in `Session.protocol`. */
export const register = (protocol: Dialect.Session<Frame, Caps>, state: State): void => {
  registry.set(protocol, state)
}

/** The state of a connection (created on first use for a session made by another dialect value). */
export const of = (session: Session): State => {
  let state = registry.get(session.protocol)
  if (state === undefined) {
    state = make()
    registry.set(session.protocol, state)
  }
  return state
}

/** A response code's name, for errors (REFERRAL keeps its URL elsewhere). */
export const codeName = (code: ImapResponse.ResponseCode | undefined): string | undefined =>
  code === undefined ? undefined : code._tag === "Unknown" ? code.name : code._tag

/** The tag `nextTag` gives next (nothing is taken). */
export const peekTag = (state: State): string => `A${state.tag + 1}`

/** A new tag from the per-connection counter, put in flight. */
export const nextTag = (state: State): string => {
  const tag = `A${++state.tag}`
  state.inFlight.add(tag)
  return tag
}

const bounded = <A>(queue: Array<A>, item: A): void => {
  if (queue.length >= MAX_PENDING) queue.splice(0, queue.length - MAX_PENDING + 1)
  queue.push(item)
}

export const notice = (state: State, detail: string): void => bounded(state.notices, detail)

export const event = (state: State, e: ImapMailbox.ImapEvent): void => {
  bounded(state.events, e)
  state.tap?.(e)
}

/** An `[ALERT]` (untagged, tagged or in a continuation): an event over TLS, a notice otherwise. */
export const alert = (state: State, code: ImapResponse.ResponseCode | undefined, text: string): void => {
  if (code === undefined || code._tag !== "ALERT") return
  if (state.secure) event(state, { _tag: "Alert", text })
  else notice(state, "[ALERT] received before TLS; dropped")
}

const untrustedCode = (state: State, code: ImapResponse.ResponseCode | undefined): void => {
  if (code === undefined || state.secure) return
  if (code._tag === "REFERRAL") notice(state, "[REFERRAL] received before TLS; ignored")
}

// RFC 9051 §7.1: response codes of an untagged OK that describe the selected mailbox.
export const applyStatusCode = (selection: Selection, code: ImapResponse.ResponseCode): void => {
  const status = selection.view.status
  let next: ImapMailbox.MailboxStatus | undefined
  switch (code._tag) {
    case "UIDNEXT":
      next = { ...status, uidNext: code.value }
      break
    case "UIDVALIDITY":
      next = { ...status, uidValidity: code.value }
      break
    case "UNSEEN":
      next = { ...status, firstUnseen: code.value }
      break
    case "PERMANENTFLAGS":
      next = { ...status, permanentFlags: code.flags }
      break
    case "HIGHESTMODSEQ":
      next = { ...status, highestModSeq: code.modseq }
      break
    case "READ-ONLY":
      next = { ...status, readOnly: true }
      break
    case "READ-WRITE":
      next = { ...status, readOnly: false }
      break
    default:
      return
  }
  selection.view = { ...selection.view, status: next }
}

/**
 * A FETCH's UID and FLAGS into the view; `announce` makes it a `FlagsChanged` event (an unsolicited
 * FETCH) when it carried flags.
 */
export const fetched = (selection: Selection, state: State, response: ImapResponse.Fetch, announce: boolean): void => {
  const a = response.attributes
  if (a.uid === undefined && a.flags === undefined) return
  selection.view = ImapMailbox.applyFetch(selection.view, response.seq, a.uid, a.flags)
  if (announce && a.flags !== undefined) {
    event(state, { _tag: "FlagsChanged", mailbox: selection.name, seq: response.seq, uid: a.uid, flags: a.flags })
  }
}

/** `* n EXPUNGE` into the view, with its event. */
export const expunged = (selection: Selection, state: State, seq: number): void => {
  const { uid, view } = ImapMailbox.applyExpunge(selection.view, seq)
  selection.view = view
  event(state, { _tag: "Expunge", mailbox: selection.name, seq, uid })
}

/** Untagged data no command claimed (see the module header for the rules). */
export const absorb = (state: State, response: ImapResponse.Untagged): void => {
  if (response._tag === "Condition") {
    if (response.status === "BYE") state.bye = response.text
    alert(state, response.code, response.text)
    untrustedCode(state, response.code)
    if (response.code !== undefined && state.selected !== undefined && response.status === "OK") {
      applyStatusCode(state.selected, response.code)
    }
    return
  }
  const selection = state.selected
  if (selection === undefined) return
  const name = selection.name
  switch (response._tag) {
    case "Exists":
      selection.view = ImapMailbox.applyExists(selection.view, response.count)
      event(state, { _tag: "Exists", mailbox: name, count: response.count })
      return
    case "Recent":
      selection.view = ImapMailbox.applyRecent(selection.view, response.count)
      event(state, { _tag: "Recent", mailbox: name, count: response.count })
      return
    case "Expunge":
      expunged(selection, state, response.seq)
      return
    case "Vanished":
      if (!response.earlier) selection.view = ImapMailbox.applyVanished(selection.view, response.uids)
      event(state, { _tag: "Vanished", mailbox: name, uids: response.uids, earlier: response.earlier })
      return
    case "Flags":
      selection.view = ImapMailbox.applyMailboxFlags(selection.view, response.flags)
      event(state, { _tag: "MailboxFlags", mailbox: name, flags: response.flags })
      return
    case "Fetch":
      fetched(selection, state, response, true)
      return
    default:
      return
  }
}

/**
 * Brings the state in line with the connection: frames over an implicit-TLS connection are
 * trusted, and the greeting's alerts are classified (a greeting read over TLS is trusted; one read
 * in plaintext, before STARTTLS, is not).
 */
export const settle = (session: Session, state: State): void => {
  if (!state.secure && session.wire.tls() !== undefined && !state.startTlsAccepted) state.secure = true
  if (state.greetingAlerts.length > 0 && (state.startTlsAccepted || session.state === "Plain" || state.secure)) {
    const trusted = state.secure && !state.startTlsAccepted
    for (const text of state.greetingAlerts) {
      if (trusted) event(state, { _tag: "Alert", text })
      else notice(state, "[ALERT] in the greeting received before TLS; dropped")
    }
    state.greetingAlerts = []
  }
}

/**
 * Emits the pending plaintext notices as security events and publishes the pending events. Until
 * the first `events` subscription creates the hub, events stay pending (at most `MAX_PENDING`, the
 * oldest dropped), so the first subscriber also gets what happened before it subscribed.
 */
export const flush = (session: Session, state: State): Effect.Effect<void> =>
  Effect.suspend(() => {
    settle(session, state)
    const hub = state.hub
    if (state.notices.length === 0 && (state.events.length === 0 || hub === undefined)) return Effect.void
    const notices = state.notices
    const events = hub === undefined ? [] : state.events
    state.notices = []
    if (hub !== undefined) state.events = []
    return Effect.andThen(
      Effect.forEach(
        notices,
        (detail) =>
          SecurityEvents.emit({ _tag: "UntrustedPlaintextNotice", protocol: "IMAP", host: session.host, detail }),
        { discard: true }
      ),
      hub === undefined ? Effect.void : PubSub.publishAll(hub, events)
    )
  })

/** The event hub of the connection (created on first use). */
export const hub = (state: State): Effect.Effect<PubSub.PubSub<ImapMailbox.ImapEvent | End>> =>
  Effect.suspend(() => {
    if (state.hub !== undefined) return Effect.succeed(state.hub)
    return Effect.map(PubSub.sliding<ImapMailbox.ImapEvent | End>(MAX_PENDING), (created) => {
      state.hub ??= created
      return state.hub
    })
  })

/** Ends the event streams (once the pending events are published). */
export const end = (session: Session, state: State): Effect.Effect<void> =>
  Effect.andThen(
    flush(session, state),
    Effect.suspend(() => (state.hub === undefined ? Effect.void : Effect.asVoid(PubSub.publish(state.hub, END))))
  )
