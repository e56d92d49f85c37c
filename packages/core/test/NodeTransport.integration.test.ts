/**
 * NodeTransport against real Dovecot (started by .ci/run with ../shared/mail-servers/real-servers.sh).
 * A minimal IMAP dialect lives here so that core is tested on a real server without the imap package.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Connection from "@starttls/core/Connection"
import * as Dialect from "@starttls/core/Dialect"
import * as MailError from "@starttls/core/MailError"
import * as NodeTransport from "@starttls/core/NodeTransport"
import { Transport } from "@starttls/core/Transport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { readFileSync } from "node:fs"
import { reasonOf } from "../../testkit/src/Failures.ts"
import * as LineDialect from "./LineDialect.ts"

const env = process.env
const host = env["MAILTEST_HOST"] ?? "127.0.0.1"
const ca = env["MAILTEST_CA"] === undefined ? "" : readFileSync(env["MAILTEST_CA"], "utf8")
const imapPort = Number(env["MAILTEST_IMAP_PORT"])
const imapsPort = Number(env["MAILTEST_IMAPS_PORT"])

type Caps = ReadonlyArray<string>
const encoder = new TextEncoder()
const line = (text: string): Dialect.Outgoing => ({ bytes: [encoder.encode(text + "\r\n")], trace: [text] })

/** Just enough IMAP for the test: tagged commands, untagged CAPABILITY, greeting code. */
const miniImap: Dialect.Dialect<string, Caps> = {
  name: "IMAP",
  implicitTlsPorts: [993, imapsPort],
  capabilitiesBeforeStartTls: false,
  makeFramer: LineDialect.makeFramer,
  session: () => {
    let tag = 0
    const tagged = <A>(command: string, phase: MailError.Phase, onUntagged: (line: string) => void, result: () => A) => {
      const t = `a${++tag}`
      return {
        ...line(`${t} ${command}`),
        phase,
        onFrame: (frame: string): Dialect.Step<A> => {
          if (frame.startsWith("* ")) {
            onUntagged(frame)
            return Dialect.Continue
          }
          if (frame.startsWith(`${t} OK`)) return Dialect.done(result())
          if (frame.startsWith(`${t} `)) {
            return Dialect.fail(
              command === "STARTTLS"
                ? new MailError.StartTlsRejected({ protocol: "IMAP", retryable: false, untrustedReply: frame })
                : new MailError.ProtocolViolation({ phase, detail: `${command} failed`, preview: frame })
            )
          }
          return Dialect.fail(new MailError.ProtocolViolation({ phase, detail: "unexpected line", preview: frame }))
        }
      }
    }
    return {
      greeting: (frame) => {
        const match = /^\* OK \[CAPABILITY ([^\]]*)\]/.exec(frame)
        if (frame.startsWith("* OK")) return Dialect.done({ _tag: "Ready", capabilities: match?.[1]!.split(" ") })
        return Dialect.done({ _tag: "Rejected", untrustedText: frame })
      },
      capabilities: () => {
        let caps: Caps = []
        return tagged("CAPABILITY", "capabilities", (l) => {
          if (l.startsWith("* CAPABILITY ")) caps = l.slice(13).split(" ")
        }, () => caps)
      },
      offersStartTls: (caps) => caps.includes("STARTTLS"),
      startTls: () => tagged("STARTTLS", "starttls", () => undefined, () => undefined),
      sasl: {
        mechanisms: (caps) => caps.filter((c) => c.startsWith("AUTH=")).map((c) => c.slice(5)),
        initialResponse: () => false,
        start: (mechanism) => line(`x AUTHENTICATE ${mechanism}`),
        respond: () => line("*"),
        cancel: () => line("*"),
        onFrame: () => ({ _tag: "Violation", detail: "not used" })
      },
      logout: () => tagged("LOGOUT", "close", () => undefined, () => undefined)
    }
  }
}

const options = { host, port: imapPort, tls: { trustOnly: [ca] } }

describe.runIf(env["MAILTEST_HOST"] !== undefined)("NodeTransport against real Dovecot", () => {
  it.live("STARTTLS port: capabilities before and after TLS are Dovecot's (README §4)", () =>
    Effect.gen(function*() {
      const plain = yield* Connection.connect(miniImap, options)
      assert.deepStrictEqual(
        plain.session.plaintextCapabilities,
        "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED".split(" ")
      )
      const secure = yield* Connection.startTls(plain)
      assert.deepStrictEqual(
        yield* Connection.capabilities(secure),
        "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN".split(" ")
      )
      const tls = Connection.tlsSession(secure)!
      assert.isTrue(tls.verified)
      assert.match(tls.protocol, /^TLSv1\.[23]$/)
      yield* Connection.close(secure)
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)))

  it.live("implicit TLS port: Secure from the first byte", () =>
    Effect.gen(function*() {
      const secure = yield* Connection.secure(miniImap, { ...options, port: imapsPort })
      assert.strictEqual(secure.state, "Secure")
      assert.include(secure.session.capabilities ?? [], "AUTH=PLAIN")
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)))

  it.live("a host name the certificate does not name fails with HostnameMismatch", () => {
    // Dial 127.0.0.1 but configure another name: the name verified is the configured one.
    const dialLoopback = Layer.succeed(Transport, Transport.of({
      connect: (o) => NodeTransport.connect({ ...o, host })
    }))
    return Effect.gen(function*() {
      const plain = yield* Connection.connect(miniImap, { ...options, host: "mail.example.net" })
      const reason = reasonOf(yield* Effect.exit(Connection.startTls(plain)))
      assert.strictEqual(reason._tag, "TlsFailure")
      if (reason._tag === "TlsFailure") assert.strictEqual(reason.kind, "HostnameMismatch")
    }).pipe(Effect.scoped, Effect.provide(dialLoopback))
  })

  it.live("implicit TLS against the STARTTLS port says the port speaks plaintext", () =>
    Effect.gen(function*() {
      const reason = reasonOf(yield* Effect.exit(Connection.connectTls(miniImap, options)))
      assert.strictEqual(reason._tag, "SecurityModeMismatch")
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)))

  it.live("a refused connection is a TransportFailure in the connect phase", () =>
    Effect.gen(function*() {
      const reason = reasonOf(yield* Effect.exit(Connection.connect(miniImap, { ...options, port: 1 })))
      assert.strictEqual(reason._tag, "TransportFailure")
      if (reason._tag === "TransportFailure") assert.strictEqual(reason.phase, "connect")
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)))
})
