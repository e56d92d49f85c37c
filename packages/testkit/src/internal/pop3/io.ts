/**
 * Effect wrappers over a `Wire` for the fake POP3 server: waiting for wire events, writing with
 * backpressure, and writing a multi-line reply in bounded chunks with optional split and stop
 * points (fault injection).
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Wire from "../wire.ts"

/** Waits until `check` returns a value; re-checked after every change on the wire. */
export const waitFor = Wire.waitFor

/**
 * Writes one chunk and waits until the stream took it (its callback), or until the client is gone
 * (an in-memory pair whose other end was destroyed never calls back).
 */
export const write = (wire: Wire.Wire, bytes: Uint8Array, afterWrite?: () => void): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    let done = false
    const finish = () => {
      if (done) return
      done = true
      unsubscribe()
      resume(Effect.void)
    }
    const unsubscribe = wire.subscribe(() => {
      if (wire.clientClosed()) finish()
    })
    wire.write(bytes, finish, afterWrite)
    return Effect.sync(unsubscribe)
  })

/** A macrotask, or `millis` of the effect clock: room for the peer to read a write on its own. */
export const pause = (millis: number): Effect.Effect<void> =>
  millis > 0
    ? Effect.sleep(Duration.millis(millis))
    : Effect.callback<void>((resume) => {
      const handle = setImmediate(() => resume(Effect.void))
      return Effect.sync(() => clearImmediate(handle))
    })

export interface Marks {
  /** Absolute offset where the reply is split into two writes with a pause between them. */
  readonly splitAt?: number | undefined
  readonly pauseMs?: number | undefined
  /** Absolute offset after which nothing more is written (the caller then drops the connection). */
  readonly stopAt?: number | undefined
}

/**
 * Writes `pieces` in chunks of at most `chunkSize` bytes (small pieces are joined, big ones sliced
 * as views), each write waiting for the previous one. Returns whether everything was written
 * (false when it stopped at `marks.stopAt`).
 */
export const emit = Effect.fnUntraced(function*(
  wire: Wire.Wire,
  pieces: ReadonlyArray<Uint8Array>,
  chunkSize: number,
  marks: Marks
) {
  const boundaries = [marks.splitAt, marks.stopAt].filter((b): b is number => b !== undefined && b > 0)
  let sent = 0
  let parts: Array<Uint8Array> = []
  let size = 0
  for (const piece of pieces) {
    let rest = piece
    while (rest.length > 0) {
      const at = sent + size
      const boundary = boundaries.reduce((next, b) => (b > at && b < next ? b : next), Infinity)
      const take = Math.min(rest.length, chunkSize - size, boundary - at)
      parts.push(rest.subarray(0, take))
      size += take
      rest = rest.subarray(take)
      if (size < chunkSize && sent + size !== boundary) continue
      yield* write(wire, parts.length === 1 ? parts[0]! : Buffer.concat(parts, size))
      sent += size
      parts = []
      size = 0
      if (sent === marks.stopAt) return false
      if (sent === marks.splitAt) yield* pause(marks.pauseMs ?? 0)
    }
  }
  if (size > 0) yield* write(wire, parts.length === 1 ? parts[0]! : Buffer.concat(parts, size))
  return marks.stopAt === undefined
})
