/**
 * A loopback TCP proxy for tests and benchmarks: it forwards 127.0.0.1:<its port> to a target port on
 * 127.0.0.1, optionally delaying every chunk in each direction (one round trip then costs
 * `2 × delayMs`), and records both byte streams with timestamps. Used to count round trips from TCP
 * connect to authenticated, and to prove that nothing credential-bearing crossed in cleartext.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as NodeNet from "node:net"
import { performance } from "node:perf_hooks"

/**
 * One chunk seen by the proxy.
 *
 * @category models
 * @since 0.1.0
 */
export interface ProxyEvent {
  /** Milliseconds since the client connected. */
  readonly at: number
  readonly direction: "client-to-server" | "server-to-client"
  readonly bytes: Uint8Array
}

/**
 * One proxied connection.
 *
 * @category models
 * @since 0.1.0
 */
export interface ProxySession {
  readonly events: Array<ProxyEvent>
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Proxy {
  readonly port: number
  readonly sessions: ReadonlyArray<ProxySession>
}

/**
 * Everything one direction carried, as latin1 text.
 *
 * @category getters
 * @since 0.1.0
 */
export const text = (session: ProxySession, direction: ProxyEvent["direction"]): string =>
  session.events
    .filter((e) => e.direction === direction)
    .map((e) => Buffer.from(e.bytes).toString("latin1"))
    .join("")

/**
 * Client "turns" up to `untilMs`: a client chunk that follows a server chunk (or comes first) starts a
 * new turn. With a delay proxy, round trips = turns (the greeting counts half).
 *
 * @category getters
 * @since 0.1.0
 */
export const clientTurns = (session: ProxySession, untilMs = Infinity): number => {
  let turns = 0
  let last: ProxyEvent["direction"] | undefined
  for (const event of session.events) {
    if (event.at > untilMs) break
    if (event.direction === "client-to-server" && last !== "client-to-server") turns++
    last = event.direction
  }
  return turns
}

/**
 * Starts a proxy to `127.0.0.1:targetPort`, closed with the scope.
 *
 * @category constructors
 * @since 0.1.0
 */
export const start = (options: { readonly targetPort: number; readonly delayMs?: number }) =>
  Effect.acquireRelease(
    Effect.callback<{
      readonly server: NodeNet.Server
      readonly sockets: Set<NodeNet.Socket>
      readonly proxy: Proxy
    }>((resume) => {
      const sessions: Array<ProxySession> = []
      const delay = options.delayMs ?? 0
      const sockets = new Set<NodeNet.Socket>()
      const server = NodeNet.createServer((client) => {
        const t0 = performance.now()
        const session: ProxySession = { events: [] }
        sessions.push(session)
        const upstream = NodeNet.connect(options.targetPort, "127.0.0.1")
        for (const s of [client, upstream]) {
          sockets.add(s)
          s.setNoDelay(true)
          s.on("close", () => sockets.delete(s))
        }
        const pipe = (from: NodeNet.Socket, to: NodeNet.Socket, direction: ProxyEvent["direction"]) => {
          from.on("data", (chunk: Buffer) => {
            session.events.push({ at: performance.now() - t0, direction, bytes: new Uint8Array(chunk) })
            if (delay > 0) {
              setTimeout(() => {
                if (!to.destroyed) to.write(chunk)
              }, delay)
            } else if (!to.destroyed) {
              to.write(chunk)
            }
          })
          from.on("end", () => setTimeout(() => to.end(), delay))
          from.on("error", () => to.destroy())
          from.on("close", () => setTimeout(() => to.destroy(), delay + 5))
        }
        pipe(client, upstream, "client-to-server")
        pipe(upstream, client, "server-to-client")
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        resume(Effect.succeed({ server, sockets, proxy: { port, sessions } }))
      })
    }),
    ({ server, sockets }) =>
      Effect.callback<void>((resume) => {
        for (const s of sockets) s.destroy()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ proxy }) => proxy))
