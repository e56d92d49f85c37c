/**
 * `pnpm demo` (the project's main job) as a test: every protocol part runs on the in-memory
 * servers and prints the lines that answer its questions (capabilities before / after the
 * upgrade, refusals without a credential byte, the transfers, the IMAP extensions).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { demo as imap } from "../packages/imap/demo/demo.ts"
import { demo as pop3 } from "../packages/pop3/demo/demo.ts"
import { demo as smtp } from "../packages/smtp/demo/demo.ts"

/** Runs a demo part with a console that keeps what it logs. */
const run = (part: Effect.Effect<void, unknown>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const console: Console.Console = { ...globalThis.console, log: (...args) => void lines.push(args.join(" ")) }
    yield* Effect.provideService(part, Console.Console, console)
    return lines
  })

const has = (lines: ReadonlyArray<string>, pattern: RegExp) =>
  assert.isTrue(lines.some((line) => pattern.test(line)), `no line matches ${pattern}:\n${lines.join("\n")}`)

describe("pnpm demo", () => {
  it.live("SMTP: EHLO before / after STARTTLS, BDAT delivery, the stripped STARTTLS refused", () =>
    Effect.gen(function*() {
      const lines = yield* run(smtp)
      has(lines, /EHLO after STARTTLS \(TLSv1\.3\):.*AUTH PLAIN/)
      has(lines, /message sent with BDAT: 250/)
      has(lines, /StartTlsUnavailable/)
      has(lines, /commands the client sent: EHLO \(no AUTH, no MAIL\)/)
    }), 30_000)

  it.live("POP3: CAPA before / after STLS, LIST and RETR, the named-mechanism fast path, STLS refused with only STLS sent", () =>
    Effect.gen(function*() {
      const lines = yield* run(pop3)
      has(lines, /CAPA after STLS \(TLSv1\.3\):.*USER/)
      has(lines, /RETR 2: 111 bytes/)
      has(lines, /client sent only \["STLS"\]/)
      has(lines, /named mechanism \(PLAIN\), commands in order: STLS \(plaintext\), AUTH, CAPA, RETR/)
    }), 30_000)

  it.live("IMAP: capabilities around STARTTLS, LOGIN refused in plaintext, fetch, extensions", () =>
    Effect.gen(function*() {
      const lines = yield* run(imap)
      has(lines, /what changed: gone .*LOGINDISABLED/)
      has(lines, /secrets found in plaintext: 0/)
      has(lines, /plaintext part of the authenticated session: "A1 STARTTLS\\r\\n"/)
      has(lines, /COMPRESS=DEFLATE after login, over TLS: compressed true/)
      has(lines, /3 STATUS sent without waiting/)
      has(lines, /IDLE saw: \{"_tag":"Exists","mailbox":"INBOX","count":2\}/)
    }), 30_000)
})
