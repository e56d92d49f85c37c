/**
 * The POP3 client against the REAL Dovecot of ../shared/mail-servers (run with `. /tmp/mailenv.sh`):
 * the STLS port (USER refused before TLS, offered after: the CAPA lines of README §4), the POP3S
 * port, 1000 × 10 KB retrieved byte-exact (compared with the Maildir files), and the plaintext-only
 * twin refused under the default policy with nothing but STLS written (testkit Proxy recording).
 *
 * The INBOX is shared with other engineers' tests, so nothing here changes it: sessions end with
 * RSET + QUIT (Dovecot sets \Seen at QUIT for retrieved messages unless RSET forgot them), and the
 * destructive cases (DELE + QUIT removes, drops before QUIT's +OK) and the 50 MB stream run against
 * the in-memory server instead (the 50 MB "Big" mailbox is IMAP-only; adding 50 MB to INBOX would
 * slow every other test that reads it).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Credentials from "@starttls/core/Credentials"
import * as NodeTransport from "@starttls/core/NodeTransport"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import type { Transport } from "@starttls/core/Transport"
import { reasonOf } from "@starttls/testkit/Failures"
import * as Pop3Server from "@starttls/testkit/Pop3Server"
import * as Proxy from "@starttls/testkit/Proxy"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import * as Pop3Client from "../src/Pop3Client.ts"
import * as H from "./ClientHarness.ts"

const env = process.env
const host = env["MAILTEST_HOST"] ?? "127.0.0.1"
const tls = { trustOnly: env["MAILTEST_CA"] === undefined ? [] : [readFileSync(env["MAILTEST_CA"], "utf8")] }
const options = (port: string | undefined) => ({ host, port: Number(port), tls })
const password = env["MAILTEST_PASS"] ?? "secret"
const credentials = Credentials.password({ username: env["MAILTEST_USER"] ?? "test", password: Redacted.make(password) })

/** Dovecot's Maildir file for a POP3 UIDL (`pop3_uidl_format = %08Xu%08Xv`): the IMAP UID's file. */
const maildirFiles = () => {
  const maildir = join(env["MAILTEST_DIR"] ?? "", "mail", "test", "Maildir")
  const byUid = new Map<number, string>()
  for (const line of readFileSync(join(maildir, "dovecot-uidlist"), "latin1").split("\n").slice(1)) {
    const match = /^(\d+)\s.*?:(\S+)$/.exec(line)
    if (match !== null) byUid.set(Number(match[1]), match[2]!)
  }
  const onDisk = new Map<string, string>()
  for (const dir of ["cur", "new"]) {
    for (const file of readdirSync(join(maildir, dir))) onDisk.set(file.split(":")[0]!, join(maildir, dir, file))
  }
  return (uidl: string): Uint8Array | undefined => {
    const base = byUid.get(parseInt(uidl.slice(0, 8), 16))
    const path = base === undefined ? undefined : onDisk.get(base)
    if (path === undefined || !existsSync(path)) return undefined
    // Stored with LF line endings; POP3 sends CRLF (LIST sizes are exact CRLF octets).
    return Buffer.from(readFileSync(path, "latin1").replace(/\n/g, "\r\n"), "latin1")
  }
}

/** Leaves the shared INBOX as it was: RSET forgets the \Seen updates, QUIT ends cleanly. */
const leave = (connection: Pop3Client.Pop3Connection<"Authenticated">) =>
  Effect.andThen(Pop3Client.rset(connection), Pop3Client.quit(connection))

const run = <A, E>(effect: Effect.Effect<A, E, Transport | Scope.Scope>) =>
  effect.pipe(Effect.scoped, Effect.provide(NodeTransport.layer))

describe.runIf(env["MAILTEST_HOST"] !== undefined)("real Dovecot", () => {
  it.live("STLS port: USER refused before TLS (plaintext CAPA hides it), offered after, exact capabilities", () =>
    Effect.gen(function*() {
      const { after, before, refused } = yield* run(Effect.gen(function*() {
        const plain = yield* Pop3Client.connect(options(env["MAILTEST_POP3_PORT"]))
        const before = yield* Pop3Client.queryCapabilities(plain)
        // Only under the dangerous layer can a Plain login even be tried: Dovecot refuses USER.
        const refused = yield* Effect.exit(
          Pop3Client.login(plain, credentials).pipe(Effect.provide(TlsPolicy.allowPlaintextAuthDangerously))
        )
        const secure = yield* Pop3Client.startTls(plain)
        const after = yield* Pop3Client.capabilities(secure)
        const authed = yield* Pop3Client.login(secure, credentials)
        yield* leave(authed)
        return { before, after, refused }
      }))
      // README §4: TOP UIDL RESP-CODES PIPELINING AUTH-RESP-CODE STLS SASL (Dovecot also lists CAPA).
      assert.deepStrictEqual(
        [before.top, before.uidl, before.respCodes, before.pipelining, before.authRespCode, before.stls, before.user],
        [true, true, true, true, true, true, false]
      )
      assert.deepStrictEqual(before.sasl, [])
      // After STLS: TOP UIDL RESP-CODES PIPELINING AUTH-RESP-CODE USER SASL PLAIN LOGIN.
      assert.deepStrictEqual(
        [after.top, after.uidl, after.respCodes, after.pipelining, after.authRespCode, after.stls, after.user],
        [true, true, true, true, true, false, true]
      )
      assert.deepStrictEqual(after.sasl, ["PLAIN", "LOGIN"])
      // The plaintext CAPA lists no USER: the client does not even try (nothing is sent).
      assert.strictEqual(reasonOf(refused)._tag, "NoUsableMechanism")
    }))

  it.live("a Plain USER (dangerous layer, CAPA not asked) is refused by Dovecot; PASS never follows", () =>
    Effect.gen(function*() {
      const { exit, sent } = yield* Effect.scoped(Effect.gen(function*() {
        const proxy = yield* Proxy.start({ targetPort: Number(env["MAILTEST_POP3_PORT"]) })
        const exit = yield* Effect.exit(run(Effect.gen(function*() {
          const plain = yield* Pop3Client.connect({ ...options(env["MAILTEST_POP3_PORT"]), port: proxy.port })
          return yield* Pop3Client.login(plain, credentials).pipe(Effect.provide(TlsPolicy.allowPlaintextAuthDangerously))
        })))
        return { exit, sent: Proxy.text(proxy.sessions[0]!, "client-to-server") }
      }))
      const reason = reasonOf(exit)
      assert.strictEqual(reason._tag, "AuthenticationFailed")
      if (reason._tag === "AuthenticationFailed") {
        assert.strictEqual(reason.code, "AUTH")
        assert.include(reason.untrustedReply ?? "", "Plaintext authentication disallowed")
      }
      assert.strictEqual(sent, "USER test\r\n")
      assert.notInclude(sent, password)
    }))

  it.live("POP3S port: implicit TLS, verified certificate, SASL PLAIN, STAT", () =>
    Effect.gen(function*() {
      const result = yield* run(Effect.gen(function*() {
        const secure = yield* Pop3Client.connectTls(options(env["MAILTEST_POP3S_PORT"]))
        const session = Pop3Client.tlsSession(secure)
        const authed = yield* Pop3Client.authenticate(secure, credentials)
        const stat = yield* Pop3Client.stat(authed)
        yield* leave(authed)
        return { session, stat }
      }))
      assert.isTrue(result.session?.verified)
      assert.isAtLeast(result.stat.count, 1000)
    }))

  it.live("named PLAIN (STLS and POP3S): AUTH right after the handshake, CAPA asked later over TLS", () =>
    Effect.gen(function*() {
      const named = { credentials, authenticate: { mechanisms: ["PLAIN"] } }
      for (const port of [env["MAILTEST_POP3_PORT"], env["MAILTEST_POP3S_PORT"]]) {
        const security = port === env["MAILTEST_POP3S_PORT"] ? "implicit-tls" as const : "starttls" as const
        const { sent, result } = yield* Effect.scoped(Effect.gen(function*() {
          const proxy = yield* Proxy.start({ targetPort: Number(port) })
          const result = yield* run(Effect.gen(function*() {
            const authed = yield* Pop3Client.session({ ...options(port), port: proxy.port, security, ...named })
            const known = authed.session.capabilities
            const caps = yield* Pop3Client.capabilities(authed)
            const messages = yield* Stream.runCollect(Pop3Client.retrieveAll(authed, [1, 2]))
            yield* leave(authed)
            return { known, caps, sizes: messages.map((m) => m.bytes.length) }
          }))
          return { sent: Proxy.text(proxy.sessions[0]!, "client-to-server"), result }
        }))
        assert.isUndefined(result.known)
        // Dovecot's TRANSACTION-state CAPA over TLS: PIPELINING, no STLS.
        assert.deepStrictEqual([result.caps.pipelining, result.caps.top, result.caps.stls], [true, true, false])
        assert.strictEqual(result.sizes.length, 2)
        // Nothing but STLS before the ClientHello.
        if (security === "starttls") assert.isTrue(sent.startsWith("STLS\r\n\x16"))
        assert.notInclude(sent, password)
      }
    }))

  it.live("1000 × 10 KB retrieved pipelined over STLS, byte-exact against the Maildir files and LIST sizes", () =>
    Effect.gen(function*() {
      const fileFor = maildirFiles()
      const { listing, messages, uids } = yield* run(Effect.gen(function*() {
        const authed = yield* Pop3Client.session({ ...options(env["MAILTEST_POP3_PORT"]), credentials })
        const listing = yield* Pop3Client.list(authed)
        const uids = yield* Pop3Client.uidl(authed)
        const messages = yield* Stream.runCollect(Pop3Client.retrieveAll(authed, listing.map((e) => e.msg)))
        yield* leave(authed)
        return { listing, messages, uids }
      }))
      assert.strictEqual(messages.length, listing.length)
      let seeded = 0
      let compared = 0
      for (const [i, message] of messages.entries()) {
        assert.strictEqual(message.msg, listing[i]!.msg)
        assert.strictEqual(message.bytes.length, listing[i]!.size, `LIST size of message ${message.msg}`)
        if (message.bytes.length === 10240) seeded++
        const file = fileFor(uids[i]!.uid)
        // A message another test removed since this session started is no longer on disk.
        if (file === undefined) continue
        compared++
        assert.isTrue(Buffer.from(file).equals(message.bytes), `message ${message.msg} differs from its file`)
      }
      assert.isAtLeast(seeded, 1000)
      assert.isAtLeast(compared, 1000)
    }), 60_000)

  it.live("retrieveEach over STLS: byte-exact against the Maildir file, every lent read released", () =>
    Effect.gen(function*() {
      const fileFor = maildirFiles()
      const { copies, seen, uid } = yield* run(Effect.gen(function*() {
        const authed = yield* Pop3Client.session({ ...options(env["MAILTEST_POP3_PORT"]), credentials })
        const uids = yield* Pop3Client.uidl(authed)
        const copies: Array<Uint8Array> = []
        const seen: Array<Uint8Array> = []
        yield* Pop3Client.retrieveEach(authed, uids[0]!.msg, (chunk) =>
          Effect.sync(() => {
            seen.push(chunk)
            copies.push(new Uint8Array(chunk))
          }))
        yield* leave(authed)
        return { copies, seen, uid: uids[0]!.uid }
      }))
      const file = fileFor(uid)
      if (file !== undefined) assert.isTrue(Buffer.from(file).equals(Buffer.concat(copies)))
      // Each decrypted read is a buffer of its own, the reads of one turn are merged into one of
      // the client's: all of them went back (a 10 KB message may come as one chunk).
      assert.isAtLeast(seen.length, 1)
      assert.isTrue(seen.every((chunk) => chunk.byteLength === 0))
    }))

  it.live("the plaintext-only twin is refused under the default policy: only STLS crossed the wire", () =>
    Effect.gen(function*() {
      const { exit, sent } = yield* Effect.scoped(Effect.gen(function*() {
        const proxy = yield* Proxy.start({ targetPort: Number(env["MAILTEST_NONE_POP3_PORT"]) })
        const exit = yield* Effect.exit(run(Pop3Client.session({ ...options(undefined), port: proxy.port, credentials })))
        return { exit, sent: Proxy.text(proxy.sessions[0]!, "client-to-server") }
      }))
      assert.strictEqual(reasonOf(exit)._tag, "StartTlsRejected")
      assert.strictEqual(sent, "STLS\r\n")
      assert.notInclude(sent, password)
    }))

  it.live("50 MB streamed with constant memory (in-memory server: Dovecot's 50 MB message is IMAP-only)", () =>
    Effect.gen(function*() {
      const line = "0123456789abcdefghijklmnopqrstuvwxyz.ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n"
      const big = Buffer.from(`Subject: big\r\n\r\n${line.repeat(Math.ceil((50 * 1024 * 1024) / line.length))}`)
      const server = yield* Pop3Server.make({ users: { test: { password, messages: [big, ".\r\n..\r\n"] } } })
      const expected = createHash("sha256").update(server.maildrop("test")[0]!.bytes).digest("hex")
      const { size, digest, small } = yield* Effect.gen(function*() {
        const authed = yield* Pop3Client.session({ ...H.options, credentials })
        const hash = createHash("sha256")
        let size = 0
        yield* Stream.runForEach(Pop3Client.retrieve(authed, 1), (chunk) =>
          Effect.sync(() => {
            size += chunk.length
            hash.update(chunk)
          }))
        const small = yield* Stream.mkUint8Array(Pop3Client.retrieve(authed, 2))
        return { size, digest: hash.digest("hex"), small: H.text(small) }
      }).pipe(Effect.scoped, Effect.provide(H.serving(server)))
      assert.strictEqual(size, server.maildrop("test")[0]!.size)
      assert.strictEqual(digest, expected)
      assert.strictEqual(small, ".\r\n..\r\n")
    }), 60_000)
})
