/**
 * Handle plumbing of the IMAP client: the connection behind any handle, and running an operation
 * under the session's lock with the IMAP state settled and its events published afterwards (a
 * Selected handle also checks that its selection is still the current one).
 *
 * @internal
 */
import * as Connection from "@starttls/core/Connection"
import * as MailError from "@starttls/core/MailError"
import * as Effect from "effect/Effect"
import type { Any, Authenticated, ImapConnection, Selected } from "../../ImapClient.ts"
import * as State from "./state.ts"

export const connectionOf = (handle: Any): ImapConnection<Connection.State> => ("id" in handle ? handle.connection : handle)

export const authenticatedOf = (handle: Authenticated): ImapConnection<"Authenticated"> =>
  "id" in handle ? handle.connection : handle

/** Runs `f` under the lock with the IMAP state settled, and publishes what it produced. */
export const withState = <A, E, R>(
  handle: Any,
  f: (session: State.Session, state: State.State) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | MailError.MailError, R> =>
  Connection.withSession(connectionOf(handle), (session) => {
    const state = State.of(session)
    State.settle(session, state)
    return Effect.ensuring(f(session, state), State.flush(session, state))
  })

export const staleSelection = (state: State.State) =>
  MailError.make(
    new MailError.StaleConnection({
      expected: "Selected",
      actual: state.selected === undefined ? "Authenticated (no mailbox selected)" : "Selected (another selection)"
    })
  )

export const currentSelection = (handle: Selected, state: State.State) =>
  state.selected !== undefined && state.selected.id === handle.id
    ? Effect.succeed(state.selected)
    : Effect.fail(staleSelection(state))

/** Like `withState`, for a Selected handle whose selection must still be current. */
export const withSelection = <A, E, R>(
  handle: Selected,
  f: (session: State.Session, state: State.State, selection: State.Selection) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | MailError.MailError, R> =>
  withState(handle, (session, state) =>
    Effect.flatMap(currentSelection(handle, state), (selection) => f(session, state, selection)))

