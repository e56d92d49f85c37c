/**
 * The IMAP client against the real Dovecot of ../shared/mail-servers (load `/tmp/mailenv.sh` first).
 * INBOX holds 1000 seeded 10 KB messages and mailbox "Big" one 50 MB message; the seeded Maildir
 * files (LF line ends) are the reference for byte-exact checks (the wire form has CRLF). Tests
 * that add mail use a scratch mailbox and delete it.
 */
import { assert, describe, it } from "@effect/vitest"
import * as NodeTransport from "@starttls/core/NodeTransport"
import * as Proxy from "@starttls/testkit/Proxy"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import * as ImapClient from "../src/ImapClient.ts"
import * as SequenceSet from "../src/SequenceSet.ts"
import * as H from "./ImapHarness.ts"
import * as Dovecot from "./RealDovecot.ts"

const env = process.env
const { credentials, options, pass, user } = Dovecot
const maildir = join(env["MAILTEST_DIR"] ?? "/nonexistent", "mail", user, "Maildir")
const crlf = (lf: Buffer) => Buffer.from(lf.toString("latin1").replace(/\n/g, "\r\n"), "latin1")
const messageId = (source: Uint8Array) => /^Message-ID: (<[^>]+>)\r?$/m.exec(Buffer.from(source).toString("latin1"))?.[1]

/** Message-ID -> the wire bytes of every seeded message of a Maildir folder. */
const seeded = (folder: string): Map<string, Buffer> => {
  const out = new Map<string, Buffer>()
  const dir = join(maildir, folder, "cur")
  for (const name of readdirSync(dir)) {
    const bytes = crlf(readFileSync(join(dir, name)))
    const id = messageId(bytes)
    if (id !== undefined && id.startsWith("<seed-")) out.set(id, bytes)
  }
  return out
}

describe.runIf(env["MAILTEST_HOST"] !== undefined)("ImapClient against real Dovecot", () => {
  it.live("STARTTLS port: LOGINDISABLED before TLS, AUTH=PLAIN after; capabilities from the login's OK", () =>
    Effect.gen(function*() {
      const plain = yield* ImapClient.connect(options)
      const before = plain.session.plaintextCapabilities!
      assert.isTrue(before.loginDisabled && before.startTls)
      assert.deepStrictEqual(before.authMechanisms, [])
      const secure = yield* ImapClient.startTls(plain)
      const after = yield* ImapClient.capabilities(secure)
      assert.isFalse(after.loginDisabled || after.startTls)
      assert.deepStrictEqual(after.authMechanisms, ["PLAIN", "LOGIN"])
      const imap = yield* ImapClient.authenticate(secure, credentials)
      const authed = yield* ImapClient.capabilities(imap)
      assert.isTrue(authed.uidplus && authed.move && authed.condstore)
      yield* ImapClient.logout(imap)
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)))

  it.live("implicit TLS port: Secure from the first byte, greeting capabilities trusted", () =>
    Effect.gen(function*() {
      const connection = yield* ImapClient.connectTls({ ...options, port: Number(env["MAILTEST_IMAPS_PORT"]) })
      assert.strictEqual(connection.state, "Secure")
      assert.isTrue(connection.session.capabilities!.saslIr)
      const imap = yield* ImapClient.authenticate(connection as ImapClient.ImapConnection<"Secure">, credentials)
      yield* ImapClient.noop(imap)
      yield* ImapClient.logout(imap)
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)))

  it.live("SELECT INBOX and FETCH the 1000 × 10 KB seeded messages byte-exact", () =>
    Effect.gen(function*() {
      const expected = seeded("")
      assert.strictEqual(expected.size, 1000)
      const imap = yield* ImapClient.session({ ...options, credentials })
      const inbox = yield* ImapClient.select(imap, "INBOX")
      assert.isAtLeast(inbox.status.exists, 1000)
      let matched = 0
      yield* ImapClient.fetch(inbox, SequenceSet.range(1, "*"), { uid: true, source: true, size: true }).pipe(
        Stream.runForEach((message) =>
          Effect.sync(() => {
            // Other suites share INBOX: a message they expunge meanwhile comes back as BODY[] NIL.
            if (message.source === undefined) return
            const id = messageId(message.source)
            const want = id === undefined ? undefined : expected.get(id)
            assert.strictEqual(message.source.length, message.size)
            if (want === undefined) return
            assert.isTrue(Buffer.from(message.source).equals(want), id)
            matched++
          })
        )
      )
      assert.strictEqual(matched, 1000)
      yield* ImapClient.logout(imap)
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)), { timeout: 60_000 })

  it.live("the 50 MB message of Big, streamed (download) and identical to the seeded file", () =>
    Effect.gen(function*() {
      const [want] = [...seeded(".Big").values()]
      const imap = yield* ImapClient.session({ ...options, credentials })
      const big = yield* ImapClient.examine(imap, "Big")
      assert.strictEqual(big.status.exists, 1)
      const hash = createHash("sha256")
      let size = 0
      let chunks = 0
      yield* ImapClient.download(big, 1).pipe(Stream.runForEach((chunk) =>
        Effect.sync(() => {
          hash.update(chunk)
          size += chunk.length
          chunks++
        })
      ))
      assert.strictEqual(size, 52428800)
      assert.isAbove(chunks, 100)
      assert.strictEqual(hash.digest("hex"), createHash("sha256").update(want!).digest("hex"))
      yield* ImapClient.logout(imap)
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)), { timeout: 60_000 })

  it.live("the 50 MB message of Big with lent chunks (downloadEach): identical, every chunk released", () =>
    Effect.gen(function*() {
      const [want] = [...seeded(".Big").values()]
      const imap = yield* ImapClient.session({ ...options, credentials })
      const big = yield* ImapClient.examine(imap, "Big")
      const hash = createHash("sha256")
      const seen: Array<Uint8Array> = []
      let size = 0
      yield* ImapClient.downloadEach(big, 1, (chunk) =>
        Effect.sync(() => {
          hash.update(chunk)
          size += chunk.length
          if (seen.length < 1000) seen.push(chunk)
        }))
      assert.strictEqual(size, 52428800)
      assert.strictEqual(hash.digest("hex"), createHash("sha256").update(want!).digest("hex"))
      // over TLS every lent chunk (a decrypted read, or reads merged) is detached once f is done
      assert.isTrue(seen.length > 10 && seen.every((chunk) => chunk.byteLength === 0))
      // and the connection is in step
      yield* ImapClient.noop(big)
      assert.strictEqual((yield* ImapClient.mailbox(big)).status.exists, 1)
      yield* ImapClient.logout(imap)
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)), { timeout: 60_000 })

  it.live("APPEND to a scratch mailbox, FETCH back byte-exact, flags round trip, then delete it", () =>
    Effect.gen(function*() {
      const scratch = `Scratch-${process.pid}-${Date.now()}`
      const imap = yield* ImapClient.session({ ...options, credentials })
      yield* ImapClient.create(imap, scratch)
      const body = Buffer.concat([
        Buffer.from("From: a@localhost\r\nTo: b@localhost\r\nSubject: round trip \u00e4\r\n\r\n", "latin1"),
        Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i % 78 === 77 ? 10 : i % 78 === 76 ? 13 : 33 + (i % 90))))
      ])
      const result = yield* Effect.ensuring(
        Effect.gen(function*() {
          const appended = yield* ImapClient.append(imap, scratch, body, { flags: ["\\Draft", "$Work"] })
          assert.isDefined(appended.uid)
          const streamed = yield* ImapClient.append(imap, scratch, {
            size: body.length,
            stream: Stream.fromIterable([body.subarray(0, 1000), body.subarray(1000)])
          })
          const box = yield* ImapClient.select(imap, scratch)
          const messages = yield* Stream.runCollect(
            ImapClient.fetch(box, SequenceSet.range(1, "*"), { flags: true, source: true }, { uid: false })
          )
          assert.strictEqual(messages.length, 2)
          for (const m of messages) assert.isTrue(Buffer.from(m.source!).equals(body))
          assert.includeMembers([...messages[0]!.flags!], ["\\Draft", "$Work"])
          const stored = yield* ImapClient.store(box, SequenceSet.single(streamed.uid!), "add", ["\\Flagged", "\\Seen"], {
            uid: true
          })
          assert.includeMembers([...stored[0]!.flags], ["\\Flagged", "\\Seen"])
          yield* ImapClient.store(box, SequenceSet.single(streamed.uid!), "remove", ["\\Flagged"], { uid: true, silent: true })
          const [after] = yield* Stream.runCollect(
            ImapClient.fetch(box, SequenceSet.single(streamed.uid!), { flags: true }, { uid: true })
          )
          assert.deepStrictEqual(after!.flags!.filter((f) => f !== "\\Recent"), ["\\Seen"])
          yield* ImapClient.closeMailbox(box)
          return messages.length
        }),
        Effect.ignore(ImapClient.deleteMailbox(imap, scratch))
      )
      assert.strictEqual(result, 2)
      assert.isFalse((yield* ImapClient.list(imap)).some((m) => m.name === scratch))
      yield* ImapClient.logout(imap)
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)), { timeout: 30_000 })

  it.live("the plaintext-only twin is refused under the default policy: no credential byte crosses the wire", () =>
    Effect.gen(function*() {
      const proxy = yield* Proxy.start({ targetPort: Number(env["MAILTEST_NONE_IMAP_PORT"]) })
      const exit = yield* Effect.exit(
        ImapClient.session({ ...options, port: proxy.port, credentials }).pipe(Effect.scoped)
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(H.reason(exit)._tag, "StartTlsRejected")
      yield* Effect.sleep("50 millis")
      const sent = Proxy.text(proxy.sessions[0]!, "client-to-server")
      assert.strictEqual(sent, "A1 STARTTLS\r\n")
      assert.notInclude(sent, pass)
      assert.notInclude(sent, Buffer.from(`\0${user}\0${pass}`).toString("base64"))
      assert.strictEqual(proxy.sessions.length, 1)
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)))
})
