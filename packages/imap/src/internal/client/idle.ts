/**
 * IDLE (RFC 2177, RFC 9051 §6.3.13) as a `Stream` of mailbox events, and its opt-in polling
 * fallback (NOOP every `pollInterval`) for servers without IDLE.
 *
 * The stream holds the connection's lock for each IDLE cycle (IDLE, "+", events, DONE, tagged OK):
 * while the client idles it may send nothing but DONE (RFC 2177 §3). When another operation wants
 * the connection (a pipelined command, or one that runs alone: `State.wanted`), the cycle ends with
 * DONE, the lock goes to that operation, and IDLE starts again after it, as long as the handle's
 * mailbox is still the selected one (otherwise the stream fails with `StaleConnection`). One driver
 * fiber, forked in the stream's scope, does every read; the consumer only takes events from a
 * bounded queue (the oldest dropped past `State.MAX_PENDING`: the mailbox view stays complete). So
 * ending or interrupting the consumer never interrupts a read half-way, which could lose bytes and
 * put the connection out of step; the driver is stopped by protocol instead: DONE, then the tagged
 * OK.
 *
 * Timing uses effect's `Clock` (tests drive it with `TestClock`):
 * - restart: DONE after `restartAfter` (RFC 2177 §3: "at least every 29 minutes"), then IDLE again
 *   after the tagged OK. Core's `Wire` gives every read a real-time deadline (`timeouts.idle`) that
 *   destroys the connection when it passes, so the restart is moved to at least `doneTimeout`
 *   before that deadline (with the defaults, 29 min - 30 s);
 * - dead connection: no tagged reply within `doneTimeout` of DONE (or, polling, of a NOOP) is
 *   `MailError` `Timeout` (phase `idle`) and the connection is closed;
 * - stop: when the stream ends or is interrupted, DONE is written and the tagged OK awaited (at
 *   most `doneTimeout`), so the connection stays usable for the next command; past the deadline it
 *   is closed.
 *
 * @internal
 */
import * as Connection from "@starttls/core/Connection"
import * as MailError from "@starttls/core/MailError"
import type * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { IdleOptions, Selected } from "../../ImapClient.ts"
import * as ImapCommand from "../../ImapCommand.ts"
import * as ImapError from "../../ImapError.ts"
import type * as ImapMailbox from "../../ImapMailbox.ts"
import * as Command from "./command.ts"
import { checkSelection } from "./handles.ts"
import * as Pipeline from "./pipeline.ts"
import * as State from "./state.ts"

type Failure = ImapError.ImapError | MailError.MailError

/** RFC 2177 §3: servers may log a client out after 30 minutes; clients re-issue IDLE every 29. */
export const DEFAULT_RESTART_AFTER = 29 * 60_000
export const DEFAULT_DONE_TIMEOUT = 30_000
export const DEFAULT_POLL_INTERVAL = 60_000

export interface Timing {
  readonly restart: number
  readonly doneTimeout: number
  readonly pollInterval: number
}

/**
 * The restart delay actually used: `restartAfter`, but at least `doneTimeout` (at most half the
 * deadline) before the Wire's real-time deadline of an idle read.
 */
export const restartDelay = (restartAfter: number, doneTimeout: number, idleDeadline: number): number =>
  Math.max(1, Math.min(restartAfter, idleDeadline - Math.min(doneTimeout, idleDeadline / 2)))

const millisOf = (input: Duration.Input | undefined, fallback: number, field: string): Result.Result<number, ImapError.ImapError> => {
  if (input === undefined) return Result.succeed(fallback)
  const duration = Duration.fromInput(input)
  const millis = Option.isSome(duration) ? Duration.toMillis(duration.value) : Number.NaN
  return millis > 0 && Number.isFinite(millis)
    ? Result.succeed(millis)
    : Result.fail(ImapError.make(
      new ImapError.InvalidArgument({ command: "IDLE", field, detail: "must be a positive, finite duration" })
    ))
}

/** The options with their defaults (invalid durations are `InvalidArgument`, nothing written). */
export const timing = (
  options: IdleOptions | undefined,
  idleDeadline: number
): Result.Result<Timing, ImapError.ImapError> =>
  Result.gen(function*() {
    const restartAfter = yield* millisOf(options?.restartAfter, DEFAULT_RESTART_AFTER, "restartAfter")
    const doneTimeout = yield* millisOf(options?.doneTimeout, DEFAULT_DONE_TIMEOUT, "doneTimeout")
    const pollInterval = yield* millisOf(options?.pollInterval, DEFAULT_POLL_INTERVAL, "pollInterval")
    return { restart: restartDelay(restartAfter, doneTimeout, idleDeadline), doneTimeout, pollInterval }
  })

/** Where the driver stands; shared with the restart timer and the stream's finalizer. */
interface Control {
  /** The stream ended: finish the current cycle and stop. */
  stopping: boolean
  /** Between the "+" and the tagged reply of an IDLE. */
  idling: boolean
  doneSent: boolean
  cycle: number
  /** Why the connection was given up (a deadline), reported instead of the read's failure. */
  failure: Failure | undefined
  readonly stop: Deferred.Deferred<void>
}

// RFC 2177 §3: idle = "IDLE" CRLF "+" ... "DONE" CRLF
const DONE = new TextEncoder().encode("DONE\r\n")

const writeDone = (session: State.Session, control: Control): Effect.Effect<void, MailError.MailError> =>
  Effect.suspend(() => {
    if (!control.idling || control.doneSent) return Effect.void
    control.doneSent = true
    return session.wire.write([DONE], ["DONE"], "idle")
  })

/** Gives the connection up (`failure` is what the stream reports): the pending read fails at once. */
const giveUp = (session: State.Session, control: Control, failure: Failure): Effect.Effect<void> =>
  Effect.suspend(() => {
    control.failure ??= failure
    return Connection.abandon(session, failure._tag === "MailError" ? failure : undefined)
  })

const timeout = (millis: number, hint: string): MailError.MailError =>
  MailError.make(new MailError.Timeout({ phase: "idle", millis, hint }))

/** What a frame read during IDLE means: `true` for the tagged OK. */
const outcome = (
  session: State.Session,
  state: State.State,
  c: Command.Classified
): Effect.Effect<boolean, Failure> => {
  switch (c._tag) {
    case "Continue":
      return Effect.as(State.flush(session, state), false)
    case "Tagged":
      return c.reply.status === "OK" ? Effect.succeed(true) : Effect.fail(Command.refusal("IDLE", c.reply))
    case "Continuation":
      return Command.violation(session, "idle", "unexpected continuation request during IDLE")
    case "Violation":
      return Command.violation(session, "idle", c.detail)
    case "Bye":
      return Effect.fail(ImapError.make(new ImapError.Bye({ command: "IDLE", untrustedText: c.text })))
  }
}

/** Runs `body` holding the lock, once the handle's selection is checked to be current. */
type Locked = <A, E>(body: Effect.Effect<A, E>) => Effect.Effect<A, E | MailError.MailError>

/**
 * IDLE cycles until the stream stops: IDLE, "+", events, DONE (restart, stop, or another operation
 * wants the connection), tagged OK; between rounds of cycles the lock is given to whoever waits.
 */
const idling = (
  session: State.Session,
  state: State.State,
  control: Control,
  times: Timing,
  scope: Scope.Scope,
  locked: Locked
): Effect.Effect<void, Failure> => {
  // The restart timer of one cycle; interrupted when the cycle's tagged reply arrives.
  const timer = (cycle: number) =>
    Effect.sleep(times.restart).pipe(
      Effect.andThen(writeDone(session, control)),
      Effect.andThen(Effect.sleep(times.doneTimeout)),
      Effect.andThen(Effect.suspend(() =>
        control.idling && control.cycle === cycle
          ? giveUp(session, control, timeout(times.doneTimeout, "no reply to DONE"))
          : Effect.void
      )),
      Effect.catch((error) => giveUp(session, control, error))
    )

  const cycle = Effect.gen(function*() {
    const tagged = Command.encodeTagged(session, state, ImapCommand.idle, "IDLE")
    if (Result.isFailure(tagged)) return yield* tagged.failure
    const { encoded, tag } = tagged.success
    // IDLE has no arguments: one line.
    yield* session.wire.write(Command.lineBytes(encoded) ?? [], [encoded.redacted], "command")
    for (;;) {
      const c = Command.classify(state, tag, yield* session.wire.next("command"), undefined)
      if (c._tag === "Continuation") break
      // RFC 2177 §3: the server answers "+" and idles until DONE; a completion now is not IDLE.
      if (c._tag === "Tagged" && c.reply.status === "OK") {
        return yield* Command.violation(session, "idle", "IDLE completed without a continuation request")
      }
      yield* outcome(session, state, c)
    }
    control.cycle += 1
    control.idling = true
    control.doneSent = false
    const restart = yield* Effect.forkIn(timer(control.cycle), scope)
    // Another operation wants the connection: DONE now (it runs once the tagged OK is in).
    const wake = Deferred.makeUnsafe<void>()
    state.wanted = () => Deferred.doneUnsafe(wake, Exit.void)
    if (Pipeline.wanted(state)) state.wanted()
    const yielding = yield* Effect.forkIn(
      Effect.andThen(Deferred.await(wake), Effect.catch(writeDone(session, control), (error) => giveUp(session, control, error))),
      scope
    )
    yield* Effect.gen(function*() {
      if (control.stopping) yield* writeDone(session, control)
      for (;;) {
        const c = Command.classify(state, tag, yield* session.wire.next("idle"), undefined)
        // Synchronously, before anything else can run: the timer must not take this cycle for dead.
        if (c._tag === "Tagged") control.idling = false
        if (yield* outcome(session, state, c)) return
      }
    }).pipe(Effect.ensuring(Effect.suspend(() => {
      control.idling = false
      state.wanted = undefined
      return Effect.andThen(Fiber.interrupt(restart), Fiber.interrupt(yielding))
    })))
  })

  return Effect.gen(function*() {
    while (!control.stopping) {
      yield* locked(Effect.gen(function*() {
        while (!control.stopping && !Pipeline.wanted(state)) yield* cycle
      }))
      // The waiting operation is ahead of us for the lock (the semaphore serves waiters in order).
      if (!control.stopping) yield* Effect.yieldNow
    }
  })
}

/** NOOP every `pollInterval` until the stream stops; an unanswered NOOP is a dead connection. */
const polling = (
  session: State.Session,
  state: State.State,
  control: Control,
  times: Timing,
  locked: Locked
): Effect.Effect<void, Failure> =>
  Effect.gen(function*() {
    while (!control.stopping) {
      yield* locked(Command.run(session, ImapCommand.noop, { name: "NOOP" })).pipe(
        Effect.timeoutOrElse({
          duration: times.doneTimeout,
          orElse: () => {
            const failure = timeout(times.doneTimeout, "no reply to NOOP")
            return Effect.andThen(giveUp(session, control, failure), Effect.fail(failure))
          }
        })
      )
      yield* State.flush(session, state)
      if (control.stopping) return
      yield* Effect.raceFirst(Effect.sleep(times.pollInterval), Deferred.await(control.stop))
    }
  })

/** The stream's finalizer: DONE, then the driver's end, for at most `doneTimeout`. */
const stop = (
  session: State.Session,
  state: State.State,
  control: Control,
  driver: Fiber.Fiber<void, Failure>,
  times: Timing
): Effect.Effect<void> =>
  Effect.gen(function*() {
    control.stopping = true
    yield* Deferred.succeed(control.stop, undefined)
    yield* Effect.ignore(writeDone(session, control))
    const ended = yield* Effect.timeoutOption(Fiber.await(driver), times.doneTimeout)
    if (Option.isNone(ended)) {
      yield* giveUp(session, control, timeout(times.doneTimeout, "no reply to DONE"))
      yield* Fiber.interrupt(driver)
    }
  }).pipe(Effect.ensuring(Effect.suspend(() => {
    state.tap = undefined
    return State.flush(session, state)
  })))

/** `ImapClient.idle`. */
export const idle = (
  handle: Selected,
  options: IdleOptions | undefined
): Stream.Stream<ImapMailbox.ImapEvent, Failure> =>
  Stream.unwrap(Effect.gen(function*() {
    const session = yield* Connection.check(handle.connection)
    const current = checkSelection(handle)
    yield* current
    const locked: Locked = (body) => session.lock.withPermits(1)(Effect.andThen(current, body))
    const times = timing(options, session.timeouts.idle)
    if (Result.isFailure(times)) return yield* times.failure
    const poll = !Command.capabilitiesOf(session).idle
    if (poll && options?.fallback !== "poll") {
      return yield* ImapError.missingCapability("IDLE", "IDLE")
    }
    const state = State.of(session)
    const scope = yield* Effect.scope
    const queue = yield* Queue.sliding<ImapMailbox.ImapEvent, Failure | Cause.Done>(State.MAX_PENDING)
    const control: Control = {
      stopping: false,
      idling: false,
      doneSent: false,
      cycle: 0,
      failure: undefined,
      stop: yield* Deferred.make<void>()
    }
    state.tap = (event) => {
      Queue.offerUnsafe(queue, event)
    }
    const driver = yield* Effect.forkIn(
      (poll
        ? polling(session, state, control, times.success, locked)
        : idling(session, state, control, times.success, scope, locked))
        .pipe(
          Effect.mapError((error) => control.failure ?? error),
          Effect.onExit((exit) => (Exit.isSuccess(exit) ? Queue.end(queue) : Queue.failCause(queue, exit.cause)))
        ),
      scope
    )
    yield* Effect.addFinalizer(() => stop(session, state, control, driver, times.success))
    return Stream.fromQueue(queue)
  }))
