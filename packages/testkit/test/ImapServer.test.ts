import { assert, describe, it } from "@effect/vitest"
import * as Credentials from "@starttls/core/Credentials"
import * as Sasl from "@starttls/core/Sasl"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import { createHash } from "node:crypto"
import * as Net from "node:net"
import { duplexPair } from "node:stream"
import * as NodeTls from "node:tls"
import * as Certificates from "../src/Certificates.ts"
import * as ImapServer from "../src/ImapServer.ts"
import * as LoopbackServer from "../src/LoopbackServer.ts"
import * as MemoryTransport from "../src/MemoryTransport.ts"
import * as Recording from "../src/Recording.ts"
import * as TestClient from "./helpers/TestClient.ts"

const CRLF = "\r\n"
const tlsOptions = { ca: Certificates.ca.cert, servername: "localhost" }
const plainIr = (user: string, password: string) => Buffer.from(`\0${user}\0${password}`).toString("base64")

const BEFORE_TLS = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED"
const AFTER_TLS = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN AUTH=LOGIN"
const AUTHENTICATED = ImapServer.capabilities.authenticated.join(" ")

interface Session {
  readonly client: TestClient.TestClient
  readonly server: Fiber.Fiber<ImapServer.Connection>
}

const open = (server: ImapServer.ImapServer) =>
  Effect.gen(function*() {
    const [clientEnd, serverEnd] = duplexPair()
    const fiber = yield* Effect.forkChild(server.handler(serverEnd))
    return { client: TestClient.make(clientEnd), server: fiber } satisfies Session
  })

/** Reads lines up to and including the tagged line of `tag`, skipping over literals. */
const readTagged = (client: TestClient.TestClient, tag: string) =>
  Effect.gen(function*() {
    let all = ""
    let literal = 0
    for (;;) {
      const line = yield* client.readLine
      all += line
      let rest = line
      if (literal > 0) {
        if (line.length <= literal) {
          literal -= line.length
          continue
        }
        rest = line.slice(literal)
        literal = 0
      } else if (line.startsWith(`${tag} `)) {
        return all
      }
      const marker = /\{(\d+)\+?\}\r\n$/.exec(rest)
      if (marker !== null) literal = Number(marker[1])
    }
  })

const run = (session: { readonly client: TestClient.TestClient }, tag: string, command: string) =>
  Effect.andThen(session.client.write(`${tag} ${command}${CRLF}`), readTagged(session.client, tag))

const plaintextServer = (config: ImapServer.Config = {}) => ImapServer.make({ security: "plaintext", ...config })

/** Opens a plaintext session and logs in with LOGIN. */
const plainLogin = (server: ImapServer.ImapServer) =>
  Effect.gen(function*() {
    const session = yield* open(server)
    yield* session.client.readLine
    assert.match(yield* run(session, "l", "LOGIN test secret"), /^l OK /)
    return session
  })

const message = (subject: string, body = "hello") =>
  `From: a@example.com${CRLF}To: b@example.com${CRLF}Subject: ${subject}${CRLF}${CRLF}${body}${CRLF}`

describe("ImapServer", () => {
  describe("TLS and capabilities", () => {
    it.live("advertises Dovecot's lists before and after STARTTLS, over real TLS", () =>
      Effect.gen(function*() {
        const server = yield* ImapServer.make()
        const session = yield* open(server)
        const { client } = session
        assert.strictEqual(yield* client.readLine, `* OK [CAPABILITY ${BEFORE_TLS}] Dovecot (Debian) ready.${CRLF}`)
        assert.strictEqual(
          yield* run(session, "a1", "CAPABILITY"),
          `* CAPABILITY ${BEFORE_TLS}${CRLF}a1 OK Pre-login capabilities listed, post-login capabilities have more.${CRLF}`
        )
        assert.strictEqual(yield* run(session, "a2", "STARTTLS"), `a2 OK Begin TLS negotiation now.${CRLF}`)
        const socket = yield* client.startTls(tlsOptions)
        assert.isTrue(socket.authorized)
        assert.strictEqual(
          yield* run(session, "a3", "CAPABILITY"),
          `* CAPABILITY ${AFTER_TLS}${CRLF}a3 OK Pre-login capabilities listed, post-login capabilities have more.${CRLF}`
        )
        assert.strictEqual(yield* run(session, "a4", "STARTTLS"), `a4 BAD Error in IMAP command STARTTLS: TLS is already active.${CRLF}`)
        const connection = server.connections()[0]!
        assert.isTrue(connection.secure())
        assert.deepStrictEqual(connection.commands.map((c) => [c.name, c.phase]), [
          ["CAPABILITY", "plain"],
          ["STARTTLS", "plain"],
          ["CAPABILITY", "tls"],
          ["STARTTLS", "tls"]
        ])
        assert.strictEqual(connection.recording().handshake?.protocol, "TLSv1.3")
        assert.strictEqual(Recording.tlsClientBytes(connection.recording()), `a3 CAPABILITY${CRLF}a4 STARTTLS${CRLF}`)
      }))

    it.live("refuses LOGIN before TLS with PRIVACYREQUIRED, like Dovecot", () =>
      Effect.gen(function*() {
        const server = yield* ImapServer.make()
        const session = yield* open(server)
        yield* session.client.readLine
        assert.strictEqual(
          yield* run(session, "b", "LOGIN test secret"),
          "* BAD [ALERT] Plaintext authentication not allowed without SSL/TLS, but your client did it anyway. If anyone was listening, the password was exposed." +
            `${CRLF}b NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.${CRLF}`
        )
        assert.strictEqual(
          yield* run(session, "c", `AUTHENTICATE PLAIN`),
          `c NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.${CRLF}`
        )
        assert.strictEqual(server.connections()[0]!.state(), "NotAuthenticated")
        // The password did go out in clear: the recording shows it.
        const leaks = Recording.findSecretsInPlaintext(server.connections()[0]!.recording(), ["secret"])
        assert.deepStrictEqual(leaks.map((l) => l.found), ["verbatim"])
      }))

    it.live("discards and records what a client pipelines after STARTTLS", () =>
      Effect.gen(function*() {
        const server = yield* ImapServer.make()
        const session = yield* open(server)
        yield* session.client.readLine
        yield* session.client.write(`a STARTTLS${CRLF}b LOGIN test secret${CRLF}`)
        assert.strictEqual(yield* session.client.readLine, `a OK Begin TLS negotiation now.${CRLF}`)
        yield* session.client.startTls(tlsOptions)
        assert.strictEqual(yield* run(session, "c", "NOOP"), `c OK NOOP completed.${CRLF}`)
        const recording = server.connections()[0]!.recording()
        assert.strictEqual(Buffer.from(recording.sentBeforeHandshake).toString(), `b LOGIN test secret${CRLF}`)
        assert.deepStrictEqual(server.connections()[0]!.commands.map((c) => c.name), ["STARTTLS", "NOOP"])
      }))

    it.live("answers STARTTLS with NO or BAD when configured, and stays in plaintext", () =>
      Effect.gen(function*() {
        for (const reply of ["NO", "BAD"] as const) {
          const server = yield* ImapServer.make({ startTlsReply: reply })
          const session = yield* open(server)
          yield* session.client.readLine
          assert.strictEqual(yield* run(session, "s", "STARTTLS"), `s ${reply} TLS is not available.${CRLF}`)
          assert.match(yield* run(session, "c", "CAPABILITY"), /STARTTLS LOGINDISABLED\r\nc OK/)
          assert.isFalse(server.connections()[0]!.secure())
        }
      }))

    it.live("serves implicit TLS, plaintext, PREAUTH and BYE greetings", () =>
      Effect.gen(function*() {
        const implicit = yield* ImapServer.make({ security: "implicit-tls" })
        const tls = yield* open(implicit)
        yield* tls.client.startTls(tlsOptions)
        assert.strictEqual(yield* tls.client.readLine, `* OK [CAPABILITY ${AFTER_TLS}] Dovecot (Debian) ready.${CRLF}`)
        assert.strictEqual(yield* run(tls, "s", "STARTTLS"), `s BAD Error in IMAP command STARTTLS: TLS is already active.${CRLF}`)

        const plain = yield* plaintextServer()
        const clear = yield* open(plain)
        assert.strictEqual(yield* clear.client.readLine, `* OK [CAPABILITY ${AFTER_TLS}] Dovecot (Debian) ready.${CRLF}`)
        assert.strictEqual(yield* run(clear, "s", "STARTTLS"), `s BAD Error in IMAP command STARTTLS: TLS support isn't enabled.${CRLF}`)
        assert.strictEqual(yield* run(clear, "l", "LOGIN test secret"), `l OK [CAPABILITY ${AUTHENTICATED}] Logged in${CRLF}`)

        const preauth = yield* ImapServer.make({ greeting: { _tag: "Preauth", user: "test" } })
        const pre = yield* open(preauth)
        assert.strictEqual(yield* pre.client.readLine, `* PREAUTH [CAPABILITY ${AUTHENTICATED}] Logged in as test${CRLF}`)
        assert.match(yield* run(pre, "x", "SELECT INBOX"), /x OK \[READ-WRITE\]/)

        const bye = yield* ImapServer.make({ greeting: { _tag: "Bye", text: "Too many connections." } })
        const gone = yield* open(bye)
        assert.strictEqual(yield* gone.client.readLine, `* BYE Too many connections.${CRLF}`)
        yield* gone.client.awaitClosed
      }))

    it.live("works as core's Transport through MemoryTransport (the client side upgrades with DuplexTransport)", () =>
      Effect.gen(function*() {
        const server = yield* ImapServer.make()
        const connection = yield* MemoryTransport.connect(server.handler)({ host: "localhost", port: 143, timeout: 1000 })
        let received = ""
        const until = (suffix: string) =>
          Effect.gen(function*() {
            while (!received.endsWith(suffix)) {
              const chunks = yield* connection.pull
              received += Buffer.concat(chunks).toString("latin1")
            }
          })
        yield* until(`ready.${CRLF}`)
        yield* connection.write([Buffer.from(`a STARTTLS${CRLF}`)])
        yield* until(`a OK Begin TLS negotiation now.${CRLF}`)
        const tls = yield* connection.upgrade({ host: "localhost", trustOnly: [Certificates.ca.cert] })
        assert.isTrue(tls.verified)
        received = ""
        yield* connection.write([Buffer.from(`b CAPABILITY${CRLF}`)])
        yield* until(`b OK Pre-login capabilities listed, post-login capabilities have more.${CRLF}`)
        assert.isTrue(received.startsWith(`* CAPABILITY ${AFTER_TLS}${CRLF}`))
      }))

    it.live("serves a real TCP socket through LoopbackServer", () =>
      Effect.gen(function*() {
        const server = yield* ImapServer.make()
        const loopback = yield* LoopbackServer.make(server.handler)
        const socket = Net.connect(loopback.port, loopback.host)
        const session = { client: TestClient.make(socket) }
        yield* session.client.readLine
        yield* run(session, "a", "STARTTLS")
        yield* session.client.startTls(tlsOptions)
        assert.match(yield* run(session, "b", `AUTHENTICATE PLAIN ${plainIr("test", "secret")}`), /^b OK \[CAPABILITY /)
        assert.strictEqual(yield* run(session, "c", "LOGOUT"), `* BYE Logging out${CRLF}c OK Logout completed.${CRLF}`)
        yield* session.client.awaitClosed
        const exit = yield* loopback.next
        assert.isTrue(exit._tag === "Success" && exit.value.closed() && exit.value.state() === "Logout")
      }))
  })

  describe("authentication", () => {
    it.live("AUTHENTICATE PLAIN with SASL-IR returns the capabilities in the tagged OK", () =>
      Effect.gen(function*() {
        const server = yield* ImapServer.make()
        const session = yield* open(server)
        yield* session.client.readLine
        yield* run(session, "a", "STARTTLS")
        yield* session.client.startTls(tlsOptions)
        assert.strictEqual(
          yield* run(session, "b", `AUTHENTICATE PLAIN ${plainIr("test", "wrong")}`),
          `b NO [AUTHENTICATIONFAILED] Authentication failed.${CRLF}`
        )
        assert.strictEqual(
          yield* run(session, "c", `AUTHENTICATE PLAIN ${plainIr("test", "secret")}`),
          `c OK [CAPABILITY ${AUTHENTICATED}] Logged in${CRLF}`
        )
        const connection = server.connections()[0]!
        assert.strictEqual(connection.user(), "test")
        assert.strictEqual(connection.state(), "Authenticated")
        yield* Recording.assertNoSecretInPlaintext(connection.recording(), ["secret"])
      }))

    it.live("AUTHENTICATE without an initial response, LOGIN mechanism, and cancellation", () =>
      Effect.gen(function*() {
        const server = yield* plaintextServer()
        const session = yield* open(server)
        const { client } = session
        yield* client.readLine
        yield* client.write(`a AUTHENTICATE PLAIN${CRLF}`)
        assert.strictEqual(yield* client.readLine, `+ ${CRLF}`)
        yield* client.write(`*${CRLF}`)
        assert.strictEqual(yield* client.readLine, `a BAD Error in IMAP command AUTHENTICATE: Authentication aborted by client.${CRLF}`)
        yield* client.write(`b AUTHENTICATE LOGIN${CRLF}`)
        assert.strictEqual(yield* client.readLine, `+ VXNlcm5hbWU6${CRLF}`)
        yield* client.write(`${Buffer.from("test").toString("base64")}${CRLF}`)
        assert.strictEqual(yield* client.readLine, `+ UGFzc3dvcmQ6${CRLF}`)
        yield* client.write(`${Buffer.from("secret").toString("base64")}${CRLF}`)
        assert.strictEqual(yield* client.readLine, `b OK [CAPABILITY ${AUTHENTICATED}] Logged in${CRLF}`)
        assert.strictEqual(yield* run(session, "c", "LOGIN test secret"), `c BAD Error in IMAP command LOGIN: Already logged in.${CRLF}`)
      }))

    it.live("SCRAM-SHA-256-PLUS with tls-exporter channel binding, checked by core's SASL client", () =>
      Effect.gen(function*() {
        const server = yield* ImapServer.make({ mechanisms: ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN"] })
        const session = yield* open(server)
        const { client } = session
        yield* client.readLine
        yield* run(session, "a", "STARTTLS")
        const socket: NodeTls.TLSSocket = yield* client.startTls(tlsOptions)
        const caps = yield* run(session, "b", "CAPABILITY")
        assert.include(caps, "AUTH=SCRAM-SHA-256-PLUS AUTH=SCRAM-SHA-256 AUTH=PLAIN")
        const credentials = Credentials.password({ username: "test", password: Redacted.make("secret") })
        const channelBinding = new Uint8Array(socket.exportKeyingMaterial(32, "EXPORTER-Channel-Binding", Buffer.alloc(0)))
        const start = Sasl.start("SCRAM-SHA-256-PLUS", { credentials, channelBinding, offered: ["SCRAM-SHA-256-PLUS"] })
        assert.isTrue(Result.isSuccess(start))
        if (!Result.isSuccess(start)) return
        const first = Buffer.from(Redacted.value(start.success.response!)).toString("base64")
        yield* client.write(`c AUTHENTICATE SCRAM-SHA-256-PLUS ${first}${CRLF}`)
        const challenge = (yield* client.readLine).slice(2, -2)
        const step = Sasl.step(start.success.state, Buffer.from(challenge, "base64"))
        assert.isTrue(Result.isSuccess(step))
        if (!Result.isSuccess(step)) return
        yield* client.write(`${Buffer.from(Redacted.value(step.success.response)).toString("base64")}${CRLF}`)
        const final = (yield* client.readLine).slice(2, -2)
        // The server proves it knows the password: the client accepts its signature.
        assert.isTrue(Result.isSuccess(Sasl.finish(step.success.state, Buffer.from(final, "base64"))))
        yield* client.write(CRLF)
        assert.strictEqual(yield* client.readLine, `c OK [CAPABILITY ${AUTHENTICATED}] Logged in${CRLF}`)
      }))

    it.live("XOAUTH2 accepts the configured token and reports a wrong one with a JSON challenge", () =>
      Effect.gen(function*() {
        const server = yield* plaintextServer({ mechanisms: ["XOAUTH2"], tokens: { test: "tok123" } })
        const session = yield* open(server)
        const { client } = session
        yield* client.readLine
        const xoauth = (token: string) => Buffer.from(`user=test\x01auth=Bearer ${token}\x01\x01`).toString("base64")
        yield* client.write(`a AUTHENTICATE XOAUTH2 ${xoauth("nope")}${CRLF}`)
        const error = (yield* client.readLine).slice(2, -2)
        assert.include(Buffer.from(error, "base64").toString(), `"status":"401"`)
        yield* client.write(CRLF)
        assert.strictEqual(yield* client.readLine, `a NO [AUTHENTICATIONFAILED] Authentication failed.${CRLF}`)
        assert.match(yield* run(session, "b", `AUTHENTICATE XOAUTH2 ${xoauth("tok123")}`), /^b OK \[CAPABILITY /)
      }))
  })

  describe("mailboxes", () => {
    it.live("SELECT and EXAMINE answer like Dovecot", () =>
      Effect.gen(function*() {
        const server = yield* plaintextServer()
        server.append("test", "INBOX", message("one"), { flags: ["\\Seen"] })
        server.append("test", "INBOX", message("two"))
        const session = yield* plainLogin(server)
        assert.strictEqual(
          yield* run(session, "s", "SELECT INBOX"),
          [
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.",
            "* 2 EXISTS",
            "* 2 RECENT",
            "* OK [UNSEEN 2] First unseen.",
            "* OK [UIDVALIDITY 1] UIDs valid",
            "* OK [UIDNEXT 3] Predicted next UID",
            "* OK [HIGHESTMODSEQ 3] Highest",
            "s OK [READ-WRITE] Select completed.",
            ""
          ].join(CRLF)
        )
        assert.strictEqual(
          yield* run(session, "e", "EXAMINE inbox"),
          [
            "* OK [CLOSED] Previous mailbox closed.",
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
            "* OK [PERMANENTFLAGS ()] Read-only mailbox.",
            "* 2 EXISTS",
            "* 0 RECENT",
            "* OK [UNSEEN 2] First unseen.",
            "* OK [UIDVALIDITY 1] UIDs valid",
            "* OK [UIDNEXT 3] Predicted next UID",
            "* OK [HIGHESTMODSEQ 3] Highest",
            "e OK [READ-ONLY] Examine completed.",
            ""
          ].join(CRLF)
        )
        assert.strictEqual(yield* run(session, "f", "STORE 1 +FLAGS (\\Deleted)"), `f NO Mailbox is read-only.${CRLF}`)
        // RFC 7162 §3.2.11: the previous mailbox is closed even though the new one does not exist.
        assert.strictEqual(
          yield* run(session, "g", "SELECT Nope"),
          `* OK [CLOSED] Previous mailbox closed.${CRLF}g NO Mailbox doesn't exist: Nope${CRLF}`
        )
        assert.strictEqual(yield* run(session, "h", "FETCH 1 FLAGS"), `h BAD Error in IMAP command FETCH: No mailbox selected.${CRLF}`)
      }))

    it.live("LIST, LSUB, special-use, CREATE, RENAME, DELETE, STATUS", () =>
      Effect.gen(function*() {
        const server = yield* plaintextServer({ mailboxes: ImapServer.standardMailboxes })
        server.append("test", "INBOX", message("a"))
        const session = yield* plainLogin(server)
        assert.strictEqual(
          yield* run(session, "a", `LIST "" "*"`),
          [
            `* LIST (\\HasNoChildren) "/" INBOX`,
            `* LIST (\\HasNoChildren \\Archive) "/" Archive`,
            `* LIST (\\HasNoChildren \\Drafts) "/" Drafts`,
            `* LIST (\\HasNoChildren \\Junk) "/" Junk`,
            `* LIST (\\HasNoChildren \\Sent) "/" Sent`,
            `* LIST (\\HasNoChildren \\Trash) "/" Trash`,
            "a OK LIST completed.",
            ""
          ].join(CRLF)
        )
        assert.strictEqual(yield* run(session, "b", `CREATE "Work/Project X"`), `b OK Create completed.${CRLF}`)
        assert.strictEqual(yield* run(session, "c", `CREATE Work`), `c NO Mailbox already exists${CRLF}`)
        assert.strictEqual(
          yield* run(session, "d", `LIST "" "W%"`),
          `* LIST (\\HasChildren) "/" Work${CRLF}d OK LIST completed.${CRLF}`
        )
        assert.strictEqual(
          yield* run(session, "e", `LIST "Work/" "%"`),
          `* LIST (\\HasNoChildren) "/" "Work/Project X"${CRLF}e OK LIST completed.${CRLF}`
        )
        assert.strictEqual(
          yield* run(session, "f", `LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))`),
          [
            `* LIST (\\HasNoChildren \\Archive) "/" Archive`,
            "* STATUS Archive (MESSAGES 0 UNSEEN 0)",
            `* LIST (\\HasNoChildren \\Drafts) "/" Drafts`,
            "* STATUS Drafts (MESSAGES 0 UNSEEN 0)",
            `* LIST (\\HasNoChildren \\Junk) "/" Junk`,
            "* STATUS Junk (MESSAGES 0 UNSEEN 0)",
            `* LIST (\\HasNoChildren \\Sent) "/" Sent`,
            "* STATUS Sent (MESSAGES 0 UNSEEN 0)",
            `* LIST (\\HasNoChildren \\Trash) "/" Trash`,
            "* STATUS Trash (MESSAGES 0 UNSEEN 0)",
            "f OK LIST completed.",
            ""
          ].join(CRLF)
        )
        assert.strictEqual(yield* run(session, "g", `LIST "" ""`), `* LIST (\\Noselect) "/" ""${CRLF}g OK LIST completed.${CRLF}`)
        assert.strictEqual(yield* run(session, "h", `RENAME Work Play`), `h OK Rename completed.${CRLF}`)
        assert.deepStrictEqual(
          server.mailboxes("test").map((m) => m.name).filter((n) => n.startsWith("P")),
          ["Play", "Play/Project X"]
        )
        assert.strictEqual(yield* run(session, "i", `DELETE Play`), `i NO Mailbox has children, delete them first${CRLF}`)
        assert.strictEqual(yield* run(session, "j", `DELETE "Play/Project X"`), `j OK Delete completed.${CRLF}`)
        assert.strictEqual(yield* run(session, "k", `DELETE INBOX`), `k NO INBOX can't be deleted.${CRLF}`)
        assert.strictEqual(yield* run(session, "l", `UNSUBSCRIBE Junk`), `l OK Unsubscribe completed.${CRLF}`)
        assert.strictEqual(
          yield* run(session, "m", `LSUB "" "*"`),
          [`* LSUB () "/" Archive`, `* LSUB () "/" Drafts`, `* LSUB () "/" Sent`, `* LSUB () "/" Trash`, "m OK LSUB completed.", ""]
            .join(CRLF)
        )
        assert.strictEqual(
          yield* run(session, "n", "STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ)"),
          `* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 1 UNSEEN 1 DELETED 0 SIZE ${message("a").length} HIGHESTMODSEQ 2)${CRLF}` +
            `n OK Status completed.${CRLF}`
        )
        assert.strictEqual(yield* run(session, "o", "NAMESPACE"), `* NAMESPACE (("" "/")) NIL NIL${CRLF}o OK Namespace completed.${CRLF}`)
        assert.strictEqual(
          yield* run(session, "p", "ENABLE CONDSTORE UTF8=ACCEPT X-UNKNOWN"),
          `* ENABLED CONDSTORE UTF8=ACCEPT${CRLF}p OK Enabled.${CRLF}`
        )
        assert.strictEqual(yield* run(session, "q", `ID ("name" "test")`), `* ID ("name" "Dovecot")${CRLF}q OK ID completed.${CRLF}`)
      }))
  })

  describe("messages", () => {
    it.live("APPEND with a synchronizing literal and with LITERAL+, then FETCH byte-exact", () =>
      Effect.gen(function*() {
        const server = yield* plaintextServer()
        const session = yield* plainLogin(server)
        const { client } = session
        const body = `Subject: bytes\r\n\r\n\x00\x01 8-bit \xe9\xff and a bare\nLF\r\n`
        yield* client.write(`a APPEND INBOX (\\Flagged) "07-Feb-1994 21:52:25 -0800" {${body.length}}${CRLF}`)
        assert.strictEqual(yield* client.readLine, `+ OK${CRLF}`)
        yield* client.write(Buffer.from(body + CRLF, "latin1"))
        assert.strictEqual(yield* client.readLine, `a OK [APPENDUID 1 1] Append completed.${CRLF}`)
        // LITERAL+: no continuation request, the whole command in one write.
        const second = message("plus")
        yield* client.write(`b APPEND INBOX {${second.length}+}${CRLF}${second}${CRLF}`)
        assert.strictEqual(yield* client.readLine, `b OK [APPENDUID 1 2] Append completed.${CRLF}`)
        const stored = server.messages("test", "INBOX")
        assert.deepStrictEqual(Buffer.from(stored[0]!.bytes).toString("latin1"), body)
        assert.deepStrictEqual(stored[0]!.flags, ["\\Flagged"])
        assert.strictEqual(stored[0]!.internalDate.toISOString(), "1994-02-08T05:52:25.000Z")
        yield* run(session, "c", "SELECT INBOX")
        assert.strictEqual(
          yield* run(session, "d", "FETCH 1 (INTERNALDATE RFC822.SIZE BODY.PEEK[])"),
          `* 1 FETCH (INTERNALDATE "07-Feb-1994 21:52:25 -0800" RFC822.SIZE ${body.length} BODY[] {${body.length}}${CRLF}${body})${CRLF}` +
            `d OK Fetch completed.${CRLF}`
        )
        assert.strictEqual(
          yield* run(session, "e", "UID FETCH 2 (BODY[TEXT] BODY.PEEK[HEADER]<0.9>)"),
          `* 2 FETCH (UID 2 BODY[TEXT] {7}${CRLF}hello${CRLF} BODY[HEADER]<0> {9}${CRLF}From: a@e FLAGS (\\Seen \\Recent))${CRLF}` +
            `e OK Fetch completed.${CRLF}`
        )
        assert.strictEqual(
          yield* run(session, "f", "FETCH 2 (RFC822.HEADER)"),
          `* 2 FETCH (RFC822.HEADER {${second.length - 7}}${CRLF}${second.slice(0, -7)})${CRLF}f OK Fetch completed.${CRLF}`
        )
        assert.strictEqual(yield* run(session, "g", "APPEND Nope {1+}\r\nx"), `g NO [TRYCREATE] Mailbox doesn't exist: Nope${CRLF}`)
        // RFC 6855 §4 / RFC 3516 literal8.
        const utf8 = Buffer.from(`Subject: caf\u00e9${CRLF}${CRLF}x${CRLF}`).toString("latin1")
        yield* client.write(Buffer.from(`h APPEND INBOX UTF8 (~{${utf8.length}+}${CRLF}${utf8})${CRLF}`, "latin1"))
        assert.strictEqual(
          yield* readTagged(client, "h"),
          `* 3 EXISTS${CRLF}* 3 RECENT${CRLF}h OK [APPENDUID 1 3] Append completed.${CRLF}`
        )
        assert.strictEqual(Buffer.from(server.messages("test", "INBOX")[2]!.bytes).toString("utf8"), `Subject: caf\u00e9${CRLF}${CRLF}x${CRLF}`)
      }))

    const multipart = [
      "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)",
      "From: Fred Foobar <foobar@Blurdybloop.example>",
      "Subject: afternoon meeting",
      `To: mooch@owatagu.siam.edu.example, "Joe Q. Public" <joe@example.com>`,
      "Cc: Group: a@b.example, c@d.example;",
      "Message-Id: <B27397-0100000@Blurdybloop.example>",
      "MIME-Version: 1.0",
      `Content-Type: multipart/mixed; boundary="XYZ"`,
      "",
      "preamble",
      "--XYZ",
      "Content-Type: text/plain; charset=utf-8",
      "",
      "Hello Joe, do you think we can meet at 3:30 tomorrow?",
      "--XYZ",
      `Content-Type: application/octet-stream; name="a.bin"`,
      "Content-Transfer-Encoding: base64",
      `Content-Disposition: attachment; filename="a.bin"`,
      "",
      "AAECAw==",
      "--XYZ--",
      "epilogue",
      ""
    ].join(CRLF)

    it.live("ENVELOPE and BODYSTRUCTURE of a multipart message (RFC 9051 §7.5.2 / §9 grammar)", () =>
      Effect.gen(function*() {
        const server = yield* plaintextServer()
        server.append("test", "INBOX", multipart)
        const session = yield* plainLogin(server)
        yield* run(session, "s", "EXAMINE INBOX")
        const fred = `("Fred Foobar" NIL "foobar" "Blurdybloop.example")`
        const envelope = `("Mon, 7 Feb 1994 21:52:25 -0800 (PST)" "afternoon meeting" (${fred}) (${fred}) (${fred}) ` +
          `((NIL NIL "mooch" "owatagu.siam.edu.example")("Joe Q. Public" NIL "joe" "example.com")) ` +
          `((NIL NIL "Group" NIL)(NIL NIL "a" "b.example")(NIL NIL "c" "d.example")(NIL NIL NIL NIL)) ` +
          `NIL NIL "<B27397-0100000@Blurdybloop.example>")`
        const structure = `(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 53 1 NIL NIL NIL NIL)` +
          `("application" "octet-stream" ("name" "a.bin") NIL NIL "base64" 8 NIL ("attachment" ("filename" "a.bin")) NIL NIL)` +
          ` "mixed" ("boundary" "XYZ") NIL NIL NIL)`
        const body = `(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 53 1)` +
          `("application" "octet-stream" ("name" "a.bin") NIL NIL "base64" 8) "mixed")`
        assert.strictEqual(
          yield* run(session, "a", "FETCH 1 (ENVELOPE BODYSTRUCTURE BODY)"),
          `* 1 FETCH (ENVELOPE ${envelope} BODYSTRUCTURE ${structure} BODY ${body})${CRLF}a OK Fetch completed.${CRLF}`
        )
        const part1 = "Hello Joe, do you think we can meet at 3:30 tomorrow?"
        const mime2 = `Content-Type: application/octet-stream; name="a.bin"${CRLF}Content-Transfer-Encoding: base64${CRLF}` +
          `Content-Disposition: attachment; filename="a.bin"${CRLF}${CRLF}`
        const fields = `From: Fred Foobar <foobar@Blurdybloop.example>${CRLF}Subject: afternoon meeting${CRLF}${CRLF}`
        assert.strictEqual(
          yield* run(session, "b", "FETCH 1 (BODY[1] BODY[2] BODY[2.MIME] BODY[HEADER.FIELDS (Subject FROM)] BODY[3])"),
          `* 1 FETCH (BODY[1] {53}${CRLF}${part1} BODY[2] {8}${CRLF}AAECAw== BODY[2.MIME] {${mime2.length}}${CRLF}${mime2}` +
            ` BODY[HEADER.FIELDS (Subject FROM)] {${fields.length}}${CRLF}${fields} BODY[3] NIL)${CRLF}b OK Fetch completed.${CRLF}`
        )
        // EXAMINE: a non-PEEK fetch does not set \Seen.
        assert.deepStrictEqual(server.messages("test", "INBOX")[0]!.flags, [])
      }))

    it.live("ENVELOPE NIL rules, nested message/rfc822 and a single-part body", () =>
      Effect.gen(function*() {
        const server = yield* plaintextServer()
        const inner = `From: x@y.example${CRLF}Subject: inner${CRLF}${CRLF}inner body${CRLF}`
        server.append("test", "INBOX", `Subject: outer${CRLF}Content-Type: message/rfc822${CRLF}${CRLF}${inner}`)
        server.append("test", "INBOX", `X-No-Headers: at all${CRLF}${CRLF}two${CRLF}lines`)
        const session = yield* plainLogin(server)
        yield* run(session, "s", "SELECT INBOX")
        const innerEnvelope = `(NIL "inner" ((NIL NIL "x" "y.example")) ((NIL NIL "x" "y.example")) ((NIL NIL "x" "y.example")) NIL NIL NIL NIL NIL)`
        assert.strictEqual(
          yield* run(session, "a", "FETCH 1:2 (ENVELOPE BODYSTRUCTURE)"),
          `* 1 FETCH (ENVELOPE (NIL "outer" NIL NIL NIL NIL NIL NIL NIL NIL) BODYSTRUCTURE ("message" "rfc822" NIL NIL NIL "7bit" ${inner.length} ` +
            `${innerEnvelope} ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 12 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL))${CRLF}` +
            `* 2 FETCH (ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) BODYSTRUCTURE ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 2 NIL NIL NIL NIL))${CRLF}` +
            `a OK Fetch completed.${CRLF}`
        )
        assert.strictEqual(
          yield* run(session, "b", "FETCH 1 (BODY.PEEK[1.HEADER] BODY.PEEK[1.TEXT])"),
          `* 1 FETCH (BODY[1.HEADER] {37}${CRLF}From: x@y.example${CRLF}Subject: inner${CRLF}${CRLF} BODY[1.TEXT] {12}${CRLF}inner body${CRLF})${CRLF}` +
            `b OK Fetch completed.${CRLF}`
        )
      }))

    it.live("STORE changes flags, bumps MODSEQ, and a non-PEEK fetch sets \\Seen", () =>
      Effect.gen(function*() {
        const server = yield* plaintextServer()
        server.append("test", "INBOX", message("1"))
        server.append("test", "INBOX", message("2"))
        const session = yield* plainLogin(server)
        yield* run(session, "s", "SELECT INBOX")
        assert.strictEqual(
          yield* run(session, "a", "STORE 1:2 +FLAGS (\\Flagged $Work)"),
          `* 1 FETCH (FLAGS (\\Flagged $Work \\Recent))${CRLF}* 2 FETCH (FLAGS (\\Flagged $Work \\Recent))${CRLF}a OK Store completed.${CRLF}`
        )
        assert.strictEqual(yield* run(session, "b", "STORE 1 -FLAGS.SILENT \\Flagged"), `b OK Store completed.${CRLF}`)
        assert.strictEqual(
          yield* run(session, "c", "UID STORE 2 FLAGS (\\Answered)"),
          `* 2 FETCH (UID 2 FLAGS (\\Answered \\Recent))${CRLF}c OK Store completed.${CRLF}`
        )
        assert.strictEqual(yield* run(session, "d", "STORE 1 +FLAGS (\\Bogus)"), `d BAD Error in IMAP command STORE: Invalid system flag \\Bogus.${CRLF}`)
        assert.strictEqual(yield* run(session, "e", "ENABLE CONDSTORE"), `* ENABLED CONDSTORE${CRLF}e OK Enabled.${CRLF}`)
        assert.strictEqual(
          yield* run(session, "f", "FETCH 1 (BODY[TEXT])"),
          `* 1 FETCH (BODY[TEXT] {7}${CRLF}hello${CRLF} FLAGS ($Work \\Seen \\Recent) MODSEQ (8))${CRLF}f OK Fetch completed.${CRLF}`
        )
        // Message 1 changed at 8 (after 7): refused; message 2 was last changed at 7.
        assert.strictEqual(
          yield* run(session, "g", "STORE 1,2 (UNCHANGEDSINCE 7) +FLAGS (\\Deleted)"),
          `* 2 FETCH (FLAGS (\\Answered \\Deleted \\Recent) MODSEQ (9))${CRLF}g OK [MODIFIED 1] Conditional STORE failed.${CRLF}`
        )
        assert.strictEqual(
          yield* run(session, "h", "FETCH 1:* (UID FLAGS) (CHANGEDSINCE 8)"),
          `* 2 FETCH (UID 2 FLAGS (\\Answered \\Deleted \\Recent) MODSEQ (9))${CRLF}h OK Fetch completed.${CRLF}`
        )
        assert.deepStrictEqual(server.messages("test", "INBOX").map((m) => [m.flags, m.modseq]), [
          [["$Work", "\\Seen"], 8],
          [["\\Answered", "\\Deleted"], 9]
        ])
      }))

    it.live("SEARCH and ESEARCH", () =>
      Effect.gen(function*() {
        const server = yield* plaintextServer()
        server.append("test", "INBOX", message("Quarterly report", "numbers inside"), {
          flags: ["\\Seen"],
          internalDate: new Date("2024-01-10T12:00:00Z")
        })
        server.append("test", "INBOX", message("lunch?", "are you HUNGRY"), { internalDate: new Date("2024-02-01T00:00:00Z") })
        server.append("test", "INBOX", `Subject: big${CRLF}X-Tag: blue${CRLF}${CRLF}${"x".repeat(5000)}${CRLF}`, {
          flags: ["\\Flagged"],
          internalDate: new Date("2024-03-01T00:00:00Z")
        })
        const session = yield* plainLogin(server)
        yield* run(session, "s", "SELECT INBOX")
        const search = (tag: string, criteria: string) => run(session, tag, `SEARCH ${criteria}`)
        assert.strictEqual(yield* search("a", "ALL"), `* SEARCH 1 2 3${CRLF}a OK Search completed.${CRLF}`)
        assert.strictEqual(yield* search("b", "UNSEEN"), `* SEARCH 2 3${CRLF}b OK Search completed.${CRLF}`)
        assert.strictEqual(yield* search("c", `SUBJECT "REPORT"`), `* SEARCH 1${CRLF}c OK Search completed.${CRLF}`)
        assert.strictEqual(yield* search("d", "BODY hungry"), `* SEARCH 2${CRLF}d OK Search completed.${CRLF}`)
        assert.strictEqual(yield* search("e", "LARGER 1000"), `* SEARCH 3${CRLF}e OK Search completed.${CRLF}`)
        assert.strictEqual(yield* search("f", "OR FLAGGED SEEN"), `* SEARCH 1 3${CRLF}f OK Search completed.${CRLF}`)
        assert.strictEqual(yield* search("g", "NOT (SINCE 1-Feb-2024)"), `* SEARCH 1${CRLF}g OK Search completed.${CRLF}`)
        assert.strictEqual(yield* search("h", "ON 1-Feb-2024 FROM a@example"), `* SEARCH 2${CRLF}h OK Search completed.${CRLF}`)
        assert.strictEqual(yield* search("i", "HEADER X-Tag blue 2:*"), `* SEARCH 3${CRLF}i OK Search completed.${CRLF}`)
        assert.strictEqual(yield* search("j", "TEXT NOTHING-LIKE-THIS"), `* SEARCH${CRLF}j OK Search completed.${CRLF}`)
        assert.strictEqual(yield* run(session, "k", "UID SEARCH UID 2:3 UNFLAGGED"), `* SEARCH 2${CRLF}k OK Search completed.${CRLF}`)
        assert.strictEqual(
          yield* search("l", "RETURN (MIN MAX COUNT ALL) UNSEEN"),
          `* ESEARCH (TAG "l") MIN 2 MAX 3 COUNT 2 ALL 2:3${CRLF}l OK Search completed.${CRLF}`
        )
        assert.strictEqual(
          yield* run(session, "m", "UID SEARCH RETURN () DELETED"),
          `* ESEARCH (TAG "m") UID${CRLF}m OK Search completed.${CRLF}`
        )
        assert.strictEqual(
          yield* search("n", "CHARSET KOI8-R ALL"),
          `n NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset.${CRLF}`
        )
        assert.strictEqual(yield* search("o", "FOO"), `o BAD Error in IMAP command SEARCH: Unknown search key FOO.${CRLF}`)
        assert.strictEqual(yield* search("p", "2:* FLAGGED"), `* SEARCH 3${CRLF}p OK Search completed.${CRLF}`)
      }))

    it.live("EXPUNGE renumbers, UID EXPUNGE and CLOSE expunge only what they should", () =>
      Effect.gen(function*() {
        const server = yield* plaintextServer()
        for (let i = 1; i <= 6; i++) server.append("test", "INBOX", message(`m${i}`), { flags: i % 2 === 1 ? ["\\Deleted"] : [] })
        const session = yield* plainLogin(server)
        yield* run(session, "s", "SELECT INBOX")
        // 1, 3, 5 are \Deleted: each EXPUNGE renumbers the rest.
        assert.strictEqual(
          yield* run(session, "a", "EXPUNGE"),
          `* 1 EXPUNGE${CRLF}* 2 EXPUNGE${CRLF}* 3 EXPUNGE${CRLF}a OK Expunge completed.${CRLF}`
        )
        assert.strictEqual(
          yield* run(session, "b", "FETCH 1:* (UID)"),
          `* 1 FETCH (UID 2)${CRLF}* 2 FETCH (UID 4)${CRLF}* 3 FETCH (UID 6)${CRLF}b OK Fetch completed.${CRLF}`
        )
        yield* run(session, "c", "STORE 1:3 +FLAGS.SILENT (\\Deleted)")
        assert.strictEqual(yield* run(session, "d", "UID EXPUNGE 4:5"), `* 2 EXPUNGE${CRLF}d OK Expunge completed.${CRLF}`)
        assert.strictEqual(yield* run(session, "e", "FETCH 3 UID"), `e BAD Error in IMAP command FETCH: Invalid messageset${CRLF}`)
        assert.strictEqual(yield* run(session, "f", "CLOSE"), `f OK Close completed.${CRLF}`)
        assert.deepStrictEqual(server.messages("test", "INBOX"), [])
        yield* run(session, "g", "SELECT INBOX")
        assert.strictEqual(yield* run(session, "h", "FETCH * UID"), `h BAD Error in IMAP command FETCH: Invalid messageset${CRLF}`)
      }))

    it.live("COPY and MOVE answer with COPYUID; MOVE sends EXPUNGEs", () =>
      Effect.gen(function*() {
        const server = yield* plaintextServer({ mailboxes: [{ name: "Archive", specialUse: "\\Archive" }] })
        for (let i = 1; i <= 4; i++) server.append("test", "INBOX", message(`m${i}`))
        server.append("test", "Archive", message("old"))
        const session = yield* plainLogin(server)
        yield* run(session, "s", "SELECT INBOX")
        assert.strictEqual(yield* run(session, "a", "COPY 1:2 Archive"), `a OK [COPYUID 2 1:2 2:3] Copy completed.${CRLF}`)
        assert.strictEqual(
          yield* run(session, "b", "UID MOVE 2,4 Archive"),
          `* OK [COPYUID 2 2,4 4:5] Moved UIDs.${CRLF}* 2 EXPUNGE${CRLF}* 3 EXPUNGE${CRLF}b OK Move completed.${CRLF}`
        )
        assert.strictEqual(yield* run(session, "c", "COPY 1 Nowhere"), `c NO [TRYCREATE] Mailbox doesn't exist: Nowhere${CRLF}`)
        assert.deepStrictEqual(server.messages("test", "INBOX").map((m) => m.uid), [1, 3])
        assert.deepStrictEqual(server.messages("test", "Archive").map((m) => m.uid), [1, 2, 3, 4, 5])
        assert.deepStrictEqual(
          server.messages("test", "Archive").map((m) => Buffer.from(m.bytes).toString()),
          ["old", "m1", "m2", "m2", "m4"].map((s) => message(s))
        )
      }))

    it.live("FETCH of a 50 MB message is written in bounded chunks and arrives byte-exact", () =>
      Effect.gen(function*() {
        const server = yield* plaintextServer()
        const big = Buffer.alloc(50 * 1024 * 1024, "0123456789abcdef\r\n")
        big.write(`Subject: big${CRLF}${CRLF}`, 0, "latin1")
        server.append("test", "INBOX", big)
        const session = yield* plainLogin(server)
        yield* run(session, "s", "EXAMINE INBOX")
        yield* session.client.write(`f FETCH 1 BODY.PEEK[]${CRLF}`)
        const before = session.client.received.length
        const header = `* 1 FETCH (BODY[] {${big.length}}${CRLF}`
        const trailer = `)${CRLF}f OK Fetch completed.${CRLF}`
        const total = header.length + big.length + trailer.length
        let got = 0
        while (got < total) {
          const all = yield* session.client.awaitChunks(session.client.received.length + 1)
          got = all.slice(before).reduce((n, c) => n + c.text.length, 0)
        }
        const chunks = session.client.received.slice(before)
        const text = chunks.map((c) => c.text).join("")
        assert.strictEqual(text.length, total)
        assert.isTrue(text.startsWith(header) && text.endsWith(trailer))
        const digest = (b: Buffer) => createHash("sha256").update(b).digest("hex")
        assert.strictEqual(digest(Buffer.from(text.slice(header.length, header.length + big.length), "latin1")), digest(big))
        assert.isTrue(chunks.length >= 200 && chunks.every((c) => c.text.length <= 256 * 1024 + 64))
      }), { timeout: 60_000 })
  })

  describe("other sessions' changes", () => {
    it.live("IDLE delivers EXISTS, FETCH and EXPUNGE made by another session and by test code", () =>
      Effect.gen(function*() {
        const server = yield* plaintextServer()
        server.append("test", "INBOX", message("first"))
        const watcher = yield* plainLogin(server)
        const actor = yield* plainLogin(server)
        yield* run(watcher, "w1", "SELECT INBOX")
        yield* run(actor, "a1", "SELECT INBOX")
        yield* watcher.client.write(`w2 IDLE${CRLF}`)
        assert.strictEqual(yield* watcher.client.readLine, `+ idling${CRLF}`)
        const second = message("second")
        yield* run(actor, "a2", `APPEND INBOX {${second.length}+}${CRLF}${second}`)
        // The new message is \\Recent in the session that added it, so only EXISTS here.
        assert.strictEqual(yield* watcher.client.readLine, `* 2 EXISTS${CRLF}`)
        yield* run(actor, "a3", "STORE 1 +FLAGS (\\Deleted)")
        assert.strictEqual(yield* watcher.client.readLine, `* 1 FETCH (FLAGS (\\Deleted \\Recent))${CRLF}`)
        yield* run(actor, "a4", "EXPUNGE")
        assert.strictEqual(yield* watcher.client.readLine, `* 1 EXPUNGE${CRLF}`)
        server.append("test", "INBOX", message("from test code"))
        // Added by test code: \\Recent in the oldest session with INBOX selected read-write.
        assert.strictEqual(yield* watcher.client.readLine, `* 2 EXISTS${CRLF}`)
        assert.strictEqual(yield* watcher.client.readLine, `* 1 RECENT${CRLF}`)
        yield* watcher.client.write(`DONE${CRLF}`)
        assert.strictEqual(yield* watcher.client.readLine, `w2 OK Idle completed.${CRLF}`)
      }))

    it.live("holds EXPUNGE back during FETCH, STORE and SEARCH, and delivers it at NOOP", () =>
      Effect.gen(function*() {
        const server = yield* plaintextServer()
        for (let i = 1; i <= 3; i++) server.append("test", "INBOX", message(`m${i}`))
        const session = yield* plainLogin(server)
        yield* run(session, "s", "SELECT INBOX")
        server.expunge("test", "INBOX", [2])
        server.setFlags("test", "INBOX", 3, ["\\Answered"])
        // Sequence numbers stay valid: message 3 is still number 3 during FETCH.
        assert.strictEqual(
          yield* run(session, "a", "FETCH 3 (UID)"),
          `* 3 FETCH (UID 3)${CRLF}* 3 FETCH (FLAGS (\\Answered \\Recent))${CRLF}a OK Fetch completed.${CRLF}`
        )
        assert.strictEqual(yield* run(session, "b", "SEARCH ALL"), `* SEARCH 1 3${CRLF}b OK Search completed.${CRLF}`)
        assert.strictEqual(yield* run(session, "c", "NOOP"), `* 2 EXPUNGE${CRLF}c OK NOOP completed.${CRLF}`)
        assert.strictEqual(yield* run(session, "d", "ENABLE QRESYNC"), `* ENABLED QRESYNC${CRLF}d OK Enabled.${CRLF}`)
        server.expunge("test", "INBOX", [1])
        assert.strictEqual(yield* run(session, "e", "NOOP"), `* VANISHED 1${CRLF}e OK NOOP completed.${CRLF}`)
      }))

    it.live("QRESYNC: SELECT with known state and UID FETCH (CHANGEDSINCE VANISHED)", () =>
      Effect.gen(function*() {
        const server = yield* plaintextServer()
        for (let i = 1; i <= 4; i++) server.append("test", "INBOX", message(`m${i}`))
        const session = yield* plainLogin(server)
        yield* run(session, "e", "ENABLE QRESYNC")
        // modseq 5 = after the four appends; then 2 is expunged (6) and 3 flagged (7).
        server.expunge("test", "INBOX", [2])
        server.setFlags("test", "INBOX", 3, ["\\Flagged"])
        assert.strictEqual(
          yield* run(session, "s", "SELECT INBOX (QRESYNC (1 5 1:4))"),
          [
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.",
            "* 3 EXISTS",
            "* 3 RECENT",
            "* OK [UNSEEN 1] First unseen.",
            "* OK [UIDVALIDITY 1] UIDs valid",
            "* OK [UIDNEXT 5] Predicted next UID",
            "* OK [HIGHESTMODSEQ 7] Highest",
            "* VANISHED (EARLIER) 2",
            "* 2 FETCH (UID 3 FLAGS (\\Flagged \\Recent) MODSEQ (7))",
            "s OK [READ-WRITE] Select completed.",
            ""
          ].join(CRLF)
        )
        assert.strictEqual(
          yield* run(session, "f", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 5 VANISHED)"),
          `* VANISHED (EARLIER) 2${CRLF}* 2 FETCH (UID 3 FLAGS (\\Flagged \\Recent) MODSEQ (7))${CRLF}f OK Fetch completed.${CRLF}`
        )
      }))

    it.live("a session whose mailbox is deleted by another one is disconnected", () =>
      Effect.gen(function*() {
        const server = yield* plaintextServer({ mailboxes: [{ name: "Box" }] })
        const a = yield* plainLogin(server)
        const b = yield* plainLogin(server)
        yield* run(a, "a", "SELECT Box")
        yield* run(b, "b", "DELETE Box")
        yield* a.client.write(`c NOOP${CRLF}`)
        assert.strictEqual(yield* a.client.readLine, `* BYE Selected mailbox was deleted, have to disconnect.${CRLF}`)
        yield* a.client.awaitClosed
      }))

    it.live("random operations keep both sessions' views equal to a model of the mailbox", () =>
      Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.array(
              fc.oneof(
                fc.record({ op: fc.constant("append" as const), seen: fc.boolean() }),
                fc.record({ op: fc.constant("external" as const) }),
                fc.record({ op: fc.constant("delete" as const), pick: fc.nat() }),
                fc.record({ op: fc.constant("deleteRange" as const), pick: fc.nat(), span: fc.integer({ min: 1, max: 4 }) }),
                fc.record({ op: fc.constant("flag" as const), pick: fc.nat(), add: fc.boolean() }),
                fc.record({ op: fc.constant("expunge" as const) }),
                fc.record({ op: fc.constant("externalExpunge" as const), pick: fc.nat() })
              ),
              { maxLength: 20 }
            ),
            (ops) => Effect.runPromise(Effect.scoped(modelRun(ops)))
          ),
          { numRuns: 60 }
        )
      ))
  })

  describe("command reader", () => {
    it.live("gives the same answers however the client's bytes are split", () =>
      Effect.gen(function*() {
        const script = `a LOGIN {4+}${CRLF}test "sec\\"ret"${CRLF}` +
          `b LOGIN test secret${CRLF}c SELECT "INBOX"${CRLF}d APPEND INBOX (\\Seen) {12}${CRLF}Subject: x\r\n${CRLF}` +
          `e FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])${CRLF}f SEARCH OR (SEEN) UNSEEN${CRLF}g LOGOUT${CRLF}`
        const transcript = (splits: ReadonlyArray<number>) =>
          Effect.gen(function*() {
            const server = yield* plaintextServer()
            const session = yield* open(server)
            const bytes = Buffer.from(script, "latin1")
            const cuts = [...new Set(splits.map((s) => s % bytes.length))].sort((x, y) => x - y)
            let at = 0
            for (const cut of [...cuts, bytes.length]) {
              if (cut > at) yield* session.client.write(bytes.subarray(at, cut))
              at = cut
            }
            yield* session.client.awaitClosed
            return session.client.received.map((c) => c.text).join("")
          })
        const whole = yield* transcript([])
        assert.include(whole, `a NO [AUTHENTICATIONFAILED]`)
        assert.include(whole, `+ OK${CRLF}* 1 EXISTS${CRLF}* 1 RECENT${CRLF}d OK [APPENDUID 1 1] Append completed.`)
        assert.include(whole, `BODY[HEADER.FIELDS (SUBJECT)] {14}${CRLF}Subject: x${CRLF}${CRLF})`)
        assert.include(whole, `* SEARCH 1${CRLF}f OK`)
        assert.isTrue(whole.endsWith(`* BYE Logging out${CRLF}g OK Logout completed.${CRLF}`))
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(fc.array(fc.nat(), { maxLength: 12 }), (splits) =>
              Effect.runPromise(Effect.scoped(transcript(splits))).then((text) => text === whole)),
            { numRuns: 20 }
          )
        )
      }))

    it.live("answers every command, however malformed, and keeps serving", () =>
      Effect.gen(function*() {
        const verbs = ["FETCH", "UID FETCH", "STORE", "UID STORE", "SEARCH", "UID SEARCH", "COPY", "MOVE", "UID EXPUNGE",
          "EXPUNGE", "LIST", "LSUB", "STATUS", "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "APPEND",
          "ENABLE", "ID", "NAMESPACE", "NOOP", "CHECK", "CLOSE", "UNSELECT", "CAPABILITY", "LOGIN", "STARTTLS", "X"]
        const words = ["1", "2:*", "*", "1,3", "0", "4294967296", "(", ")", "()", "INBOX", `"INBOX"`, `""`, "NIL", "\\Seen",
          "+FLAGS", "-FLAGS.SILENT", "FLAGS", "BODY[]", "BODY.PEEK[1.MIME]<0.5>", "BODY[HEADER.FIELDS (A)]", "BODY[",
          "ENVELOPE", "BODYSTRUCTURE", "ALL", "OR", "NOT", "UID", "SINCE", "1-Jan-2020", "RETURN", "(MIN)", "CHANGEDSINCE",
          "(CHANGEDSINCE 1)", "(UNCHANGEDSINCE 0)", "(MESSAGES)", "Trash", "a/b", "%", "\"\\\"\"", "~", "]", "["]
        const word = fc.oneof(
          { arbitrary: fc.constantFrom(...words), weight: 6 },
          { arbitrary: fc.string({ minLength: 1, maxLength: 6 }), weight: 1 }
        )
        const line = fc.tuple(fc.constantFrom(...verbs), fc.constantFrom("1", "2:*", "*", "INBOX"), fc.array(word, { maxLength: 5 }))
          .map(([verb, first, args]) => [verb, first, ...args].join(" ").replace(/[\r\n{]/g, "x"))
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 12 }), (lines) =>
              Effect.runPromise(Effect.scoped(Effect.gen(function*() {
                const server = yield* plaintextServer()
                server.append("test", "INBOX", message("one"))
                server.append("test", "INBOX", multipartish)
                const session = yield* plainLogin(server)
                yield* run(session, "s", "SELECT INBOX")
                for (let i = 0; i < lines.length; i++) {
                  const reply = yield* run(session, `f${i}`, lines[i]!)
                  assert.match(reply.trimEnd().split(CRLF).pop()!, new RegExp(`^f${i} (OK|NO|BAD) `))
                }
                assert.match(yield* run(session, "z", "NOOP"), /z OK NOOP completed\.\r\n$/)
              })))),
            { numRuns: 400 }
          )
        )
      }))

    it.live("rejects bad syntax, unknown commands, LITERAL+ without the capability, and oversized input", () =>
      Effect.gen(function*() {
        const server = yield* plaintextServer({
          capabilities: { afterTls: ["IMAP4rev1", "AUTH=PLAIN"] },
          limits: { maxLineLength: 200, maxLiteralSize: 100 }
        })
        const session = yield* open(server)
        const { client } = session
        yield* client.readLine
        assert.strictEqual(yield* run(session, "a", "FROB"), `a BAD Error in IMAP command FROB: Unknown command.${CRLF}`)
        assert.strictEqual(yield* run(session, "b", `LOGIN "unterminated`), `b BAD Unterminated quoted string.${CRLF}`)
        assert.strictEqual(yield* run(session, "c", "NOOP  "), `c BAD Extra space in command.${CRLF}`)
        yield* client.write(`+x NOOP${CRLF}`)
        assert.strictEqual(yield* client.readLine, `* BAD Error in IMAP command received by server.${CRLF}`)
        assert.strictEqual(yield* run(session, "d", `LOGIN {4+}${CRLF}test secret`), `d BAD Non-synchronizing literal without LITERAL+.${CRLF}`)
        assert.strictEqual(yield* run(session, "e", "ID NIL"), `e BAD Error in IMAP command ID: Unknown command.${CRLF}`)
        yield* client.write(`f APPEND INBOX {101}${CRLF}`)
        assert.strictEqual(yield* client.readLine, `f NO [TOOBIG] Literal too large.${CRLF}`)
        assert.strictEqual(yield* run(session, "g", "NOOP"), `g OK NOOP completed.${CRLF}`)
        yield* client.write(`h ${"x".repeat(300)}${CRLF}`)
        assert.strictEqual(yield* client.readLine, `* BYE Too long argument.${CRLF}`)
        yield* client.awaitClosed
        assert.isTrue(server.connections()[0]!.closed())
      }))
  })

  describe("faults", () => {
    it.live("drops the connection in the middle of a FETCH literal", () =>
      Effect.gen(function*() {
        const server = yield* plaintextServer({ faults: [{ _tag: "DropInFetchLiteral", afterBytes: 1000, times: 1 }] })
        server.append("test", "INBOX", Buffer.alloc(10_000, "a"))
        const session = yield* plainLogin(server)
        yield* run(session, "s", "EXAMINE INBOX")
        const before = session.client.received.length
        yield* session.client.write(`f FETCH 1 BODY[]${CRLF}`)
        yield* session.client.awaitClosed
        const text = session.client.received.slice(before).map((c) => c.text).join("")
        assert.strictEqual(text, `* 1 FETCH (BODY[] {10000}${CRLF}${"a".repeat(1000)}`)
        assert.deepStrictEqual(server.faults.active(), [])
      }))

    it.live("delays a reply", () =>
      Effect.gen(function*() {
        const server = yield* plaintextServer({ faults: [{ _tag: "Delay", command: "NOOP", millis: 150 }] })
        const session = yield* plainLogin(server)
        const started = Date.now()
        assert.strictEqual(yield* run(session, "n", "NOOP"), `n OK NOOP completed.${CRLF}`)
        assert.isAtLeast(Date.now() - started, 140)
      }))

    it.live("answers STARTTLS with injected plaintext in the same write, then starts TLS", () =>
      Effect.gen(function*() {
        const injected = `<t> OK go${CRLF}* CAPABILITY IMAP4REV1 AUTH=PLAIN${CRLF}`
        const server = yield* ImapServer.make({ faults: [{ _tag: "Override", command: "STARTTLS", reply: injected }] })
        const session = yield* open(server)
        yield* session.client.readLine
        yield* session.client.write(`x1 STARTTLS${CRLF}`)
        const chunks = yield* session.client.awaitChunks(2)
        assert.strictEqual(chunks[1]!.text, `x1 OK go${CRLF}* CAPABILITY IMAP4REV1 AUTH=PLAIN${CRLF}`)
        yield* session.client.startTls(tlsOptions)
        assert.isTrue(server.connections()[0]!.secure())
      }))

    it.live("injects untagged data and a foreign tagged reply before the real one; overrides then closes", () =>
      Effect.gen(function*() {
        const server = yield* plaintextServer({
          faults: [
            { _tag: "InjectBeforeTagged", command: "NOOP", data: `* 99 EXISTS${CRLF}` },
            { _tag: "ForeignTag", command: "NOOP", tag: "zz9" },
            { _tag: "Override", command: "CAPABILITY", reply: [`* BYE going${CRLF}`, `<t> OK bye${CRLF}`], after: "close" }
          ]
        })
        const session = yield* plainLogin(server)
        yield* session.client.write(`n NOOP${CRLF}`)
        assert.strictEqual(yield* session.client.readLine, `* 99 EXISTS${CRLF}`)
        assert.strictEqual(yield* session.client.readLine, `zz9 OK Completed.${CRLF}`)
        assert.strictEqual(yield* session.client.readLine, `n OK NOOP completed.${CRLF}`)
        assert.strictEqual(yield* run(session, "c", "CAPABILITY"), `* BYE going${CRLF}c OK bye${CRLF}`)
        yield* session.client.awaitClosed
        const connection = yield* Fiber.join(session.server)
        assert.isTrue(connection.closed())
      }))
  })
})

const multipartish = `Content-Type: multipart/mixed; boundary=b${CRLF}${CRLF}--b${CRLF}${CRLF}one${CRLF}--b--${CRLF}`

// --- model-based property ---

type Op =
  | { readonly op: "append"; readonly seen: boolean }
  | { readonly op: "external" }
  | { readonly op: "delete"; readonly pick: number }
  | { readonly op: "deleteRange"; readonly pick: number; readonly span: number }
  | { readonly op: "flag"; readonly pick: number; readonly add: boolean }
  | { readonly op: "expunge" }
  | { readonly op: "externalExpunge"; readonly pick: number }

interface ModelMessage {
  readonly uid: number
  flags: Set<string>
}

/** Applies a session's unilateral responses to its own view (uids and flags by sequence number). */
const applyUpdates = (view: Array<ModelMessage | undefined>, text: string): number | undefined => {
  let exists: number | undefined
  for (const line of text.split(CRLF)) {
    const expunge = /^\* (\d+) EXPUNGE$/.exec(line)
    if (expunge !== null) view.splice(Number(expunge[1]) - 1, 1)
    const count = /^\* (\d+) EXISTS$/.exec(line)
    if (count !== null) exists = Number(count[1])
    const fetch = /^\* (\d+) FETCH \((?:UID (\d+) )?FLAGS \(([^)]*)\)/.exec(line)
    if (fetch !== null) {
      const index = Number(fetch[1]) - 1
      const flags = new Set(fetch[3]!.split(" ").filter((f) => f !== "" && f !== "\\Recent"))
      view[index] = { uid: fetch[2] === undefined ? view[index]?.uid ?? -1 : Number(fetch[2]), flags }
    }
  }
  return exists
}

const modelRun = (ops: ReadonlyArray<Op>) =>
  Effect.gen(function*() {
    const server = yield* plaintextServer()
    const actor = yield* plainLogin(server)
    const watcher = yield* plainLogin(server)
    yield* run(actor, "s", "SELECT INBOX")
    yield* run(watcher, "s", "SELECT INBOX")
    const model: Array<ModelMessage> = []
    const actorView: Array<ModelMessage | undefined> = []
    const watcherView: Array<ModelMessage | undefined> = []
    let uidNext = 1
    let n = 0
    /** Runs a command and applies its responses to the session's view, learning new messages' UIDs. */
    const tracked = (session: Session, view: Array<ModelMessage | undefined>, command: string) =>
      Effect.gen(function*() {
        const exists = applyUpdates(view, yield* run(session, `c${n++}`, command))
        if (exists !== undefined && exists > view.length) {
          const from = view.length + 1
          while (view.length < exists) view.push(undefined)
          applyUpdates(view, yield* run(session, `c${n++}`, `FETCH ${from}:${exists} (UID FLAGS)`))
        }
      })
    for (const op of ops) {
      switch (op.op) {
        case "append": {
          const body = message(`m${uidNext}`)
          yield* tracked(actor, actorView, `APPEND INBOX ${op.seen ? "(\\Seen) " : ""}{${body.length}+}${CRLF}${body}`)
          model.push({ uid: uidNext++, flags: new Set(op.seen ? ["\\Seen"] : []) })
          break
        }
        case "external":
          server.append("test", "INBOX", message(`x${uidNext}`))
          model.push({ uid: uidNext++, flags: new Set() })
          break
        case "delete":
        case "flag": {
          yield* tracked(actor, actorView, "NOOP")
          if (model.length === 0) break
          const index = op.pick % model.length
          const flag = op.op === "delete" ? "\\Deleted" : "\\Flagged"
          const add = op.op === "delete" || op.add
          yield* tracked(actor, actorView, `STORE ${index + 1} ${add ? "+" : "-"}FLAGS (${flag})`)
          if (add) model[index]!.flags.add(flag)
          else model[index]!.flags.delete(flag)
          break
        }
        case "deleteRange": {
          yield* tracked(actor, actorView, "NOOP")
          if (model.length === 0) break
          const from = op.pick % model.length
          const to = Math.min(model.length - 1, from + op.span - 1)
          yield* tracked(actor, actorView, `STORE ${from + 1}:${to + 1} +FLAGS.SILENT (\\Deleted)`)
          // .SILENT: no FETCH comes back, the client applies its own change.
          for (let i = from; i <= to; i++) {
            model[i]!.flags.add("\\Deleted")
            actorView[i]?.flags.add("\\Deleted")
          }
          break
        }
        case "expunge":
          yield* tracked(actor, actorView, "EXPUNGE")
          for (let i = model.length - 1; i >= 0; i--) if (model[i]!.flags.has("\\Deleted")) model.splice(i, 1)
          break
        case "externalExpunge": {
          if (model.length === 0) break
          const index = op.pick % model.length
          server.expunge("test", "INBOX", [model[index]!.uid])
          model.splice(index, 1)
          break
        }
      }
      yield* tracked(watcher, watcherView, "NOOP")
    }
    yield* tracked(actor, actorView, "NOOP")
    const expected = model.map((m) => ({ uid: m.uid, flags: [...m.flags].sort() }))
    const shown = (view: ReadonlyArray<ModelMessage | undefined>) =>
      view.map((m) => ({ uid: m?.uid, flags: [...(m?.flags ?? [])].sort() }))
    assert.deepStrictEqual(shown(actorView), expected)
    assert.deepStrictEqual(shown(watcherView), expected)
    assert.deepStrictEqual(
      server.messages("test", "INBOX").map((m) => ({ uid: m.uid, flags: [...m.flags].sort() })),
      expected
    )
  })
