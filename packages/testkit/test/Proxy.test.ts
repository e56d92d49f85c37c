import { assert, describe, it } from "@effect/vitest"
import * as Proxy from "@starttls/testkit/Proxy"
import * as Effect from "effect/Effect"
import * as NodeNet from "node:net"

const echoServer = Effect.acquireRelease(
  Effect.callback<NodeNet.Server>((resume) => {
    const server = NodeNet.createServer((socket) => {
      socket.write("hello\r\n")
      socket.on("data", (chunk) => socket.write(chunk))
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) =>
    Effect.callback<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

const talk = (port: number, lines: ReadonlyArray<string>) =>
  Effect.callback<string>((resume) => {
    const socket = NodeNet.connect(port, "127.0.0.1")
    let received = ""
    let i = 0
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1")
      if (received.split("\r\n").length - 1 > i) {
        if (i < lines.length) socket.write(lines[i++] + "\r\n")
        else socket.end()
      }
    })
    socket.on("close", () => resume(Effect.succeed(received)))
  })

describe("Proxy", () => {
  it.live("forwards both ways with the delay, records both streams and counts client turns", () =>
    Effect.gen(function*() {
      const server = yield* echoServer
      const address = server.address()
      const targetPort = typeof address === "object" && address !== null ? address.port : 0
      const proxy = yield* Proxy.start({ targetPort, delayMs: 20 })
      const started = Date.now()
      const received = yield* talk(proxy.port, ["one", "two"])
      const elapsed = Date.now() - started
      assert.strictEqual(received, "hello\r\none\r\ntwo\r\n")
      const session = proxy.sessions[0]!
      assert.strictEqual(Proxy.text(session, "client-to-server"), "one\r\ntwo\r\n")
      assert.strictEqual(Proxy.text(session, "server-to-client"), "hello\r\none\r\ntwo\r\n")
      assert.strictEqual(Proxy.clientTurns(session), 2)
      // greeting (20 ms) + two round trips (2 × 40 ms) at least
      assert.isAtLeast(elapsed, 100)
    }).pipe(Effect.scoped))
})
