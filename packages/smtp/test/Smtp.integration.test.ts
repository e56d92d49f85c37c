/**
 * The SMTP client against the real Postfix of ../shared/mail-servers (load `. /tmp/mailenv.sh`
 * first): submission with STARTTLS and AUTH PLAIN / LOGIN, delivery into the Dovecot Maildir,
 * SMTPS, the MTA-style port without AUTH, a wrong password, and the plaintext-only twin refused
 * before any credential or envelope byte (checked on a recording proxy).
 *
 * Postfix answers the first command after STARTTLS ~40 ms late (README gotcha 6): the timeouts here
 * are generous and nothing measures time.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Credentials from "@starttls/core/Credentials"
import * as NodeTransport from "@starttls/core/NodeTransport"
import * as Proxy from "@starttls/testkit/Proxy"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { randomUUID } from "node:crypto"
import { execFileSync } from "node:child_process"
import { readdirSync, readFileSync, unlinkSync } from "node:fs"
import { join } from "node:path"
import * as Smtp from "../src/SmtpClient.ts"
import { reason } from "./ClientHarness.ts"

const env = process.env
const host = env["MAILTEST_HOST"] ?? "127.0.0.1"
const ca = env["MAILTEST_CA"] === undefined ? "" : readFileSync(env["MAILTEST_CA"], "utf8")
const port = (name: string) => Number(env[name])
const user = env["MAILTEST_USER"] ?? "test"
const pass = env["MAILTEST_PASS"] ?? "secret"
const maildir = join(env["MAILTEST_DIR"] ?? "/nonexistent", "mail", user, "Maildir")

const base = { host, tls: { trustOnly: [ca] }, clientName: "client.example" }
const credentials = Credentials.password({ username: user, password: Redacted.make(pass) })

const message = (token: string) =>
  [
    "From: sender@localhost",
    `To: ${user}@localhost`,
    `Subject: starttls smtp integration ${token}`,
    `Message-ID: <${token}@client.example>`,
    "Date: Mon, 23 Nov 2026 09:00:00 +0000",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    "Hello from the SMTP client.",
    ".a line starting with a dot",
    "caf\u00e9",
    ""
  ].join("\r\n")

/** Waits for the delivered file holding `token` in Maildir new/ or cur/, returns it and removes it. */
const delivered = (token: string) =>
  Effect.gen(function*() {
    for (let i = 0; i < 100; i++) {
      for (const folder of ["new", "cur"]) {
        const dir = join(maildir, folder)
        for (const name of readdirSync(dir)) {
          const path = join(dir, name)
          const content = readFileSync(path, "latin1")
          if (content.includes(token)) {
            unlinkSync(path)
            // Tell Dovecot at once (its index would still list the message for the POP3/IMAP tests).
            execFileSync("doveadm", ["-c", join(env["MAILTEST_DIR"] ?? "", "etc", "dovecot.conf"), "force-resync", "-u", user, "INBOX"])
            return content
          }
        }
      }
      yield* Effect.sleep("50 millis")
    }
    return assert.fail(`message ${token} not delivered to ${maildir}`)
  })

const newToken = () => `t${randomUUID().replace(/-/g, "")}`

const run = <A, E>(program: Effect.Effect<A, E, any>) =>
  program.pipe(Effect.scoped, Effect.provide(NodeTransport.layer)) as Effect.Effect<A, E>

describe.runIf(env["MAILTEST_HOST"] !== undefined)("SMTP against the real Postfix", () => {
  it.live("submission: STARTTLS + AUTH PLAIN, a message to test@localhost lands in the Maildir byte for byte", () =>
    Effect.gen(function*() {
      const token = newToken()
      const result = yield* run(Effect.gen(function*() {
        const smtp = yield* Smtp.session({ ...base, port: port("MAILTEST_SUBMISSION_PORT"), credentials })
        const ext = yield* Smtp.extensions(smtp)
        assert.isTrue(ext.pipelining && ext.chunking && ext.eightBitMime)
        const result = yield* Smtp.send(smtp, { from: "sender@localhost", to: [`${user}@localhost`, "sink@example.com"] }, message(token))
        yield* Smtp.close(smtp)
        return result
      }))
      assert.deepStrictEqual(result.accepted, [`${user}@localhost`, "sink@example.com"])
      assert.strictEqual(result.code, 250)
      assert.strictEqual(result.enhancedCode, "2.0.0")
      assert.strictEqual(result.transfer, "BDAT")
      const stored = yield* delivered(token)
      assert.include(stored, "(Authenticated sender: test)")
      assert.include(stored, "using TLSv1.3")
      // Dovecot stores LF line ends.
      assert.include(stored, Buffer.from(message(token).replace(/\r\n/g, "\n"), "utf8").toString("latin1"))
    }))

  it.live("submission: AUTH LOGIN, DATA with dot-stuffing, and a streamed message", () =>
    Effect.gen(function*() {
      const tokens = [newToken(), newToken()]
      yield* run(Effect.gen(function*() {
        const smtp = yield* Smtp.session({
          ...base,
          port: port("MAILTEST_SUBMISSION_PORT"),
          credentials,
          authenticate: { mechanisms: ["LOGIN"] }
        })
        const envelope = { from: "sender@localhost", to: [`${user}@localhost`] }
        const first = yield* Smtp.send(smtp, envelope, message(tokens[0]!), { transfer: "DATA" })
        assert.strictEqual(first.transfer, "DATA")
        const bytes = new TextEncoder().encode(message(tokens[1]!))
        const stream = Stream.fromIterable([bytes.subarray(0, 100), bytes.subarray(100, 101), bytes.subarray(101)])
        yield* Smtp.send(smtp, envelope, stream)
        yield* Smtp.close(smtp)
      }))
      for (const token of tokens) assert.include(yield* delivered(token), ".a line starting with a dot")
    }))

  it.live("SMTPS (implicit TLS)", () =>
    Effect.gen(function*() {
      const token = newToken()
      yield* run(Effect.gen(function*() {
        const smtp = yield* Smtp.session({ ...base, port: port("MAILTEST_SMTPS_PORT"), security: "implicit-tls", credentials })
        assert.strictEqual(Smtp.tlsSession(smtp)?.verified, true)
        yield* Smtp.send(smtp, { from: "sender@localhost", to: [`${user}@localhost`] }, message(token))
        yield* Smtp.close(smtp)
      }))
      yield* delivered(token)
    }))

  it.live("port 25 style: STARTTLS without AUTH, the handle stays Secure and can send to a local domain", () =>
    Effect.gen(function*() {
      const token = newToken()
      yield* run(Effect.gen(function*() {
        const smtp = yield* Smtp.session({ ...base, port: port("MAILTEST_SMTP_PORT") })
        assert.strictEqual(smtp.state, "Secure")
        assert.deepStrictEqual((yield* Smtp.extensions(smtp)).auth, [])
        yield* Smtp.send(smtp, { from: "sender@example.com", to: [`${user}@localhost`] }, message(token))
        yield* Smtp.close(smtp)
      }))
      yield* delivered(token)
    }))

  it.live("a wrong password → AuthenticationFailed 535 5.7.8", () =>
    Effect.gen(function*() {
      const wrong = Credentials.password({ username: user, password: Redacted.make("definitely-wrong") })
      const r = reason(yield* Effect.exit(run(Smtp.session({ ...base, port: port("MAILTEST_SUBMISSION_PORT"), credentials: wrong }))))
      assert.strictEqual(r._tag, "AuthenticationFailed")
      if (r._tag === "AuthenticationFailed") assert.strictEqual(r.code, "535 5.7.8")
    }))

  it.live("the plaintext-only twin under the default policy fails before any credential or envelope byte", () =>
    Effect.gen(function*() {
      const proxy = yield* Proxy.start({ targetPort: port("MAILTEST_NONE_SUBMISSION_PORT") })
      const r = reason(yield* Effect.exit(run(Effect.gen(function*() {
        const smtp = yield* Smtp.session({ ...base, host: "127.0.0.1", port: proxy.port, credentials })
        return yield* Smtp.send(smtp, { from: "sender@localhost", to: [`${user}@localhost`] }, message("never"))
      }))))
      assert.strictEqual(r._tag, "StartTlsUnavailable")
      yield* Effect.sleep("50 millis")
      assert.strictEqual(proxy.sessions.length, 1)
      const sent = Proxy.text(proxy.sessions[0]!, "client-to-server")
      assert.strictEqual(sent, "EHLO client.example\r\n")
      assert.notInclude(sent, pass)
    }))
})
