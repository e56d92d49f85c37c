/**
 * ATTACKS.md, the IMAP rows (A1 A2 A4 A5 A6 A7 A9 A11 A12 A14 A15 A16 A19 A20 A21 A22 A24 A25 A26
 * A28), each with the row's exact outcome, and the cross-cutting invariants of §3.6. Every row
 * also checks "no-cred" (only CAPABILITY / STARTTLS / LOGOUT and no secret in plaintext) and that
 * the client opened exactly one connection (no retry, no fallback).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Connection from "@starttls/core/Connection"
import * as TlsPolicy from "@starttls/core/TlsPolicy"
import * as Certificates from "@starttls/testkit/Certificates"
import { reasonOf } from "@starttls/testkit/Failures"
import * as Recording from "@starttls/testkit/Recording"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as ImapClient from "../src/ImapClient.ts"
import type * as ImapMailbox from "../src/ImapMailbox.ts"
import * as H from "./ImapHarness.ts"

const login = ImapClient.session({ ...H.options, credentials: H.credentials })

/** The exit's failure reason tag (MailError reasons and ImapError reasons alike). */
const tagOf = <A, E>(exit: Exit.Exit<A, E>): string => H.reason(exit)._tag

/** A row's common checks: typed failure `expected`, no credential in plaintext, one connection. */
const failsClean = (
  result: { readonly exit: Exit.Exit<unknown, unknown>; readonly rec: Recording.Recording; readonly connects: number },
  expected: string
) => {
  assert.strictEqual(tagOf(result.exit), expected)
  assert.isTrue(H.plaintextIsClean(result.rec), Recording.plaintextClientBytes(result.rec))
  assert.strictEqual(Recording.tlsClientBytes(result.rec), "")
  assert.strictEqual(result.connects, 1)
}

const withEvents = H.withEvents
const notices = H.notices
const TLS_CAPS = H.TLS_CAPS

describe("N_S: STARTTLS stripping", () => {
  it.live("A1: no STARTTLS in the greeting's list and BAD to STARTTLS → StartTlsRejected, no-cred", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          S: * OK [CAPABILITY IMAP4REV1 AUTH=PLAIN AUTH=LOGIN] IMAP server ready.
          C: A1 STARTTLS
          S: A1 BAD STARTTLS not supported.
          -- expect-close
        `,
        login
      )
      failsClean(result, "StartTlsRejected")
    }))

  for (
    const [variant, reply, expected] of [
      ["a", "A1 NO do not begin TLS now.", "StartTlsRejected"],
      ["b", "A1 BAD do not begin TLS now.", "StartTlsRejected"],
      ["c", "+ continue with something.", "ProtocolViolation"]
    ] as const
  ) {
    it.live(`A2 ${variant}: ${reply} → ${expected} at once, nothing sent in answer`, () =>
      Effect.gen(function*() {
        const started = Date.now()
        const result = yield* H.play(
          String.raw`
            S: * OK [CAPABILITY IMAP4REV1 STARTTLS AUTH=PLAIN AUTH=LOGIN] IMAP server ready.
            C: A1 STARTTLS
            S: ${reply}
            -- expect-close
          `,
          login
        )
        failsClean(result, expected)
        assert.isBelow(Date.now() - started, 1000)
        assert.strictEqual(result.rec.sentAfterExpectClose.length, 0)
        if (variant !== "c") {
          const reason = reasonOf(result.exit as Exit.Exit<unknown, never>)
          if (reason._tag === "StartTlsRejected") {
            assert.strictEqual(reason.untrustedReply, "do not begin TLS now.")
            assert.notInclude(reason.message, "do not begin")
          }
        }
      }))
  }

  it.live("A2 d: an untagged OK never starts TLS; the command deadline ends it", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          S: * OK [CAPABILITY IMAP4REV1 STARTTLS] ready
          C: A1 STARTTLS
          S: * OK begin TLS now
          -- expect-close
        `,
        ImapClient.session({ ...H.options, timeouts: { ...H.options.timeouts, command: 150 }, credentials: H.credentials })
      )
      failsClean(result, "Timeout")
      const reason = reasonOf(result.exit as Exit.Exit<unknown, never>)
      if (reason._tag === "Timeout") assert.strictEqual(reason.phase, "starttls")
    }))

  it.live("A4: STARTTLS and LOGINDISABLED deleted from the list → STARTTLS sent anyway, refusal fails, no-cred", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          S: * OK IMAP server ready.
          C: A1 STARTTLS
          S: A1 BAD unknown command
          -- expect-close
        `,
        login
      )
      failsClean(result, "StartTlsRejected")
    }))

  it.live("A5 a: LOGINDISABLED and no AUTH= over TLS → no LOGIN ever (NoUsableMechanism / PolicyViolation)", () =>
    Effect.gen(function*() {
      const script = String.raw`
        ${H.UPGRADED}
        C: A2 CAPABILITY
        S: * CAPABILITY IMAP4REV1 LOGINDISABLED
        S+ A2 OK capability done.
      `
      const viaSasl = yield* H.play(script, login)
      assert.strictEqual(tagOf(viaSasl.exit), "NoUsableMechanism")
      assert.strictEqual(Recording.tlsClientBytes(viaSasl.rec), "A2 CAPABILITY\r\n")
      const viaLogin = yield* H.play(
        script,
        Effect.gen(function*() {
          const secure = yield* H.upgraded
          return yield* ImapClient.login(secure, "alice", Redacted.make(H.password))
        })
      )
      assert.strictEqual(tagOf(viaLogin.exit), "PolicyViolation")
      assert.strictEqual(Recording.tlsClientBytes(viaLogin.rec), "A2 CAPABILITY\r\n")
    }))

  it.live("A5 b: opportunistic policy, STARTTLS refused, LOGINDISABLED: still no LOGIN, even with PlaintextAuth", () =>
    Effect.gen(function*() {
      const { events, program } = withEvents(
        Effect.gen(function*() {
          const plain = yield* ImapClient.opportunistic(H.options)
          assert.strictEqual(plain.state, "Plain")
          return yield* ImapClient.login(plain as ImapClient.ImapConnection<"Plain">, "alice", Redacted.make(H.password))
        }).pipe(
          Effect.provide(Layer.merge(TlsPolicy.opportunisticStartTlsDangerously, TlsPolicy.allowPlaintextAuthDangerously))
        )
      )
      const result = yield* H.play(
        String.raw`
          S: * OK [CAPABILITY IMAP4REV1 STARTTLS LOGINDISABLED] ready
          C: A1 CAPABILITY
          S: * CAPABILITY IMAP4REV1 STARTTLS LOGINDISABLED
          S+ A1 OK done
          C: A2 STARTTLS
          S: A2 NO not now
          -- expect-close
        `,
        program
      )
      failsClean(result, "PolicyViolation")
      assert.deepStrictEqual(events.map((e) => e._tag), ["Downgrade"])
    }))

  for (
    const caps of ["IMAP4REV1", "IMAP4REV1 STARTTLS LOGINDISABLED", "IMAP4REV1 AUTH=PLAIN AUTH=LOGIN", "IMAP4REV1 STARTTLS AUTH=PLAIN AUTH=LOGIN"]
  ) {
    it.live(`A6: plaintext PREAUTH [CAPABILITY ${caps}] → PreauthOnPlaintext before any command`, () =>
      Effect.gen(function*() {
        const result = yield* H.play(
          String.raw`
            S: * PREAUTH [CAPABILITY ${caps}] IMAP server ready.
            -- expect-close
          `,
          login
        )
        failsClean(result, "PreauthOnPlaintext")
        assert.strictEqual(Recording.plaintextClientBytes(result.rec), "")
        assert.strictEqual(result.rec.sentAfterExpectClose.length, 0)
      }))
  }

  it.live("A6 with the opportunistic policy: still no Authenticated state from a plaintext PREAUTH", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          S: * PREAUTH [CAPABILITY IMAP4REV1] IMAP server ready.
          -- expect-close
        `,
        ImapClient.opportunistic(H.options).pipe(Effect.provide(TlsPolicy.opportunisticStartTlsDangerously))
      )
      failsClean(result, "PreauthOnPlaintext")
    }))
})

describe("B_R: response injection after the STARTTLS OK", () => {
  it.live("A7: pre-answered post-TLS CAPABILITY in the OK's write → StartTlsInjection before the ClientHello", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          S: * OK [CAPABILITY IMAP4REV1 STARTTLS LOGINDISABLED] IMAP server ready.
          C: A1 STARTTLS
          S: A1 OK begin STARTTLS now.
          S+ * CAPABILITY IMAP4REV1 AUTH=PLAIN AUTH=LOGIN
          S+ A2 OK capability done.
          -- expect-close
        `,
        login
      )
      failsClean(result, "StartTlsInjection")
      // Not one byte of a TLS ClientHello was written.
      assert.strictEqual(result.rec.sentAfterExpectClose.length, 0)
    }))

  for (const [variant, suffix] of [["a", "* OK [ALERT] suffix."], ["b", "* BYE close the connection please."]] as const) {
    it.live(`A9 ${variant}: "${suffix}" after the OK → StartTlsInjection, no alert, not a BYE`, () =>
      Effect.gen(function*() {
        const { events, program } = withEvents(login)
        const result = yield* H.play(
          String.raw`
            S: * OK [CAPABILITY IMAP4REV1 STARTTLS] ready
            C: A1 STARTTLS
            S: A1 OK begin STARTTLS now.
            S+ ${suffix}
            -- expect-close
          `,
          program
        )
        failsClean(result, "StartTlsInjection")
        assert.deepStrictEqual(events, [])
      }))
  }

  it.live("A11: plaintext arriving later, before the ServerHello → TlsFailure (NotTls), no alert, no retry", () =>
    Effect.gen(function*() {
      const { events, program } = withEvents(login)
      const result = yield* H.play(
        String.raw`
          S: * OK [CAPABILITY IMAP4REV1 STARTTLS] ready
          C: A1 STARTTLS
          S: A1 OK Begin TLS
          -- delay 30
          -- inject * OK [ALERT] injected\r\n
          -- expect-close
        `,
        program
      )
      assert.strictEqual(tagOf(result.exit), "TlsFailure")
      const reason = reasonOf(result.exit as Exit.Exit<unknown, never>)
      if (reason._tag === "TlsFailure") assert.strictEqual(reason.kind, "NotTls")
      assert.isTrue(H.plaintextIsClean(result.rec))
      assert.strictEqual(result.connects, 1)
      assert.deepStrictEqual(events, [])
    }))

})

describe("T_M: mailbox tampering before TLS (A12)", () => {
  const markers = [
    String.raw`* LIST () "/" 7XiYhgS7`,
    String.raw`* LSUB () "/" jcaZji2A`,
    String.raw`* STATUS INBOX (MESSAGES 718001 RECENT 718002 UIDNEXT 718003 UNSEEN 718004 UIDVALIDITY 718005)`,
    String.raw`* SEARCH 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20`,
    String.raw`* FLAGS (\\Flagged)`,
    String.raw`* 54321 EXISTS`,
    String.raw`* 12345 RECENT`,
    String.raw`* 1 EXPUNGE\r\n* 2 EXPUNGE\r\n* 3 EXPUNGE`,
    String.raw`* 1 FETCH (BODY[] {28}\r\nFrom: Injected\r\n\r\nInjected\r\n)`
  ]
  it.live("A12: none of the markers reaches the view, the lists or the events; the upgrade completes", () =>
    Effect.gen(function*() {
      for (const marker of markers) {
        const result = yield* H.play(
          String.raw`
            S: * OK [CAPABILITY IMAP4REV1 STARTTLS LOGINDISABLED] IMAP server ready.
            C: A1 STARTTLS
            S: ${marker}
            S+ A1 OK ready for starttls
            -- starttls
            ${TLS_CAPS}
            C: A3 AUTHENTICATE PLAIN ${H.plain}
            S: A3 OK [CAPABILITY IMAP4rev1] Logged in
            C: A4 SELECT INBOX
            S: * 2 EXISTS
            S+ * FLAGS (\\Seen)
            S+ A4 OK [READ-WRITE] done
            C: A5 LIST "" *
            S: * LIST () "/" INBOX
            S+ A5 OK done
            C: A6 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN)
            S: * STATUS INBOX (MESSAGES 2 UIDNEXT 3 UIDVALIDITY 1 UNSEEN 0)
            S+ A6 OK done
            C: A7 NOOP
            S: A7 OK done
          ` + String.raw`
            C* A\d+ LOGOUT
            S: * BYE
            S+ <t> OK bye
          `,
          Effect.gen(function*() {
            const plain = yield* ImapClient.connect(H.options)
            const events = yield* ImapClient.events(plain)
            const secure = yield* ImapClient.startTls(plain)
            const imap = yield* ImapClient.authenticate(secure, H.credentials)
            const inbox = yield* ImapClient.select(imap, "INBOX")
            const list = yield* ImapClient.list(imap)
            const status = yield* ImapClient.status(imap, "INBOX")
            yield* ImapClient.noop(inbox)
            const view = yield* ImapClient.mailbox(inbox)
            yield* ImapClient.logout(imap)
            const seen: ReadonlyArray<ImapMailbox.ImapEvent> = yield* Stream.runCollect(events)
            return { list, status, view, seen }
          })
        )
        H.assertSuccess(result.exit)
        if (Exit.isSuccess(result.exit)) {
          const { list, seen, status, view } = result.exit.value
          assert.deepStrictEqual(list.map((e) => e.name), ["INBOX"], marker)
          assert.strictEqual(status.messages, 2, marker)
          assert.strictEqual(view.status.exists, 2, marker)
          assert.deepStrictEqual(view.status.flags, ["\\Seen"], marker)
          assert.deepStrictEqual(view.messages, [], marker)
          assert.deepStrictEqual(seen, [], marker)
        }
        assert.isTrue(H.plaintextIsClean(result.rec))
      }
    }), { timeout: 60_000 })

})

describe("capability caching", () => {
  it.live("A14: plaintext untagged CAPABILITY (after the greeting and before the OK) is never used", () =>
    Effect.gen(function*() {
      for (const [where, script] of [
        ["after greeting", "S: * OK ready\nS: * CAPABILITY IDLE\nC: A1 STARTTLS\nS: A1 OK ready for starttls"],
        ["before the OK", "S: * OK ready\nC: A1 STARTTLS\nS: * CAPABILITY IDLE\nS+ A1 OK ready for starttls"]
      ] as const) {
        const result = yield* H.play(
          `${script}\n-- starttls\nC: A2 CAPABILITY\nS: * CAPABILITY IMAP4REV1 AUTH=PLAIN AUTH=LOGIN\nS+ A2 OK capability done.`,
          Effect.flatMap(H.upgraded, ImapClient.capabilities)
        )
        H.assertSuccess(result.exit)
        if (Exit.isSuccess(result.exit)) {
          assert.deepStrictEqual(result.exit.value.raw, ["IMAP4REV1", "AUTH=PLAIN", "AUTH=LOGIN"], where)
          assert.isFalse(result.exit.value.idle, where)
        }
      }
    }))

  it.live("A15: no untagged CAPABILITY after TLS → CapabilitiesUnavailable; greeting's AUTH=PLAIN never used", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          S: * OK [CAPABILITY IMAP4REV1 STARTTLS AUTH=PLAIN X-GM-EXT-1] Hi
          C: A1 STARTTLS
          S: A1 OK go
          -- starttls
          C: A2 CAPABILITY
          S: A2 OK CAPABILITY completed
          -- expect-close
        `,
        login
      )
      assert.strictEqual(tagOf(result.exit), "CapabilitiesUnavailable")
      assert.strictEqual(Recording.tlsClientBytes(result.rec), "A2 CAPABILITY\r\n")
      assert.isTrue(H.plaintextIsClean(result.rec))
    }))

  it.live("A16: [CAPABILITY] on the STARTTLS OK is plaintext: discarded, CAPABILITY asked over TLS", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          S: * OK ready
          C: A1 STARTTLS
          S: A1 OK [CAPABILITY IMAP4REV1 AUTH=PLAIN AUTH=LOGIN] Begin TLS negotiation now.
          -- starttls
          C: A2 CAPABILITY
          S: * CAPABILITY IMAP4REV1 AUTH=SCRAM-SHA-256
          S+ A2 OK done
        `,
        Effect.flatMap(H.upgraded, ImapClient.capabilities)
      )
      H.assertSuccess(result.exit)
      if (Exit.isSuccess(result.exit)) assert.deepStrictEqual(result.exit.value.authMechanisms, ["SCRAM-SHA-256"])
    }))

})

describe("STARTTLS hygiene", () => {
  it.live("A19: while the STARTTLS reply is delayed the client writes nothing, even when another fiber asks", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          S: * OK ready
          C: A1 STARTTLS
          -- delay 200
          S: A1 OK go
          -- starttls
          ${TLS_CAPS}
        `,
        Effect.gen(function*() {
          const plain = yield* ImapClient.connect(H.options)
          const upgrading = yield* Effect.forkChild(ImapClient.startTls(plain))
          yield* Effect.sleep("20 millis")
          assert.strictEqual(Connection.runtimeState(plain), "Upgrading")
          const meanwhile = yield* Effect.forkChild(Effect.exit(ImapClient.noop(plain)))
          yield* Fiber.join(upgrading)
          return yield* Fiber.join(meanwhile)
        })
      )
      H.assertSuccess(result.exit)
      if (Exit.isSuccess(result.exit)) assert.strictEqual(tagOf(result.exit.value), "StaleConnection")
      assert.strictEqual(result.rec.sentBeforeHandshake.length, 0)
      // The STARTTLS line went out alone, in a write of its own.
      assert.deepStrictEqual(result.rec.chunks.filter((c) => c.phase === "plain").map((c) => Buffer.from(c.bytes).toString()), [
        "A1 STARTTLS\r\n"
      ])
    }))

  it.live("§3.6.5: a tagged STARTTLS reply with a tag not in flight is a ProtocolViolation (no TLS)", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          S: * OK ready
          C: A1 STARTTLS
          S: A2 OK begin TLS
          -- expect-close
        `,
        login
      )
      failsClean(result, "ProtocolViolation")
    }))
})

describe("N_R: referrals (A20)", () => {
  it.live("a: a plaintext [REFERRAL] after the greeting is ignored (notice), the session goes on with this server", () =>
    Effect.gen(function*() {
      const { events, program } = withEvents(login)
      const result = yield* H.play(
        String.raw`
          S: * OK [CAPABILITY IMAP4REV1 STARTTLS LOGIN-REFERRALS IMAPSIEVE=sieve://example.org] ready
          S: * OK [REFERRAL imaps://example.org:993] go there
          C: A1 STARTTLS
          S: A1 OK go
          -- starttls
          ${TLS_CAPS}
          C: A3 AUTHENTICATE PLAIN ${H.plain}
          S: A3 OK done
        `,
        program
      )
      H.assertSuccess(result.exit)
      assert.strictEqual(result.connects, 1)
      assert.deepStrictEqual(notices(events).map((e) => e.detail), ["[REFERRAL] received before TLS; ignored"])
    }))

  it.live("b: NO [REFERRAL] to LOGIN over TLS → ImapError Referral{url}, nothing followed", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          ${H.UPGRADED}
          C: A2 CAPABILITY
          S: * CAPABILITY IMAP4REV1 LOGIN-REFERRALS
          S+ A2 OK done
          C: A3 LOGIN alice s3cret-pw
          S: A3 NO [REFERRAL IMAP://;AUTH=*@attacker.example.org:243/] try another server.
        `,
        Effect.gen(function*() {
          const secure = yield* H.upgraded
          return yield* ImapClient.login(secure, "alice", Redacted.make(H.password))
        })
      )
      assert.strictEqual(tagOf(result.exit), "Referral")
      const reason = reasonOf(result.exit as Exit.Exit<unknown, never>) as unknown as { readonly url: string }
      assert.strictEqual(reason.url, "IMAP://;AUTH=*@attacker.example.org:243/")
      assert.strictEqual(result.connects, 1)
    }))

  it.live("c: NO [REFERRAL] to SELECT → ImapError Referral, nothing followed", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`${H.LOGGED_IN}
          C: A4 SELECT INBOX
          S: A4 NO [REFERRAL IMAP://;AUTH=*@attacker.example.org:243/inbox] select failed.
        `,
        Effect.flatMap(login, (imap) => ImapClient.select(imap, "INBOX"))
      )
      assert.strictEqual(tagOf(result.exit), "Referral")
      assert.strictEqual(result.connects, 1)
    }))

  it.live("d: a plaintext IMAPSIEVE=url capability is never used (Secure capabilities are the post-TLS list)", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          S: * OK [CAPABILITY IMAP4REV1 STARTTLS IMAPSIEVE=sieve://example.org] ready
          C: A1 STARTTLS
          S: A1 OK go
          -- starttls
          ${TLS_CAPS}
        `,
        Effect.flatMap(H.upgraded, ImapClient.capabilities)
      )
      H.assertSuccess(result.exit)
      if (Exit.isSuccess(result.exit)) assert.isFalse(ImapClientCaps(result.exit.value).includes("IMAPSIEVE"))
    }))
})

const ImapClientCaps = (caps: { readonly raw: ReadonlyArray<string> }) => caps.raw.join(" ")

describe("U_A / U_E: spoofed alerts and error text", () => {
  for (
    const [variant, greeting] of [
      ["a", "* OK [ALERT] bAjdyeKO"],
      ["b", "* OK [BADCHARSET (kkgIhdNV)] MyF21bpV"],
      ["c", "* OK [PARSE] uNiQTghK"]
    ] as const
  ) {
    it.live(`A21 ${variant}: ${greeting} in plaintext never surfaces as server text`, () =>
      Effect.gen(function*() {
        const { events, program } = withEvents(Effect.gen(function*() {
          const plain = yield* ImapClient.connect(H.options)
          const stream = yield* ImapClient.events(plain)
          const imap = yield* ImapClient.authenticate(yield* ImapClient.startTls(plain), H.credentials)
          yield* ImapClient.logout(imap)
          return yield* Stream.runCollect(stream)
        }))
        const result = yield* H.play(
          String.raw`
            S: ${greeting}
            C: A1 STARTTLS
            S: A1 OK go
            -- starttls
            ${TLS_CAPS}
            C: A3 AUTHENTICATE PLAIN ${H.plain}
            S: A3 OK done
            C* A\d+ LOGOUT
            S: <t> OK bye
          `,
          program
        )
        H.assertSuccess(result.exit)
        if (Exit.isSuccess(result.exit)) assert.deepStrictEqual(result.exit.value, [])
        assert.deepStrictEqual(notices(events).length, variant === "a" ? 1 : 0)
        assert.notInclude(JSON.stringify(events), greeting.slice(-8))
      }))
  }

  it.live("A21 d: an ALERT before the STARTTLS OK → UntrustedPlaintextNotice only; e: an ALERT after TLS is delivered", () =>
    Effect.gen(function*() {
      const { events, program } = withEvents(Effect.gen(function*() {
        const plain = yield* ImapClient.connect(H.options)
        const stream = yield* ImapClient.events(plain)
        const imap = yield* ImapClient.authenticate(yield* ImapClient.startTls(plain), H.credentials)
        yield* ImapClient.noop(imap)
        yield* ImapClient.logout(imap)
        return yield* Stream.runCollect(stream)
      }))
      const result = yield* H.play(
        String.raw`
          S: * OK ready
          C: A1 STARTTLS
          S: * OK [ALERT] Attacker-controlled text
          S+ A1 OK go
          -- starttls
          ${TLS_CAPS}
          C: A3 AUTHENTICATE PLAIN ${H.plain}
          S: A3 OK done
          C: A4 NOOP
          S: * OK [ALERT] after TLS.
          S+ A4 OK done
          C* A\d+ LOGOUT
          S: <t> OK bye
        `,
        program
      )
      H.assertSuccess(result.exit)
      if (Exit.isSuccess(result.exit)) assert.deepStrictEqual(result.exit.value, [{ _tag: "Alert", text: "after TLS." }])
      assert.deepStrictEqual(notices(events).map((e) => e.detail), ["[ALERT] received before TLS; dropped"])
      assert.notInclude(JSON.stringify(events), "Attacker")
    }))

  it.live("A21: an implicit-TLS greeting ALERT is trusted and delivered", () =>
    Effect.gen(function*() {
      const { events, program } = withEvents(Effect.gen(function*() {
        const imap = yield* ImapClient.connectTls({ ...H.options, port: 993 })
        const stream = yield* ImapClient.events(imap)
        yield* ImapClient.logout(imap)
        return yield* Stream.runCollect(stream)
      }))
      const result = yield* H.play(
        String.raw`
          -- implicit-tls localhost
          S: * OK [ALERT] Welcome over TLS
          C* A\d+ LOGOUT
          S: <t> OK bye
        `,
        program
      )
      H.assertSuccess(result.exit)
      // The greeting was read before anyone subscribed: it is not replayed, but it is not a notice either.
      assert.deepStrictEqual(notices(events), [])
    }))

  it.live("A22 a: BYE greeting → GreetingRejected, the text only as untrusted", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          S: * BYE Call 555-0100 to restore your account
          -- expect-close
        `,
        login
      )
      failsClean(result, "GreetingRejected")
      const reason = reasonOf(result.exit as Exit.Exit<unknown, never>)
      if (reason._tag === "GreetingRejected") {
        assert.strictEqual(reason.untrustedText, "Call 555-0100 to restore your account")
        assert.notInclude(reason.message, "555")
      }
    }))

  it.live("A22 b: STARTTLS NO with a phishing text → StartTlsRejected, text only as untrusted", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          S: * OK [CAPABILITY IMAP4REV1 STARTTLS] ready
          C: A1 STARTTLS
          S: A1 NO Your password expired, visit http://attacker.example/
          -- expect-close
        `,
        login
      )
      failsClean(result, "StartTlsRejected")
      assert.notInclude(reasonOf(result.exit as Exit.Exit<unknown, never>).message, "attacker")
    }))

  it.live("A22 c: a plaintext LIST entry after the greeting never becomes a mailbox", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          S: * OK ready
          S: * LIST () "/" "Click me! <Payload>"
          C: A1 STARTTLS
          S: A1 OK go
          -- starttls
          ${TLS_CAPS}
          C: A3 AUTHENTICATE PLAIN ${H.plain}
          S: A3 OK [CAPABILITY IMAP4rev1] done
          C: A4 LIST "" *
          S: * LIST () "/" INBOX
          S+ A4 OK done
        `,
        Effect.flatMap(login, (imap) => ImapClient.list(imap))
      )
      H.assertSuccess(result.exit)
      if (Exit.isSuccess(result.exit)) assert.deepStrictEqual(result.exit.value.map((e) => e.name), ["INBOX"])
    }))
})

describe("A24: resource exhaustion", () => {
  it.live("a: an endless first line → LimitExceeded (maxLineLength), no-cred", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        `S: * OK ${"x".repeat(5000)}\n-- expect-close`,
        ImapClient.session({ ...H.options, limits: { maxLineLength: 1024 }, credentials: H.credentials })
      )
      failsClean(result, "LimitExceeded")
      const reason = reasonOf(result.exit as Exit.Exit<unknown, never>)
      if (reason._tag === "LimitExceeded") assert.strictEqual(reason.limit, "maxLineLength")
    }))

  it.live("b: a 4 GiB literal announced before TLS → ProtocolViolation, nothing buffered", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          S: * OK [CAPABILITY IMAP4REV1 STARTTLS] hi
          S+ * 1 FETCH (BODY[] {4294967295}
          C: A1 STARTTLS
          -- expect-close
        `,
        login
      )
      assert.include(["ProtocolViolation", "LimitExceeded"], tagOf(result.exit))
      assert.isTrue(H.plaintextIsClean(result.rec))
    }))

  it.live("b': a 4 GiB literal without streaming → LimitExceeded (maxLiteralSize)", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          S: * OK [CAPABILITY IMAP4REV1 STARTTLS] hi
          S+ * 1 LIST () "/" {4294967295}
          C: A1 STARTTLS
          -- expect-close
        `,
        login
      )
      failsClean(result, "LimitExceeded")
    }))

  it.live("c: a greeting with NUL and 0xFF → a typed result (no defect), no-cred", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          S: * OK \x00\xff ready
          C: A1 STARTTLS
          S: A1 NO not today
          -- expect-close
        `,
        login
      )
      assert.include(["ProtocolViolation", "StartTlsRejected"], tagOf(result.exit))
      assert.isTrue(H.plaintextIsClean(result.rec))
    }))

  it.live("d: an unterminated * ID → the greeting deadline, typed Timeout", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          -- inject * ID ("name" "x"
          -- delay 400
          -- close
        `,
        ImapClient.session({ ...H.options, timeouts: { ...H.options.timeouts, greeting: 150 }, credentials: H.credentials })
      )
      failsClean(result, "Timeout")
    }))
})

describe("A25: certificate validation", () => {
  for (
    const [row, profile, trust, kind] of [
      ["T_1 self-signed", "self-signed", Certificates.ca.cert, "CertificateUntrusted"],
      ["T_2 unknown root", "localhost", Certificates.selfSigned.cert, "CertificateUntrusted"],
      ["T_3 wrong name", "wrong-name", Certificates.ca.cert, "HostnameMismatch"],
      ["T_4 expired", "expired", Certificates.ca.cert, "CertificateExpired"]
    ] as const
  ) {
    it.live(`${row}: STARTTLS and implicit TLS → TlsFailure ${kind}, no credentials, no fallback`, () =>
      Effect.gen(function*() {
        const options = { ...H.options, tls: { trustOnly: [trust] }, credentials: H.credentials }
        const starttls = yield* H.play(
          `S: * OK ready\nC: A1 STARTTLS\nS: A1 OK go\n-- tls ${profile}`,
          ImapClient.session(options)
        )
        failsClean(starttls, "TlsFailure")
        const reason = reasonOf(starttls.exit as Exit.Exit<unknown, never>)
        if (reason._tag === "TlsFailure") assert.strictEqual(reason.kind, kind)
        const implicit = yield* H.play(
          `-- implicit-tls ${profile}\nS: * OK ready`,
          ImapClient.session({ ...options, port: 993 })
        )
        assert.strictEqual(tagOf(implicit.exit), "TlsFailure")
        assert.strictEqual(Recording.tlsClientBytes(implicit.rec), "")
        assert.strictEqual(implicit.connects, 1)
      }))
  }
})

describe("A26: implicit TLS", () => {
  it.live("a: the port speaks plaintext → SecurityModeMismatch (a TLS failure), no re-read, no fallback", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          S: * OK IMAP ready
          -- expect-close
        `,
        ImapClient.session({ ...H.options, port: 993, credentials: H.credentials })
      )
      failsClean(result, "SecurityModeMismatch")
    }))

  it.live("b: a STARTTLS capability over implicit TLS is never acted on", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          -- implicit-tls localhost
          S: * OK [CAPABILITY IMAP4REV1 STARTTLS AUTH=PLAIN] ready
          C: A1 AUTHENTICATE PLAIN
          S: +
          C: ${H.plain}
          S: A1 OK [CAPABILITY IMAP4rev1] done
        `,
        ImapClient.session({ ...H.options, port: 993, credentials: H.credentials })
      )
      H.assertSuccess(result.exit)
      assert.notInclude(Recording.tlsClientBytes(result.rec), "STARTTLS")
    }))
})

describe("A28: the opportunistic policy", () => {
  for (
    const [row, reply] of [["A1", "A2 BAD STARTTLS not supported."], ["A2 a", "A2 NO do not begin TLS now."]] as const
  ) {
    it.live(`${row} replayed: stays Plain with a Downgrade event; without the policy the same script fails`, () =>
      Effect.gen(function*() {
        const script = String.raw`
          S: * OK [CAPABILITY IMAP4REV1 STARTTLS AUTH=PLAIN] ready
          C: A1 CAPABILITY
          S: * CAPABILITY IMAP4REV1 STARTTLS AUTH=PLAIN
          S+ A1 OK done
          C: A2 STARTTLS
          S: ${reply}
        `
        const { events, program } = withEvents(
          ImapClient.opportunistic(H.options).pipe(Effect.provide(TlsPolicy.opportunisticStartTlsDangerously))
        )
        const result = yield* H.play(script, program)
        H.assertSuccess(result.exit)
        if (Exit.isSuccess(result.exit)) {
          assert.strictEqual(result.exit.value.state, "Plain")
          assert.isUndefined(Connection.tlsSession(result.exit.value))
        }
        assert.deepStrictEqual(events.map((e) => e._tag), ["Downgrade"])
        assert.isTrue(H.plaintextIsClean(result.rec))
        const strict = yield* H.play(
          String.raw`
            S: * OK [CAPABILITY IMAP4REV1 STARTTLS AUTH=PLAIN] ready
            C: A1 STARTTLS
            S: ${reply.replace("A2", "A1")}
          `,
          login
        )
        failsClean(strict, "StartTlsRejected")
      }))
  }

  it.live("under the policy, plaintext capabilities are still discarded when TLS succeeds", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          S: * OK [CAPABILITY IMAP4REV1 STARTTLS AUTH=PLAIN X-PLAIN-ONLY] ready
          C: A1 CAPABILITY
          S: * CAPABILITY IMAP4REV1 STARTTLS AUTH=PLAIN X-PLAIN-ONLY
          S+ A1 OK done
          C: A2 STARTTLS
          S: A2 OK go
          -- starttls
          C: A3 CAPABILITY
          S: * CAPABILITY IMAP4REV1 AUTH=SCRAM-SHA-256
          S+ A3 OK done
        `,
        Effect.gen(function*() {
          const connection = yield* ImapClient.opportunistic(H.options)
          assert.strictEqual(connection.state, "Secure")
          return yield* ImapClient.capabilities(connection as ImapClient.ImapConnection<"Secure">)
        }).pipe(Effect.provide(TlsPolicy.opportunisticStartTlsDangerously))
      )
      H.assertSuccess(result.exit)
      if (Exit.isSuccess(result.exit)) assert.deepStrictEqual(result.exit.value.raw, ["IMAP4REV1", "AUTH=SCRAM-SHA-256"])
    }))

  it.live("plaintext authentication under the explicit policy: sent, with a PlaintextAuthentication event", () =>
    Effect.gen(function*() {
      const { events, program } = withEvents(Effect.gen(function*() {
        const plain = yield* ImapClient.connect(H.options)
        return yield* ImapClient.authenticate(plain, H.credentials)
      }).pipe(Effect.provide(TlsPolicy.allowPlaintextAuthDangerously)))
      const result = yield* H.play(
        String.raw`
          S: * OK [CAPABILITY IMAP4REV1 SASL-IR AUTH=PLAIN] ready
          C: A1 AUTHENTICATE PLAIN ${H.plain}
          S: A1 OK done
        `,
        program
      )
      H.assertSuccess(result.exit)
      assert.deepStrictEqual(events.map((e) => e._tag), ["PlaintextAuthentication"])
      assert.isFalse(H.plaintextIsClean(result.rec))
    }))
})

describe("§3.6 invariants not covered above", () => {
  it.live("1/7: a failed upgrade leaves the Plain handle stale: no later command can go out in plaintext", () =>
    Effect.gen(function*() {
      const result = yield* H.play(
        String.raw`
          S: * OK ready
          C: A1 STARTTLS
          S: A1 NO nope
          -- expect-close
        `,
        Effect.gen(function*() {
          const plain = yield* ImapClient.connect(H.options)
          const failed = yield* Effect.exit(ImapClient.startTls(plain))
          assert.strictEqual(tagOf(failed), "StartTlsRejected")
          return yield* ImapClient.noop(plain)
        })
      )
      assert.strictEqual(tagOf(result.exit), "StaleConnection")
      assert.strictEqual(Recording.plaintextClientBytes(result.rec), "A1 STARTTLS\r\n")
    }))
})
