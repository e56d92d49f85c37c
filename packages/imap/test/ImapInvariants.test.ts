/**
 * ATTACKS.md §3.6 invariants as properties over random input, against transcripts played with real
 * TLS: (2) any suffix after the STARTTLS OK, in any chunking, fails before anything is said over
 * TLS; (3) the capabilities of a Secure connection are exactly the post-TLS list; (6) untagged
 * data received before TLS never becomes an event or view data, and plaintext ALERTs only notices.
 */
import { describe, it } from "@effect/vitest"
import { reasonOf } from "@starttls/testkit/Failures"
import * as Recording from "@starttls/testkit/Recording"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import * as ImapClient from "../src/ImapClient.ts"
import * as H from "./ImapHarness.ts"

const withEvents = H.withEvents
const notices = H.notices
const TLS_CAPS = H.TLS_CAPS

describe("§3.6 invariants, as properties", () => {
  it.live("§3.6.2 property: any suffix after the OK, any chunking → injection or TLS failure, nothing over TLS", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.array(fc.uint8Array({ minLength: 1, maxLength: 24 }), { minLength: 1, maxLength: 3 }),
          fc.boolean(),
          async (pieces, sameWrite) => {
            const hex = (bytes: Uint8Array) => [...bytes].map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join("")
            // One server write after the OK (in its chunk, or later): a later write could only wait for a
            // client that already, rightly, hung up.
            const writes = [(sameWrite ? "" : "-- delay 2\n") + `-- inject ${pieces.map(hex).join("")}`]
            const script = `S: * OK [CAPABILITY IMAP4REV1 STARTTLS] ready\nC: A1 STARTTLS\nS: A1 OK go\n${
              writes.join("\n")
            }\n-- expect-close`
            const { exit, rec } = await Effect.runPromise(Effect.scoped(H.play(
              script,
              ImapClient.session({ ...H.options, timeouts: { ...H.options.timeouts, handshake: 150 }, credentials: H.credentials }),
              { timeoutMs: 400 }
            )))
            const reason = reasonOf(exit as Exit.Exit<unknown, never>)
            const handshakeTimeout = reason._tag === "Timeout" && reason.phase === "handshake"
            if (reason._tag !== "StartTlsInjection" && reason._tag !== "TlsFailure" && !handshakeTimeout) {
              throw new Error(`unexpected ${reason._tag}: ${reason.message}`)
            }
            if (Recording.tlsClientBytes(rec) !== "" || !H.plaintextIsClean(rec)) throw new Error("client spoke")
          }
        ),
        { numRuns: 20 }
      )
    ), { timeout: 60_000 })

  it.live("§3.6.3 property: Secure capabilities equal the post-TLS list whatever came in plaintext", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.subarray(["STARTTLS", "AUTH=PLAIN", "AUTH=LOGIN", "LOGINDISABLED", "IDLE", "SASL-IR", "X-EVIL"]),
          fc.subarray(["AUTH=PLAIN", "AUTH=SCRAM-SHA-256", "IDLE", "MOVE"]),
          fc.constantFrom("greeting", "untagged", "ok-code"),
          async (plainCaps, tlsCaps, where) => {
            const list = ["IMAP4rev1", ...plainCaps].join(" ")
            const greeting = where === "greeting" ? `* OK [CAPABILITY ${list}] hi` : "* OK hi"
            const before = where === "untagged" ? `S: * CAPABILITY ${list}\n` : ""
            const code = where === "ok-code" ? `[CAPABILITY ${list}] ` : ""
            const post = ["IMAP4rev1", ...tlsCaps]
            const { exit } = await Effect.runPromise(Effect.scoped(H.play(
              `S: ${greeting}\nC: A1 STARTTLS\n${before}S: A1 OK ${code}go\n-- starttls\nC: A2 CAPABILITY\n` +
                `S: * CAPABILITY ${post.join(" ")}\nS+ A2 OK done`,
              Effect.flatMap(H.upgraded, ImapClient.capabilities)
            )))
            H.assertSuccess(exit)
            if (Exit.isSuccess(exit) && JSON.stringify(exit.value.raw) !== JSON.stringify(post)) {
              throw new Error(`${JSON.stringify(exit.value.raw)} != ${JSON.stringify(post)}`)
            }
          }
        ),
        { numRuns: 25 }
      )
    ), { timeout: 60_000 })

  it.live("§3.6.6 property: random untagged junk before the STARTTLS OK never becomes an event or view data", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.oneof(
              fc.nat({ max: 99999 }).map((n) => `* ${n} EXISTS`),
              fc.nat({ max: 99 }).map((n) => `* ${n + 1} EXPUNGE`),
              fc.nat({ max: 99 }).map((n) => `* ${n + 1} FETCH (UID ${n + 1} FLAGS (\\\\Flagged))`),
              fc.constantFrom(`* OK [ALERT] pay now`, `* FLAGS (\\\\Junk)`, `* OK [UIDNEXT 999] x`, `* NO [ALERT] x`)
            ),
            { minLength: 1, maxLength: 5 }
          ),
          async (junk) => {
            const { events, program } = withEvents(Effect.gen(function*() {
              const plain = yield* ImapClient.connect(H.options)
              const stream = yield* ImapClient.events(plain)
              const imap = yield* ImapClient.authenticate(yield* ImapClient.startTls(plain), H.credentials)
              const inbox = yield* ImapClient.select(imap, "INBOX")
              const view = yield* ImapClient.mailbox(inbox)
              yield* ImapClient.logout(imap)
              return { view, seen: yield* Stream.runCollect(stream) }
            }))
            const { exit } = await Effect.runPromise(Effect.scoped(H.play(
              `S: * OK ready\nC: A1 STARTTLS\n${junk.map((j) => `S: ${j}`).join("\n")}\nS: A1 OK go\n-- starttls\n${TLS_CAPS}\n` +
                `C: A3 AUTHENTICATE PLAIN ${H.plain}\nS: A3 OK done\nC: A4 SELECT INBOX\nS: * 1 EXISTS\nS: A4 OK done\n` +
                `C* A\\d+ LOGOUT\nS: <t> OK bye`,
              program
            )))
            H.assertSuccess(exit)
            if (Exit.isSuccess(exit)) {
              if (exit.value.seen.length > 0) throw new Error(`events: ${JSON.stringify(exit.value.seen)}`)
              if (exit.value.view.status.exists !== 1 || exit.value.view.messages.length > 0) throw new Error("view")
              if (exit.value.view.status.uidNext !== undefined) throw new Error("uidnext")
            }
            const alerts = junk.filter((j) => j.includes("[ALERT]")).length
            if (notices(events).length !== alerts) throw new Error(`notices ${notices(events).length} != ${alerts}`)
          }
        ),
        { numRuns: 20 }
      )
    ), { timeout: 60_000 })
})
