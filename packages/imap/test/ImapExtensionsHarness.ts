/**
 * Shared pieces of the extension tests (ImapIdle, ImapExtensions): transcript openings with a
 * chosen capability list after login, real-time waits for tests that run under `TestClock`, and
 * the stateful server with extra capabilities.
 */
import * as ImapServer from "@starttls/testkit/ImapServer"
import * as Effect from "effect/Effect"
import * as ImapClient from "../src/ImapClient.ts"
import * as H from "./ImapHarness.ts"

/** STARTTLS, CAPABILITY, AUTHENTICATE (A1-A3) whose OK announces `caps`. */
export const loggedIn = (caps: string) =>
  String.raw`${H.UPGRADED}
  C: A2 CAPABILITY
  S: * CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN
  S+ A2 OK done
  C: A3 AUTHENTICATE PLAIN ${H.plain}
  S: A3 OK [CAPABILITY ${caps}] Logged in
`

/** `loggedIn`, then SELECT INBOX (A4) with 3 messages. */
export const selected = (caps: string) =>
  String.raw`${loggedIn(caps)}
  C: A4 SELECT INBOX
  S: * 3 EXISTS
  S+ * OK [UIDVALIDITY 1700000000] UIDs valid
  S+ A4 OK [READ-WRITE] Select completed.
`

export const LOGOUT = String.raw`
  C* A\d+ LOGOUT
  S: * BYE Logging out
  S+ <t> OK Logout completed.
`

export const login = ImapClient.session({ ...H.options, credentials: H.credentials })
export const selectInbox = Effect.flatMap(login, (imap) => ImapClient.select(imap, "INBOX"))

/** Waits in real time (under `TestClock`, `Effect.sleep` only moves when the test adjusts it). */
export const realWait = (millis: number) =>
  Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis)))

/**
 * Lets the in-memory peers and the client's fibers run (real time) before the test moves the
 * `TestClock`: a timer must be armed before the clock passes its deadline.
 */
export const settle = realWait(200)

/** Waits (real time, at most ~5 s) until `check` holds; fails the test otherwise. */
export const eventually = (check: () => boolean, what: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (let i = 0; i < 500; i++) {
      if (check()) return
      yield* realWait(10)
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

/** The in-memory server's authenticated capabilities, with `extra` added and `without` removed. */
export const capabilities = (extra: ReadonlyArray<string>, without: ReadonlyArray<string> = []) => [
  ...ImapServer.capabilities.authenticated.filter((c) => !without.includes(c)),
  ...extra
]

/** How many commands named `name` the server's first connection received. */
export const received = (server: ImapServer.ImapServer, name: string) =>
  server.connections()[0]?.commands.filter((c) => c.name === name).length ?? 0
