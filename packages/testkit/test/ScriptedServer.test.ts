import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import { duplexPair } from "node:stream"
import * as Certificates from "../src/Certificates.ts"
import * as Chunking from "../src/Chunking.ts"
import * as Recording from "../src/Recording.ts"
import * as ScriptedServer from "../src/ScriptedServer.ts"
import * as Transcript from "../src/Transcript.ts"
import * as TestClient from "./helpers/TestClient.ts"

const script = (source: string): Transcript.Transcript => Result.getOrThrow(Transcript.parse(source))
const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1")
const chunkTexts = (rec: Recording.Recording) => rec.chunks.map((c) => `${c.phase}:${latin1(c.bytes)}`)

const trusted = { ca: Certificates.ca.cert, servername: "localhost" } as const

/** Starts the scripted server on one end of an in-memory pair; the test drives the other end. */
const serve = (source: string, options?: ScriptedServer.Options) =>
  Effect.gen(function*() {
    const [clientEnd, serverEnd] = duplexPair()
    const server = yield* Effect.forkChild(ScriptedServer.run(serverEnd, script(source), options))
    return { client: TestClient.make(clientEnd), server }
  })

/** Reads the greeting, sends `line` (A1 STARTTLS by default) and returns the server's reply line. */
const askStartTls = (client: TestClient.TestClient, line = "A1 STARTTLS\r\n") =>
  Effect.gen(function*() {
    yield* client.readLine
    yield* client.write(line)
    return yield* client.readLine
  })

const IMAP_STARTTLS = `
  S: * OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready
  C: A1 STARTTLS
  S: <t> OK Begin TLS negotiation now
  -- starttls
  C: A2 CAPABILITY
  S: * CAPABILITY IMAP4rev1 AUTH=PLAIN
  S+ <t> OK done
  C* A\\d+ LOGOUT
  S: * BYE
  S+ <t> OK bye
`

describe("ScriptedServer over duplexPair", () => {
  it.live("plays a STARTTLS conversation with real TLS and records both phases", () =>
    Effect.gen(function*() {
      const { client, server } = yield* serve(IMAP_STARTTLS)
      assert.strictEqual(yield* client.readLine, "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n")
      yield* client.write("A1 STARTTLS\r\n")
      assert.strictEqual(yield* client.readLine, "A1 OK Begin TLS negotiation now\r\n")
      const tls = yield* client.startTls(trusted)
      assert.isTrue(tls.authorized)
      yield* client.write("A2 CAPABILITY\r\n")
      assert.strictEqual(yield* client.readLine, "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n")
      assert.strictEqual(yield* client.readLine, "A2 OK done\r\n")
      yield* client.write("A3 LOGOUT\r\n")
      assert.strictEqual(yield* client.readLine, "* BYE\r\n")
      assert.strictEqual(yield* client.readLine, "A3 OK bye\r\n")
      yield* client.end
      const rec = yield* Fiber.join(server)
      yield* client.awaitClosed

      assert.deepStrictEqual(rec.outcome, { _tag: "Completed" })
      assert.deepStrictEqual(chunkTexts(rec), ["plain:A1 STARTTLS\r\n", "tls:A2 CAPABILITY\r\n", "tls:A3 LOGOUT\r\n"])
      assert.strictEqual(rec.handshake?.protocol, "TLSv1.3")
      assert.strictEqual(rec.handshake?.line, 5)
      assert.isUndefined(rec.handshake?.clientCertificate)
      assert.isTrue(rec.clientClosed)
      assert.strictEqual(rec.sentBeforeHandshake.length, 0)
      assert.strictEqual(rec.extraAfterScript.length, 0)
      assert.strictEqual(Recording.plaintextClientBytes(rec), "A1 STARTTLS\r\n")
      assert.strictEqual(Recording.tlsClientBytes(rec), "A2 CAPABILITY\r\nA3 LOGOUT\r\n")
      // The server's TLS-phase writes arrived as TLS application data.
      assert.deepStrictEqual(client.received.map((r) => r.phase), ["plain", "plain", "tls", "tls"])
    }))

  it.live("a wrong client line fails with a readable diff (line, phase, escaped bytes, first difference)", () =>
    Effect.gen(function*() {
      const { client, server } = yield* serve(IMAP_STARTTLS)
      yield* client.readLine
      yield* client.write("A1 starttls\r\n")
      const error = yield* Effect.flip(Fiber.join(server))
      assert.strictEqual(error._tag, "ScriptMismatch")
      assert.strictEqual(error.reason, "Mismatch")
      assert.strictEqual(error.line, 3)
      assert.strictEqual(error.phase, "plain")
      assert.strictEqual(error.expected, "A1 STARTTLS\\r\\n")
      assert.strictEqual(error.got, "A1 starttls\\r\\n")
      assert.strictEqual(
        error.message,
        [
          "transcript line 3 (plain): the client line differs from the script",
          "  expected: A1 STARTTLS\\r\\n",
          "  got:      A1 starttls\\r\\n",
          "               ^ first difference at character 4"
        ].join("\n")
      )
      assert.deepStrictEqual(error.recording.outcome, { _tag: "Aborted", line: 3 })
      assert.deepStrictEqual(chunkTexts(error.recording), ["plain:A1 starttls\r\n"])
      // The server hangs up after a mismatch.
      yield* client.awaitClosed
    }))

  it.live("mismatches inside TLS report the tls phase; a bare LF and a C* miss are mismatches too", () =>
    Effect.gen(function*() {
      const { client, server } = yield* serve(IMAP_STARTTLS)
      yield* askStartTls(client)
      yield* client.startTls(trusted)
      yield* client.write("A2 CAPABILITY\n")
      const error = yield* Effect.flip(Fiber.join(server))
      assert.strictEqual(error.phase, "tls")
      assert.strictEqual(error.line, 6)
      assert.strictEqual(error.got, "A2 CAPABILITY\\n")

      const second = yield* serve("C* A\\d+ LOGOUT")
      yield* second.client.write("A2 LOGOUT now\r\n")
      const miss = yield* Effect.flip(Fiber.join(second.server))
      assert.strictEqual(miss.reason, "Mismatch")
      assert.strictEqual(miss.expected, "a CRLF-terminated line matching /A\\d+ LOGOUT/")
      assert.match(miss.message, /got: {6}A2 LOGOUT now\\r\\n/)

      const third = yield* serve("C* A\\d+ LOGOUT")
      yield* third.client.write("A2 LOGOUT\n")
      assert.strictEqual((yield* Effect.flip(Fiber.join(third.server))).reason, "Mismatch")
    }))

  it.live("reads client lines however they are chunked, and records the chunks as they came", () =>
    Effect.gen(function*() {
      const input = new TextEncoder().encode("A1 NOOP\r\nA2 X\r\n")
      const splits = Chunking.allSplitPositions(input)
      assert.strictEqual(splits.length, 1 + 14 + 91)
      yield* Effect.forEach(splits, (chunks) =>
        Effect.gen(function*() {
          const { client, server } = yield* serve("C: A1 NOOP\nC* A2 .\nS: done")
          for (const chunk of chunks) yield* client.write(chunk)
          assert.strictEqual(yield* client.readLine, "done\r\n")
          yield* client.end
          const rec = yield* Fiber.join(server)
          assert.deepStrictEqual(rec.outcome, { _tag: "Completed" })
          assert.deepStrictEqual(rec.chunks.map((c) => latin1(c.bytes)), chunks.map(latin1))
        }))
    }))

  it.live("S+ and -- inject go out in one write: the client receives them as one chunk", () =>
    Effect.gen(function*() {
      const { client, server } = yield* serve("S: one\nS+ two\n-- inject three\n-- delay 30\nS: four\nS: five")
      const chunks = yield* client.awaitChunks(2)
      assert.strictEqual(chunks[0]?.text, "one\r\ntwo\r\nthree")
      assert.isTrue(chunks.slice(1).map((c) => c.text).join("").startsWith("four\r\n"))
      yield* client.end
      const rec = yield* Fiber.join(server)
      yield* client.awaitClosed
      assert.deepStrictEqual(rec.outcome, { _tag: "Completed" })
      assert.strictEqual(client.received.map((c) => c.text).join(""), "one\r\ntwo\r\nthreefour\r\nfive\r\n")
    }))

  it.live("an injected suffix arrives in the same chunk as the STARTTLS reply", () =>
    Effect.gen(function*() {
      const { client, server } = yield* serve(`
        S: * OK ready
        C: A001 STARTTLS
        S: <t> OK begin TLS
        -- inject <n> OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\\r\\n
        -- tls localhost
        C: A002 CAPABILITY
      `)
      yield* client.readLine
      yield* client.write("A001 STARTTLS\r\n")
      const [, reply] = yield* client.awaitChunks(2)
      assert.deepStrictEqual(reply, {
        phase: "plain",
        text: "A001 OK begin TLS\r\nA002 OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n"
      })
      // A strict client gives up here.
      yield* client.destroy
      const rec = yield* Fiber.join(server)
      assert.strictEqual(rec.outcome._tag, "HandshakeFailed")
      assert.strictEqual(rec.outcome._tag === "HandshakeFailed" ? rec.outcome.code : "", "ClosedBeforeHandshake")
      assert.isUndefined(rec.handshake)
    }))

  it.live("-- delay separates writes in time", () =>
    Effect.gen(function*() {
      const { client, server } = yield* serve("S: first\n-- delay 80\nS: second")
      yield* client.awaitChunks(1)
      const start = yield* Clock.currentTimeMillis
      yield* client.awaitChunks(2)
      const elapsed = (yield* Clock.currentTimeMillis) - start
      assert.isAtLeast(elapsed, 60)
      assert.deepStrictEqual(client.received.map((c) => c.text), ["first\r\n", "second\r\n"])
      yield* client.end
      yield* Fiber.join(server)
    }))

  it.live("-- close destroys the connection after the last write", () =>
    Effect.gen(function*() {
      const { client, server } = yield* serve("S: * BYE going away\n-- close")
      const rec = yield* Fiber.join(server)
      yield* client.awaitClosed
      assert.deepStrictEqual(rec.outcome, { _tag: "Completed" })
      assert.strictEqual(client.received.map((c) => c.text).join(""), "* BYE going away\r\n")
    }))

  it.live("a client that closes while a line is expected is recorded, not an error", () =>
    Effect.gen(function*() {
      const { client, server } = yield* serve("S: * OK\nC: A1 CAPABILITY\nS: never sent")
      yield* client.readLine
      yield* client.write("A1 CAPA")
      yield* client.end
      const rec = yield* Fiber.join(server)
      assert.deepStrictEqual(rec.outcome, { _tag: "ClientClosed", line: 2, phase: "plain" })
      assert.isTrue(rec.clientClosed)
      assert.deepStrictEqual(chunkTexts(rec), ["plain:A1 CAPA"])
      assert.strictEqual(client.received.length, 1)
    }))

  it.live("a client that stays silent times out with what it sent so far", () =>
    Effect.gen(function*() {
      const { client, server } = yield* serve("S: * OK\nC: A1 CAPABILITY", { timeoutMs: 100 })
      yield* client.readLine
      yield* client.write("A1 CAP")
      const error = yield* Effect.flip(Fiber.join(server))
      assert.strictEqual(error.reason, "Timeout")
      assert.strictEqual(error.got, "A1 CAP")
      assert.match(error.message, /timed out waiting for the client/)
    }))

  it.live("a line longer than maxLineLength is refused", () =>
    Effect.gen(function*() {
      const { client, server } = yield* serve("C: short", { maxLineLength: 16 })
      yield* client.write("x".repeat(40))
      const error = yield* Effect.flip(Fiber.join(server))
      assert.strictEqual(error.reason, "LineTooLong")
    }))

  it.live("-- expect-close: bytes sent before closing are violations; staying open is a mismatch", () =>
    Effect.gen(function*() {
      const { client, server } = yield* serve("S: * OK\nC: A1 STARTTLS\nS: A1 BAD no\n-- expect-close")
      yield* client.readLine
      yield* client.write("A1 STARTTLS\r\nA2 LOGIN user secret\r\n")
      yield* client.readLine
      yield* client.write("A3 NOOP\r\n")
      yield* client.end
      const rec = yield* Fiber.join(server)
      assert.deepStrictEqual(rec.outcome, { _tag: "Completed" })
      assert.strictEqual(latin1(rec.sentAfterExpectClose), "A2 LOGIN user secret\r\nA3 NOOP\r\n")

      const open = yield* serve("S: * BYE\n-- expect-close", { timeoutMs: 100 })
      yield* open.client.readLine
      yield* open.client.write("A1 NOOP\r\n")
      const error = yield* Effect.flip(Fiber.join(open.server))
      assert.strictEqual(error.reason, "NotClosed")
      assert.strictEqual(latin1(error.recording.sentAfterExpectClose), "A1 NOOP\r\n")
    }))

  it.live("bytes beyond the end of the script are reported as extra", () =>
    Effect.gen(function*() {
      const { client, server } = yield* serve("C: A1 NOOP\nS: A1 OK", { lingerMs: 50 })
      yield* client.write("A1 NOOP\r\nA2 NOOP\r\n")
      yield* client.readLine
      const rec = yield* Fiber.join(server)
      assert.deepStrictEqual(rec.outcome, { _tag: "Completed" })
      assert.isFalse(rec.clientClosed)
      assert.strictEqual(latin1(rec.extraAfterScript), "A2 NOOP\r\n")
      // The server hangs up after lingering.
      yield* client.awaitClosed
    }))

  it.live("<t> and <n> follow the client's last tag; <n> needs a numeric tag", () =>
    Effect.gen(function*() {
      const { client, server } = yield* serve("C: X009 NOOP\nS: <t> OK\nS+ <n> NO")
      yield* client.write("X009 NOOP\r\n")
      assert.strictEqual(yield* client.readLine, "X009 OK\r\n")
      assert.strictEqual(yield* client.readLine, "X010 NO\r\n")
      yield* client.end
      yield* Fiber.join(server)

      const bad = yield* serve("C: ABC NOOP\nS: <n> OK")
      yield* bad.client.write("ABC NOOP\r\n")
      const error = yield* Effect.flip(Fiber.join(bad.server))
      assert.strictEqual(error.reason, "Placeholder")
      assert.strictEqual(error.got, "ABC")
    }))

  describe("plaintext between STARTTLS and the handshake (invariant 4)", () => {
    const STARTTLS = "S: * OK\nC: A1 STARTTLS\nS: A1 OK go\n-- starttls\nC: A2 NOOP\nS: A2 OK"

    it.live("bytes pipelined after the STARTTLS line are recorded and dropped", () =>
      Effect.gen(function*() {
        const { client, server } = yield* serve(STARTTLS)
        yield* askStartTls(client, "A1 STARTTLS\r\nA9 LOGIN user hunter2\r\n")
        yield* client.startTls(trusted)
        yield* client.write("A2 NOOP\r\n")
        yield* client.readLine
        yield* client.end
        const rec = yield* Fiber.join(server)
        assert.deepStrictEqual(rec.outcome, { _tag: "Completed" })
        assert.strictEqual(latin1(rec.sentBeforeHandshake), "A9 LOGIN user hunter2\r\n")
        assert.strictEqual(Recording.plaintextClientBytes(rec), "A1 STARTTLS\r\nA9 LOGIN user hunter2\r\n")
        const leak = yield* Effect.flip(Recording.assertNoSecretInPlaintext(rec, ["hunter2"]))
        assert.deepStrictEqual(leak.leaks, [{ secret: "hunter2", found: "verbatim" }])
      }))

    it.live("plaintext sent instead of a ClientHello breaks the handshake and is recorded", () =>
      Effect.gen(function*() {
        const { client, server } = yield* serve(STARTTLS)
        yield* askStartTls(client)
        yield* client.write("A2 LOGIN user hunter2\r\n")
        const rec = yield* Fiber.join(server)
        assert.strictEqual(rec.outcome._tag, "HandshakeFailed")
        assert.match(rec.outcome._tag === "HandshakeFailed" ? rec.outcome.code ?? "" : "", /^ERR_SSL_/)
        assert.strictEqual(latin1(rec.sentBeforeHandshake), "A2 LOGIN user hunter2\r\n")
        assert.deepStrictEqual(chunkTexts(rec), ["plain:A1 STARTTLS\r\n", "plain:A2 LOGIN user hunter2\r\n"])
        yield* client.awaitClosed
      }))
  })

  describe("certificates the client must reject", () => {
    const cases = [
      ["self-signed", "DEPTH_ZERO_SELF_SIGNED_CERT"],
      ["wrong-name", "ERR_TLS_CERT_ALTNAME_INVALID"],
      ["expired", "CERT_HAS_EXPIRED"]
    ] as const
    for (const [profile, clientCode] of cases) {
      it.live(`${profile}: the client's rejection is recorded as a failed handshake`, () =>
        Effect.gen(function*() {
          const { client, server } = yield* serve(`S: * OK\nC: A1 STARTTLS\nS: A1 OK\n-- tls ${profile}\nC: A2 LOGIN`)
          yield* askStartTls(client)
          const error = yield* Effect.flip(client.startTls(trusted))
          assert.strictEqual(error.code, clientCode)
          yield* client.destroy
          const rec = yield* Fiber.join(server)
          assert.deepStrictEqual(rec.outcome, {
            _tag: "HandshakeFailed",
            line: 4,
            code: "ClosedBeforeHandshake",
            message: "the client closed the connection before the handshake completed"
          })
          assert.strictEqual(Recording.tlsClientBytes(rec), "")
        }))
    }
  })

  it.live("with TLS 1.2 the server's side completes first: a rejecting client shows up as ClientClosed in tls", () =>
    Effect.gen(function*() {
      const { client, server } = yield* serve("S: * OK\nC: A1 STARTTLS\nS: A1 OK\n-- tls wrong-name\nC: A2 LOGIN")
      yield* askStartTls(client)
      const error = yield* Effect.flip(client.startTls({ ...trusted, maxVersion: "TLSv1.2" }))
      assert.strictEqual(error.code, "ERR_TLS_CERT_ALTNAME_INVALID")
      yield* client.destroy
      const rec = yield* Fiber.join(server)
      assert.strictEqual(rec.handshake?.protocol, "TLSv1.2")
      assert.deepStrictEqual(rec.outcome, { _tag: "ClientClosed", line: 5, phase: "tls" })
      assert.strictEqual(Recording.tlsClientBytes(rec), "")
    }))

  it.live("a client that never starts the handshake times out at the -- starttls line", () =>
    Effect.gen(function*() {
      const { client, server } = yield* serve("C: A1 STARTTLS\nS: A1 OK\n-- starttls", { timeoutMs: 100 })
      yield* client.write("A1 STARTTLS\r\n")
      const error = yield* Effect.flip(Fiber.join(server))
      assert.strictEqual(error.reason, "Timeout")
      assert.strictEqual(error.line, 3)
      assert.strictEqual(error.phase, "tls")
      assert.strictEqual(error.expected, "a TLS ClientHello")
      assert.strictEqual(error.got, "nothing")
    }))

  it.live("the server ends a TLS connection cleanly when the script is done", () =>
    Effect.gen(function*() {
      const { client, server } = yield* serve("-- implicit-tls localhost\nS: * BYE", { lingerMs: 20 })
      yield* client.startTls(trusted)
      assert.strictEqual(yield* client.readLine, "* BYE\r\n")
      const start = yield* Clock.currentTimeMillis
      const rec = yield* Fiber.join(server)
      yield* client.awaitClosed
      // Well before the 1 s fallback that destroys a connection which does not end by itself.
      assert.isBelow((yield* Clock.currentTimeMillis) - start, 500)
      assert.isFalse(rec.clientClosed)
      assert.deepStrictEqual(rec.outcome, { _tag: "Completed" })
    }))

  it.live("-- implicit-tls speaks TLS from the first byte", () =>
    Effect.gen(function*() {
      const { client, server } = yield* serve("-- implicit-tls localhost\nS: * OK secure\nC: A1 NOOP\nS: A1 OK")
      yield* client.startTls(trusted)
      assert.strictEqual(yield* client.readLine, "* OK secure\r\n")
      yield* client.write("A1 NOOP\r\n")
      assert.strictEqual(yield* client.readLine, "A1 OK\r\n")
      yield* client.end
      const rec = yield* Fiber.join(server)
      assert.deepStrictEqual(rec.outcome, { _tag: "Completed" })
      assert.strictEqual(rec.handshake?.line, 0)
      assert.deepStrictEqual(chunkTexts(rec), ["tls:A1 NOOP\r\n"])
    }))

  it.live("requestClientCertificate records the client's certificate", () =>
    Effect.gen(function*() {
      const { client, server } = yield* serve("-- implicit-tls localhost\nS: * OK", {
        requestClientCertificate: true
      })
      yield* client.startTls({ ...trusted, cert: Certificates.client.cert, key: Certificates.client.key })
      yield* client.readLine
      yield* client.end
      const rec = yield* Fiber.join(server)
      const cert = rec.handshake?.clientCertificate
      assert.isDefined(cert)
      assert.isTrue(cert?.issuedByCa)
      assert.match(cert?.subject ?? "", /CN=testkit client/)
      assert.match(cert?.issuer ?? "", /CN=starttls testkit CA/)
    }))

  it.live("certs overrides the certificate of a profile", () =>
    Effect.gen(function*() {
      const { client, server } = yield* serve("-- implicit-tls self-signed\nS: * OK", {
        certs: { "self-signed": Certificates.localhost }
      })
      const tls = yield* client.startTls(trusted)
      assert.isTrue(tls.authorized)
      yield* client.readLine
      yield* client.end
      yield* Fiber.join(server)
    }))
})
