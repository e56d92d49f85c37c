/**
 * One network hop in front of the server: client bytes reach the server a macrotask after the
 * client wrote them (in order, chunk boundaries kept), server bytes go out at once.
 *
 * Why: over an in-memory `duplexPair()` everything is synchronous. A client that reacts to the
 * STARTTLS `220` inside the server's write can get its ClientHello to the server before the server
 * has switched to TLS, and a whole TLS handshake can run inside the client's `tls.connect()` call,
 * which then emits "secure" before it listens for it (its "secureConnect" never comes). A real
 * network never does either; neither does this hop.
 *
 * @internal
 */
import { type Duplex, duplexPair } from "node:stream"

export const make = (raw: Duplex): Duplex => {
  const [near, far] = duplexPair()
  const ignore = () => undefined
  near.on("error", ignore)
  far.on("error", ignore)
  raw.on("error", ignore)
  const later = (action: () => void) => setImmediate(action)
  raw.on("data", (chunk: Buffer) => later(() => far.destroyed || far.writableEnded ? undefined : far.write(chunk)))
  raw.on("end", () => later(() => far.end()))
  raw.on("close", () => later(() => far.destroy()))
  far.on("data", (chunk: Buffer) => {
    if (!raw.destroyed && !raw.writableEnded) raw.write(chunk)
  })
  // The server ended its side: end ours (FIN). The server destroyed its side without ending it
  // (a dropped connection): destroy ours.
  far.on("end", () => {
    if (!raw.destroyed) raw.end()
  })
  near.on("close", () => {
    if (!raw.writableEnded) raw.destroy()
  })
  return near
}
