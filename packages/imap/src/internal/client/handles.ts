/**
 * Handle plumbing of the IMAP client: the connection behind any handle, and running an operation
 * with the IMAP state settled and its events published afterwards (a Selected handle also checks
 * that its selection is still the current one). An operation either runs alone under the
 * session's lock (`withState`, `withSelection`: barriers, streams, anything that reads the wire
 * itself) or sends its commands through the pipeline (`pipelined`, `pipelinedSelection`: the
 * handle is checked again when each command is written).
 *
 * @internal
 */
import * as Connection from "@starttls/core/Connection"
import * as MailError from "@starttls/core/MailError"
import * as Effect from "effect/Effect"
import type { Any, Authenticated, ImapConnection, Selected } from "../../ImapClient.ts"
import * as Pipeline from "./pipeline.ts"
import * as State from "./state.ts"

export const connectionOf = (handle: Any): ImapConnection<Connection.State> => ("id" in handle ? handle.connection : handle)

export const authenticatedOf = (handle: Authenticated): ImapConnection<"Authenticated"> =>
  "id" in handle ? handle.connection : handle

/** Runs `f` under the lock (alone) with the IMAP state settled, and publishes what it produced. */
export const withState = <A, E, R>(
  handle: Any,
  f: (session: State.Session, state: State.State) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | MailError.MailError, R> => {
  const connection = connectionOf(handle)
  return Pipeline.exclusive(connection.session, (acquired) =>
    Connection.withSession(connection, (session) =>
      Effect.andThen(
        acquired,
        Effect.suspend(() => {
          const state = State.of(session)
          State.settle(session, state)
          return Effect.ensuring(f(session, state), State.flush(session, state))
        })
      )))
}

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

/** The handle's selection, checked now: the handle current, the IMAP state settled, its mailbox
 * still the selected one (for work that holds the lock by other means: streams, IDLE). */
export const checkSelection = (handle: Selected): Effect.Effect<State.Selection, MailError.MailError> =>
  Effect.flatMap(Connection.check(handle.connection), (session) => {
    const state = State.of(session)
    State.settle(session, state)
    return currentSelection(handle, state)
  })

/** Like `withState`, for a Selected handle whose selection must still be current. */
export const withSelection = <A, E, R>(
  handle: Selected,
  f: (session: State.Session, state: State.State, selection: State.Selection) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | MailError.MailError, R> =>
  withState(handle, (session, state) =>
    Effect.flatMap(currentSelection(handle, state), (selection) => f(session, state, selection)))

/** Runs `f` with a `send` whose commands are checked when written: the handle (`Connection.staleness`), then `current`. */
const pipelinedOn = <A, E, R>(
  connection: ImapConnection<Connection.State>,
  current: (state: State.State) => MailError.MailError | undefined,
  f: (session: State.Session, state: State.State, send: Pipeline.Send) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | MailError.MailError, R> =>
  Effect.flatMap(Connection.check(connection), (session) => {
    const state = State.of(session)
    State.settle(session, state)
    // checked again when the driver writes it (no Effect there)
    const check = () => Connection.staleness(connection) ?? current(state)
    const send: Pipeline.Send = (command, options) =>
      Pipeline.submit(session, state, { command, name: options.name, claim: options.onUntagged, check })
    return Effect.ensuring(f(session, state, send), State.flush(session, state))
  })

/**
 * Runs `f` without holding the lock, the IMAP state settled, and publishes what it produced: its
 * commands go through the pipeline with `send` (never hold the lock in `f`).
 */
export const pipelined = <A, E, R>(
  handle: Any,
  f: (session: State.Session, state: State.State, send: Pipeline.Send) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | MailError.MailError, R> => pipelinedOn(connectionOf(handle), () => undefined, f)

/** Like `pipelined`, for a Selected handle whose selection must still be current (also when each command is written). */
export const pipelinedSelection = <A, E, R>(
  handle: Selected,
  f: (
    session: State.Session,
    state: State.State,
    selection: State.Selection,
    send: Pipeline.Send
  ) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | MailError.MailError, R> =>
  pipelinedOn(
    handle.connection,
    (state) => (state.selected?.id === handle.id ? undefined : staleSelection(state)),
    (session, state, send) =>
      Effect.flatMap(currentSelection(handle, state), (selection) => f(session, state, selection, send))
  )
