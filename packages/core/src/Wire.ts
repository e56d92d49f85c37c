/**
 * A framed, deadline-bounded, traced connection: the transport plus the protocol's framer. It is
 * the only place where bytes become frames, so it is where the STARTTLS rules are enforced:
 *
 * - S3: while the connection is plaintext, received bytes are handed to the framer one line (up to
 *   LF) at a time, so when the STARTTLS success reply comes out of the framer, everything received
 *   after it is still in our hands and is counted exactly. `startTls` refuses to upgrade unless that
 *   count, the framer's own buffer and the frame queue are all empty (`StartTlsInjection`).
 * - S4: the upgrade replaces the framer with a fresh one; no pre-TLS parser state survives.
 * - S9: every wait for a frame has a deadline named by phase.
 * - S12: nothing is written between the STARTTLS command and the end of the handshake (the
 *   connection refuses writes while `upgrading`).
 *
 * Over TLS, whole chunks are handed to the framer (the fast path for big transfers). `exact` brings
 * the line-at-a-time feeding back for one exchange, for commands after whose reply the byte stream
 * changes meaning (IMAP COMPRESS, RFC 4978): when their reply is framed, the bytes after it are
 * still in our hands, so `compress` hands exactly those to the inflater.
 *
 * In-band compression (`compress`): from then on received bytes are inflated (raw DEFLATE, RFC
 * 1951) before framing, in bounded pieces (a decompression bomb meets the framer's limits, never
 * unbounded memory), and every write is deflated and flushed on its own (RFC 4978 §4). The trace
 * shows the plaintext. A compressed connection cannot be upgraded to TLS (TLS goes beneath
 * compression, RFC 4978), and compression cannot be started twice.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as CodecError from "./CodecError.ts"
import { classifyTlsError, ioFailure } from "./DuplexTransport.ts"
import type * as Framer from "./Framer.ts"
import * as Deflate from "./internal/deflate.ts"
import type * as Limits from "./Limits.ts"
import * as MailError from "./MailError.ts"
import type * as Tls from "./Tls.ts"
import type { IoError, TransportConnection } from "./Transport.ts"
import { WireTrace } from "./WireTrace.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Wire<F> {
  readonly protocol: string
  readonly host: string
  readonly port: number
  /** The TLS session, when the connection is encrypted. */
  readonly tls: () => Tls.TlsSession | undefined
  /** The next frame, waiting at most the phase's deadline. */
  readonly next: (phase: MailError.Phase) => Effect.Effect<F, MailError.MailError>
  /**
   * Every frame available now, or, when none is, the frames completed by the next received chunk
   * (at least one). For bulk consumers (FETCH, RETR): one Effect per chunk instead of per frame.
   */
  readonly nextBatch: (phase: MailError.Phase) => Effect.Effect<ReadonlyArray<F>, MailError.MailError>
  /** Writes bytes in one flush. `trace` is the redacted text of what is written (one entry per line). */
  readonly write: (
    chunks: ReadonlyArray<Uint8Array>,
    trace: ReadonlyArray<string>,
    phase?: MailError.Phase
  ) => Effect.Effect<void, MailError.MailError>
  /**
   * Upgrades to TLS after the STARTTLS success reply was taken with `next`. Fails with
   * `StartTlsInjection` if anything was received after that reply, without touching TLS.
   */
  readonly startTls: (params: Tls.TlsParams) => Effect.Effect<Tls.TlsSession, MailError.MailError>
  /**
   * Runs `effect` (typically one exchange) with received bytes handed to the framer one line at a
   * time, as in plaintext, so that when a reply is framed, every byte after it is still unframed.
   * Use it around a command after whose success reply the stream changes (COMPRESS).
   */
  readonly exact: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /**
   * Starts in-band compression (raw DEFLATE both ways, RFC 4978) right after the success reply of
   * the compression command was taken with `next`, inside the same `exact` as that read: the bytes
   * received after that reply are the first compressed bytes. Fails with `ProtocolViolation` (and
   * closes the connection) if a frame or part of one followed the reply uncompressed, or outside
   * `exact`; fails without harm if compression is already on.
   */
  readonly compress: Effect.Effect<void, MailError.MailError>
  /** Whether in-band compression is on. */
  readonly compressed: () => boolean
  /** Bytes received but not yet returned as frames (for diagnostics and tests). */
  readonly pending: () => number
  /** The first bytes ever received (up to 8), to recognise a TLS record where plaintext was expected. */
  readonly firstBytes: () => Uint8Array
  /**
   * Lends received memory until the scope closes: while on, the wire remembers the received chunks
   * it owns (decrypted or inflated by this process, each a whole buffer of its own) so that
   * `recycle` can give their memory back at once instead of at the next garbage collection.
   * Only callers that hand out frames as lent views (valid until the next pull) turn it on.
   */
  readonly lend: Effect.Effect<void, never, Scope.Scope>
  /**
   * Declares every frame returned so far dead: the owned chunks they viewed are released (their
   * buffers detached, so the memory returns now, not when the collector runs), unless the framer
   * still holds a view into one or frames are still queued. A no-op unless `lend` is on.
   */
  readonly recycle: Effect.Effect<void>
  /** Destroys the connection. */
  readonly destroy: Effect.Effect<void>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Options<F> {
  readonly protocol: string
  readonly host: string
  readonly port: number
  readonly timeouts: Limits.Timeouts
  readonly makeFramer: () => Framer.Framer<F>
  /**
   * Runs once when received bytes cannot be framed (malformed, over a limit, a corrupt compressed
   * stream): the connection cannot be read on, whoever reads it. `Connection` closes the session
   * (every handle stale, the socket destroyed). Default: destroy the connection.
   */
  readonly onUndecodable?: ((error: MailError.MailError) => Effect.Effect<void>) | undefined
}

/**
 * The deadline of a phase, in milliseconds.
 *
 * @category getters
 * @since 0.1.0
 */
export const deadlineFor = (timeouts: Limits.Timeouts, phase: MailError.Phase): number => {
  switch (phase) {
    case "connect":
      return timeouts.connect
    case "greeting":
      return timeouts.greeting
    case "handshake":
      return timeouts.handshake
    case "data":
      return timeouts.data
    case "idle":
      return timeouts.idle
    default:
      return timeouts.command
  }
}

/**
 * Maps a codec error to the connection-level reason.
 *
 * @category errors
 * @since 0.1.0
 */
export const decodeFailure = (phase: MailError.Phase, error: CodecError.DecodeError): MailError.MailError =>
  MailError.make(
    error._tag === "LimitExceeded"
      ? new MailError.LimitExceeded({ limit: error.limit, max: error.max, actual: error.actual })
      : new MailError.ProtocolViolation({
        phase,
        detail: `malformed ${error.grammar}: ${error.detail}`,
        preview: error.preview
      })
  )

const traceText = (bytes: Uint8Array): ReadonlyArray<string> => {
  const lines: Array<string> = []
  let start = 0
  while (start < bytes.length && lines.length < 20) {
    let end = bytes.indexOf(0x0a, start)
    if (end < 0) end = bytes.length
    else end += 1
    lines.push(CodecError.preview(bytes.subarray(start, end), 200))
    start = end
  }
  if (start < bytes.length) lines.push(`... ${bytes.length - start} more bytes`)
  return lines
}

const violation = (phase: MailError.Phase, detail: string, preview?: string) =>
  MailError.make(
    new MailError.ProtocolViolation(preview === undefined ? { phase, detail } : { phase, detail, preview })
  )

/**
 * Runs `f` on the lent chunks of `pull` (a `Wire.lend` consumer's batches, the reads that arrived
 * together) until the pull ends with `Cause.Done`: one `f` per batch, not per read. A batch of one
 * chunk goes as it is (released by the wire's next `recycle`); several are merged into one buffer
 * of their own, released right after `f` — a copy, which saves an effect per read, and a chunk
 * kept by mistake reads as empty either way.
 *
 * @category lent memory
 * @since 0.1.0
 */
export const forEachLent = <E, E2, R>(
  pull: Effect.Effect<readonly [Uint8Array, ...Array<Uint8Array>], E | Cause.Done>,
  f: (chunk: Uint8Array) => Effect.Effect<void, E2, R>
): Effect.Effect<void, E | E2, R> => {
  let merged: Uint8Array | undefined
  const next: Effect.Effect<void, E | E2, R> = Effect.suspend(() => {
    if (merged !== undefined) {
      release(merged.buffer)
      merged = undefined
    }
    return loop
  })
  const each = (chunks: readonly [Uint8Array, ...Array<Uint8Array>]): Effect.Effect<void, E | E2, R> => {
    if (chunks.length === 1) return Effect.andThen(f(chunks[0]), loop)
    // a new buffer, never a pooled slab: it is released whole
    merged = concatAll(NOTHING, chunks)
    return Effect.andThen(f(merged), next)
  }
  const loop: Effect.Effect<void, E | E2, R> = Effect.matchEffect(pull, {
    onFailure: (error) => (Cause.isDone(error) ? Effect.void : Effect.fail(error as E)),
    onSuccess: each
  })
  return loop
}

const NOTHING = new Uint8Array(0)

interface Transferable {
  readonly detached?: boolean
  readonly transfer?: (length?: number) => ArrayBuffer
}

/**
 * Gives a buffer's memory back now instead of at a garbage collection: ES2024
 * `ArrayBuffer.prototype.transfer(0)` detaches it (every view of it then reads as empty). Only for a
 * buffer this process allocated whole. One that cannot be detached (e.g. pinned by the runtime) is
 * left to the collector.
 *
 * @category lent memory
 * @since 0.1.0
 */
export const release = (buffer: ArrayBufferLike): void => {
  // (ES2024 lib typings are not in our target; the method is checked for at run time.)
  const transferable = buffer as unknown as Transferable
  if (transferable.detached === true || transferable.transfer === undefined) return
  try {
    transferable.transfer(0)
  } catch {
    // not detachable: the collector frees it
  }
}

/**
 * Builds a wire over a transport connection.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <F>(connection: TransportConnection, options: Options<F>): Effect.Effect<Wire<F>> =>
  WireTrace.useSync((tracing) => {
    let framer = options.makeFramer()
    let queue: Array<F> = []
    let head = 0
    // Careful mode (plaintext, or inside `exact`): received bytes (inflated, once compressed) not
    // yet handed to the framer (S3 bookkeeping, and the compression boundary).
    let held: Uint8Array = new Uint8Array(0)
    let plaintext = connection.tls() === undefined
    let exactDepth = 0
    let upgrading = false
    let broken: MailError.MailError | undefined
    let first: Uint8Array = new Uint8Array(0)
    let inflater: Deflate.Inflater | undefined
    let deflater: Deflate.Deflater | undefined
    // `lend`: owned chunks given to the framer since the last `recycle`.
    let lending = 0
    let lent: Array<Uint8Array> = []
    // Compressed writes share the deflater's dictionary: one at a time, in order.
    const writeLock = Semaphore.makeUnsafe(1)
    const careful = () => plaintext || exactDepth > 0

    const annotate = Effect.annotateLogs({ protocol: options.protocol, host: options.host })
    const traceIn = (chunk: Uint8Array) =>
      tracing
        ? Effect.forEach(traceText(chunk), (line) => Effect.logDebug(`S: ${line}`), { discard: true }).pipe(annotate)
        : Effect.void

    // A TLS alert after the handshake (e.g. TLS 1.3 "certificate required") surfaces on a read.
    const readFailure = (phase: MailError.Phase) => (error: IoError): MailError.MailError =>
      error.code !== undefined && error.code.startsWith("ERR_SSL_")
        ? MailError.make(
          new MailError.TlsFailure({
            kind: classifyTlsError(error.cause),
            code: error.code,
            host: options.host,
            cause: error.cause
          })
        )
        : ioFailure(phase)(error)

    const closeEngines = () => {
      inflater?.close()
      deflater?.close()
    }

    // A broken wire is never read or written again: zlib's memory goes at once.
    const breakWith = (error: MailError.MailError) => {
      broken ??= error
      closeEngines()
    }

    const fail = (error: MailError.MailError) => {
      broken = error
      closeEngines()
      return Effect.fail(error)
    }

    // A decode failure breaks the wire for good; `onUndecodable` runs with the read that reports it.
    let undecodable: MailError.MailError | undefined
    const breakOnInput = (error: MailError.MailError) => {
      breakWith(error)
      undecodable = error
    }
    const failing = (error: MailError.MailError): Effect.Effect<never, MailError.MailError> => {
      const pending = undecodable
      if (pending === undefined) return Effect.fail(error)
      undecodable = undefined
      return Effect.andThen(options.onUndecodable?.(pending) ?? connection.destroy, Effect.fail(error))
    }
    const failInput = (error: MailError.MailError) => {
      breakOnInput(error)
      return failing(error)
    }

    // Frames `bytes` into the queue: appended by the framer itself when it offers `pushInto` (no
    // array or result per chunk). A chunk that fails returns none of its frames, only the error.
    const frame = (bytes: Uint8Array): CodecError.DecodeError | undefined => {
      if (head === queue.length && queue.length > 0) {
        queue = []
        head = 0
      }
      const pushInto = framer.pushInto
      if (pushInto !== undefined) {
        const before = queue.length
        const error = pushInto(bytes, queue)
        if (error !== undefined) queue.length = before
        return error
      }
      const result = framer.push(bytes)
      if (Result.isFailure(result)) return result.failure
      const frames = result.success
      for (let i = 0; i < frames.length; i++) queue.push(frames[i]!)
      return undefined
    }

    // Hands held plaintext to the framer up to and including the next LF; stops at the first frame.
    const feedHeld = (phase: MailError.Phase): MailError.MailError | undefined => {
      while (held.length > 0 && head === queue.length) {
        const lf = held.indexOf(0x0a)
        const end = lf < 0 ? held.length : lf + 1
        const segment = held.subarray(0, end)
        held = held.subarray(end)
        const error = frame(segment)
        if (error !== undefined) return decodeFailure(phase, error)
      }
      return undefined
    }

    // Received (and inflated) bytes: held while careful, else straight to the framer.
    const ingest = (bytes: Uint8Array, phase: MailError.Phase): MailError.MailError | undefined => {
      if (careful()) {
        held = held.length === 0 ? bytes : concat(held, bytes)
        return undefined
      }
      const error = frame(bytes)
      if (error !== undefined) return decodeFailure(phase, error)
      if (lending > 0 && owned(bytes)) lent.push(bytes)
      return undefined
    }

    // A chunk this process made (TLS decryption or inflation allocate one buffer per chunk): only
    // those may be released; plaintext chunks can be the peer's own buffers (in-memory transports).
    const owned = (bytes: Uint8Array): boolean =>
      (connection.tls() !== undefined || inflater !== undefined) && bytes.byteOffset === 0 &&
      bytes.buffer instanceof ArrayBuffer && bytes.byteLength === bytes.buffer.byteLength

    const recycle = Effect.sync(() => {
      if (lent.length === 0 || head < queue.length) return
      const retains = framer.retains
      if (retains === undefined) {
        lent = []
        return
      }
      // kept in place: no array per call
      let kept = 0
      for (let i = 0; i < lent.length; i++) {
        const chunk = lent[i]!
        if (retains(chunk.buffer)) lent[kept++] = chunk
        else release(chunk.buffer)
      }
      lent.length = kept
    })

    const lend = Effect.acquireRelease(
      Effect.sync(() => {
        lending++
      }),
      () =>
        Effect.andThen(
          recycle,
          Effect.sync(() => {
            if (--lending === 0) lent = []
          })
        )
    )

    const markBroken = <A>(effect: Effect.Effect<A, MailError.MailError>) =>
      Effect.tapError(effect, (error) => Effect.sync(() => breakWith(error)))

    const deadline = (phase: MailError.Phase) => {
      const millis = deadlineFor(options.timeouts, phase)
      return Effect.timeoutOrElse({
        duration: millis,
        orElse: () => Effect.fail(MailError.make(new MailError.Timeout({ phase, millis })))
      })
    }

    // The deadline of each wait for bytes (S9). A timeout Effect per pull costs two fibers per
    // received chunk, which dominated bulk transfers (one chunk per message); instead one real-time
    // watchdog timer per wire checks the wait in progress, and on expiry destroys the connection, so
    // the pending pull fails and is reported as the Timeout of its phase. A timed-out wire is broken
    // anyway (the reply it waited for may still come).
    let waiting: { readonly phase: MailError.Phase; readonly millis: number; since: number } | undefined
    let expired: MailError.MailError | undefined
    let watchdog: ReturnType<typeof setTimeout> | undefined
    let watchdogAt = 0
    const watch = (delay: number) => {
      watchdogAt = performance.now() + delay
      watchdog = setTimeout(() => {
        watchdog = undefined
        if (waiting === undefined) return
        const left = waiting.millis - (performance.now() - waiting.since)
        if (left > 0) return watch(left)
        expired = MailError.make(new MailError.Timeout({ phase: waiting.phase, millis: waiting.millis }))
        Effect.runFork(connection.destroy)
      }, delay)
      // The socket keeps the process alive while a wait is pending; the watchdog never does.
      watchdog.unref()
    }

    // Bulk reads run `pull` / `receive` / `nextBatch` once per received chunk: their Effects are
    // built once per phase (they are descriptions; the state they use is read when they run), so
    // a read allocates no new closures or Effect nodes of ours.
    const perPhase = <A>(make: (phase: MailError.Phase) => A): (phase: MailError.Phase) => A => {
      const cache = new Map<MailError.Phase, A>()
      return (phase) => {
        let value = cache.get(phase)
        if (value === undefined) {
          value = make(phase)
          cache.set(phase, value)
        }
        return value
      }
    }

    const notWaiting = Effect.sync(() => {
      waiting = undefined
    })
    const noteFirst = (chunks: ReadonlyArray<Uint8Array>) => {
      if (first.length < 8 && chunks.length > 0) first = concat(first, chunks[0]!.subarray(0, 8 - first.length))
      return chunks
    }

    const pull = perPhase((phase): Effect.Effect<ReadonlyArray<Uint8Array>, MailError.MailError> => {
      const millis = deadlineFor(options.timeouts, phase)
      const failure = readFailure(phase)
      const slot = { phase, millis, since: 0 }
      // A read that fails breaks the wire (the reason of the first failure is kept).
      const read = connection.pull.pipe(
        Effect.mapBoth({
          onFailure: (error) => {
            const reason = expired ?? failure(error)
            breakWith(reason)
            return reason
          },
          onSuccess: noteFirst
        }),
        Effect.onExit(() => notWaiting)
      )
      return Effect.suspend(() => {
        if (expired !== undefined) return Effect.fail(expired)
        const since = performance.now()
        slot.since = since
        waiting = slot
        if (watchdog !== undefined && watchdogAt > since + millis) {
          // a shorter deadline than the one the pending timer was set for
          clearTimeout(watchdog)
          watchdog = undefined
        }
        if (watchdog === undefined) watch(millis)
        return read
      })
    })

    const receivePlain = perPhase((phase): Effect.Effect<void, MailError.MailError> =>
      Effect.flatMap(pull(phase), (chunks) => {
        if (careful()) {
          // One copy per pull (appending chunk by chunk would copy `held` again for every chunk).
          held = concatAll(held, chunks)
          const error = feedHeld(phase)
          if (error !== undefined) return failInput(error)
        } else {
          for (let i = 0; i < chunks.length; i++) {
            const error = ingest(chunks[i]!, phase)
            if (error !== undefined) return failInput(error)
          }
        }
        return tracing ? Effect.forEach(chunks, traceIn, { discard: true }) : Effect.void
      }))

    // One piece of inflated output to the framer, pulling compressed bytes when the inflater is dry.
    // Only real waits (the network, zlib's thread) get a deadline; output at hand is taken at once.
    const receiveCompressed = (
      phase: MailError.Phase,
      engine: Deflate.Inflater
    ): Effect.Effect<void, MailError.MailError> =>
      Effect.suspend(() => {
        const next = engine.poll()
        switch (next._tag) {
          case "Output": {
            const error = ingest(next.bytes, phase) ?? (careful() ? feedHeld(phase) : undefined)
            if (error !== undefined) return failInput(error)
            return traceIn(next.bytes)
          }
          case "NeedInput":
            return Effect.flatMap(pull(phase), (chunks) => {
              for (let i = 0; i < chunks.length; i++) engine.write(chunks[i]!)
              return receiveCompressed(phase, engine)
            })
          case "Busy":
            return Effect.andThen(deadline(phase)(engine.settle), receiveCompressed(phase, engine))
          case "Failed":
            return failInput(decodeFailure(phase, next.error))
        }
      })

    // (A plain receive breaks the wire itself: a failed read in `pull`, undecodable bytes in `failInput`.)
    const receive = (phase: MailError.Phase): Effect.Effect<void, MailError.MailError> =>
      inflater === undefined ? receivePlain(phase) : markBroken(receiveCompressed(phase, inflater))

    const guard = (): MailError.MailError | undefined => {
      if (broken !== undefined) return broken
      if (upgrading) {
        return MailError.make(
          new MailError.ProtocolViolation({ phase: "handshake", detail: "the connection is switching to TLS" })
        )
      }
      return undefined
    }

    // Fails when the wire cannot be read; otherwise makes held plaintext into frames if none is queued.
    const prepare = (phase: MailError.Phase): Effect.Effect<never, MailError.MailError> | undefined => {
      const error = guard()
      if (error !== undefined) return failing(error)
      if (careful() && head === queue.length) {
        const feedError = feedHeld(phase)
        if (feedError !== undefined) return failInput(feedError)
      }
      return undefined
    }

    const nextBatch = perPhase((phase): Effect.Effect<ReadonlyArray<F>, MailError.MailError> => {
      const againPlain = Effect.flatMap(receivePlain(phase), () => batch)
      const againCompressed = Effect.suspend(() => Effect.flatMap(receive(phase), () => batch))
      const batch: Effect.Effect<ReadonlyArray<F>, MailError.MailError> = Effect.suspend(() => {
        const failed = prepare(phase)
        if (failed !== undefined) return failed
        if (head < queue.length) {
          const frames = head === 0 ? queue : queue.slice(head)
          queue = []
          head = 0
          return Effect.succeed(frames)
        }
        return inflater === undefined ? againPlain : againCompressed
      })
      return batch
    })

    const next = (phase: MailError.Phase): Effect.Effect<F, MailError.MailError> =>
      Effect.suspend(() => {
        const failed = prepare(phase)
        if (failed !== undefined) return failed
        if (head < queue.length) {
          const frame = queue[head++]!
          if (head === queue.length) {
            queue = []
            head = 0
          }
          return Effect.succeed(frame)
        }
        return Effect.flatMap(receive(phase), () => next(phase))
      })

    const write = (chunks: ReadonlyArray<Uint8Array>, trace: ReadonlyArray<string>, phase: MailError.Phase = "command") =>
      Effect.suspend(() => {
        const error = guard()
        if (error !== undefined) return Effect.fail(error)
        const traced = tracing
          ? Effect.forEach(trace, (line) => Effect.logDebug(`C: ${line}`), { discard: true }).pipe(annotate)
          : Effect.void
        const engine = deflater
        if (engine === undefined) {
          return Effect.andThen(traced, markBroken(Effect.mapError(connection.write(chunks), ioFailure(phase))))
        }
        const send = engine.deflate(chunks).pipe(
          Effect.mapError((error) =>
            MailError.make(new MailError.TransportFailure({ phase, operation: "write", code: "ERR_DEFLATE", cause: error }))
          ),
          Effect.flatMap((bytes) =>
            bytes.length === 0 ? Effect.void : Effect.mapError(connection.write([bytes]), ioFailure(phase))
          ),
          // The dictionary now holds bytes the peer may never see: the stream cannot go on.
          Effect.onInterrupt(() =>
            Effect.sync(() => breakWith(violation(phase, "a compressed write was interrupted; the stream is unusable")))
          )
        )
        return Effect.andThen(traced, markBroken(writeLock.withPermits(1)(send)))
      })

    const pending = () => held.length + framer.buffered()

    // What the framer holds beyond the reply just taken: queued frames and a partial frame. A STARTTLS
    // or COMPRESS success reply must be the last thing framed before the byte stream changes meaning.
    const framedLeftover = (): { readonly queued: number; readonly partial: Uint8Array } | undefined => {
      const queued = queue.length - head
      const partial = framer.buffered() > 0 ? framer.pendingPreview() : new Uint8Array(0)
      return queued > 0 || partial.length > 0 ? { queued, partial } : undefined
    }

    const startTls = (params: Tls.TlsParams) =>
      Effect.suspend(() => {
        const error = guard()
        if (error !== undefined) return Effect.fail(error)
        if (inflater !== undefined) {
          return Effect.fail(violation("starttls", "TLS cannot start on a compressed connection (TLS goes beneath compression)"))
        }
        const left = framedLeftover()
        if (left !== undefined || held.length > 0) {
          const previewBytes = left === undefined ? held : concat(left.partial, held)
          return Effect.andThen(
            connection.destroy,
            fail(MailError.make(
              new MailError.StartTlsInjection({
                pendingBytes: pending(),
                preview: CodecError.preview(previewBytes) || `${left?.queued ?? 0} queued reply(ies)`
              })
            ))
          )
        }
        upgrading = true
        return connection.upgrade(params).pipe(
          Effect.tap(() =>
            Effect.sync(() => {
              // S4: nothing parsed before TLS survives.
              framer = options.makeFramer()
              queue = []
              head = 0
              held = new Uint8Array(0)
              plaintext = false
              upgrading = false
            })
          ),
          Effect.tapError((e) =>
            Effect.andThen(
              connection.destroy,
              Effect.sync(() => {
                broken = e
                upgrading = false
              })
            )
          )
        )
      })

    const exact = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.suspend(() => {
        exactDepth += 1
        return Effect.ensuring(
          effect,
          Effect.sync(() => {
            exactDepth -= 1
            // Back to whole chunks: whatever is still held goes to the framer at once.
            if (careful() || held.length === 0 || broken !== undefined) return
            const rest = held
            held = new Uint8Array(0)
            const error = frame(rest)
            if (error !== undefined) breakOnInput(decodeFailure("command", error))
          })
        )
      })

    const refuse = (detail: string, preview?: string) =>
      Effect.andThen(connection.destroy, fail(violation("command", detail, preview)))

    const compress: Effect.Effect<void, MailError.MailError> = Effect.suspend(() => {
      const error = guard()
      if (error !== undefined) return Effect.fail(error)
      if (inflater !== undefined) return Effect.fail(violation("command", "compression is already active"))
      // Outside careful mode whole chunks went to the framer: the boundary after the reply is lost.
      if (!careful()) return refuse("compression must start inside Wire.exact (the byte boundary is lost)")
      const left = framedLeftover()
      if (left !== undefined) {
        // RFC 4978 §3: everything after the success reply is compressed; a frame here was not.
        const preview = left.partial.length > 0 ? CodecError.preview(left.partial) : `${left.queued} frame(s)`
        return refuse("uncompressed data followed the compression reply", preview)
      }
      const engine = Deflate.makeInflater()
      inflater = engine
      deflater = Deflate.makeDeflater()
      const rest = held
      held = new Uint8Array(0)
      engine.write(rest)
      return Effect.void
    })

    const wire: Wire<F> = {
      protocol: options.protocol,
      host: options.host,
      port: options.port,
      tls: connection.tls,
      next,
      nextBatch,
      write,
      startTls,
      exact,
      compress,
      compressed: () => inflater !== undefined,
      pending,
      lend,
      recycle,
      firstBytes: () => first,
      destroy: Effect.andThen(
        Effect.sync(() => {
          closeEngines()
          if (watchdog !== undefined) clearTimeout(watchdog)
          watchdog = undefined
        }),
        connection.destroy
      )
    }
    return wire
  })

const concat = (a: Uint8Array, b: Uint8Array): Uint8Array => {
  const out = new Uint8Array(a.length + b.length)
  out.set(a, 0)
  out.set(b, a.length)
  return out
}

const concatAll = (head: Uint8Array, chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (head.length === 0 && chunks.length === 1) return chunks[0]!
  // (indexed loops: an iterator per call is garbage on every bulk read)
  let length = head.length
  for (let i = 0; i < chunks.length; i++) length += chunks[i]!.length
  const out = new Uint8Array(length)
  out.set(head, 0)
  let at = head.length
  for (let i = 0; i < chunks.length; i++) {
    out.set(chunks[i]!, at)
    at += chunks[i]!.length
  }
  return out
}
