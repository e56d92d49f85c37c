/**
 * How `DuplexTransport` hands decrypted reads to its puller over TLS (a real TLS session over
 * loopback TCP): the reads that arrive together come in one pull (delivery waits for the
 * end of the event-loop turn instead of waking the puller per record), a pull takes at most 16
 * chunks (the socket is paused meanwhile: what is held stays bounded), reads that came with no
 * pull waiting are taken by the next one, and the close is reported after every byte. (A lone
 * read still goes at once: latency is covered by the client suites' timings, not asserted here.)
 */
import { assert, describe, it } from "@effect/vitest"
import * as DuplexTransport from "@starttls/core/DuplexTransport"
import type { TransportConnection } from "@starttls/core/Transport"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Net from "node:net"
import * as NodeTls from "node:tls"
import { certs } from "./LineServer.ts"

/**
 * A TLS client connection over loopback TCP (TLS over a real socket decrypts one record per read,
 * as against a real server); the server's TLS socket on the other end.
 */
const securePair = Effect.gen(function*() {
  const listener = yield* Effect.acquireRelease(
    Effect.callback<Net.Server>((resume) => {
      const server = Net.createServer()
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.sync(() => server.close())
  )
  const port = (listener.address() as Net.AddressInfo).port
  const accepted = Effect.callback<Net.Socket>((resume) => {
    listener.once("connection", (socket) => resume(Effect.succeed(socket)))
  })
  const [raw, serverEnd] = yield* Effect.all([
    Effect.callback<Net.Socket>((resume) => {
      const socket = Net.connect(port, "127.0.0.1", () => resume(Effect.succeed(socket)))
    }),
    accepted
  ], { concurrency: 2 })
  yield* Effect.addFinalizer(() => Effect.sync(() => {
    raw.destroy()
    serverEnd.destroy()
  }))
  const server = new NodeTls.TLSSocket(serverEnd, { isServer: true, cert: certs.localhost.cert, key: certs.localhost.key })
  yield* Effect.addFinalizer(() => Effect.sync(() => server.destroy()))
  const connection = yield* DuplexTransport.make(raw)
  // implicit TLS: nothing reads the socket in plaintext before OpenSSL takes it
  const plaintextListeners = raw.listenerCount("readable") + raw.listenerCount("data")
  yield* connection.upgrade({ host: "localhost", trustOnly: [certs.ca] })
  return { connection, server, plaintextListeners }
})

/** Pulls until `total` bytes came; returns the size of every pull. */
const pullBytes = (connection: TransportConnection, total: number) =>
  Effect.gen(function*() {
    const pulls: Array<number> = []
    let bytes = 0
    while (bytes < total) {
      const chunks = yield* connection.pull
      pulls.push(chunks.length)
      for (const chunk of chunks) bytes += chunk.length
    }
    return { pulls, bytes }
  })

/**
 * `count` × `size` bytes in one write: TLS cuts it into records of at most 16 KiB, which the
 * client decrypts one read each.
 */
const burst = (server: NodeTls.TLSSocket, count: number, size: number) => {
  server.write(Buffer.concat(Array.from({ length: count }, (_, i) => Buffer.alloc(size, 0x61 + (i % 26)))))
}

describe("DuplexTransport over TLS", () => {
  it.live("a connection upgraded before any read or write never had a plaintext reader on its socket", () =>
    Effect.gen(function*() {
      const { connection, plaintextListeners, server } = yield* securePair
      assert.strictEqual(plaintextListeners, 0)
      server.write("ready\r\n")
      const chunks = yield* connection.pull
      assert.strictEqual(Buffer.concat(chunks).toString("latin1"), "ready\r\n")
    }).pipe(Effect.scoped))


  it.live("reads that arrive together come in one pull, not one pull per record", () =>
    Effect.gen(function*() {
      const { connection, server } = yield* securePair
      const waiting = Effect.runFork(pullBytes(connection, 8 * 16384))
      yield* Effect.sleep("20 millis") // the pull waits first
      burst(server, 8, 16384)
      const exit = yield* Effect.promise(() => new Promise<Exit.Exit<{ pulls: Array<number>; bytes: number }, unknown>>(
        (resolve) => waiting.addObserver(resolve)
      ))
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isSuccess(exit)) {
        assert.strictEqual(exit.value.bytes, 8 * 16384)
        // eight records, fewer pulls: the first read of a turn goes alone, the others of it together
        assert.isBelow(exit.value.pulls.length, 8)
        assert.isAbove(Math.max(...exit.value.pulls), 1)
      }
    }).pipe(Effect.scoped))

  it.live("a pull takes at most 16 chunks; the rest waits for the next pull, in order", () =>
    Effect.gen(function*() {
      const { connection, server } = yield* securePair
      // 40 records sent while nobody pulls
      for (let i = 0; i < 40; i++) server.write(Buffer.from(`${String(i).padStart(4, "0")}|`))
      yield* Effect.sleep("50 millis")
      const got: Array<string> = []
      const pulls: Array<number> = []
      while (got.join("").length < 40 * 5) {
        const chunks = yield* connection.pull
        pulls.push(chunks.length)
        for (const chunk of chunks) got.push(Buffer.from(chunk).toString("latin1"))
      }
      assert.isTrue(pulls.every((n) => n <= 16))
      assert.strictEqual(got.join(""), Array.from({ length: 40 }, (_, i) => `${String(i).padStart(4, "0")}|`).join(""))
    }).pipe(Effect.scoped))

  it.live("the close comes after every byte that preceded it", () =>
    Effect.gen(function*() {
      const { connection, server } = yield* securePair
      burst(server, 5, 300)
      server.end()
      const { bytes } = yield* pullBytes(connection, 1500)
      assert.strictEqual(bytes, 1500)
      const after = yield* Effect.exit(connection.pull)
      assert.isTrue(Exit.isFailure(after))
    }).pipe(Effect.scoped))
})
