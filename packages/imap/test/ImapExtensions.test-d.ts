import type * as MailError from "@starttls/core/MailError"
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import { describe, expectTypeOf, it } from "vitest"
import * as ImapClient from "../src/ImapClient.ts"
import type * as ImapError from "../src/ImapError.ts"
import type * as ImapMailbox from "../src/ImapMailbox.ts"
import * as SequenceSet from "../src/SequenceSet.ts"

declare const plain: ImapClient.ImapConnection<"Plain">
declare const secure: ImapClient.ImapConnection<"Secure">
declare const authed: ImapClient.ImapConnection<"Authenticated">
declare const selected: ImapClient.Selected

type Errors = ImapError.ImapError | MailError.MailError

describe("IDLE", () => {
  it("only on a Selected handle, as a Stream of events that needs nothing", () => {
    expectTypeOf(ImapClient.idle(selected)).toEqualTypeOf<Stream.Stream<ImapMailbox.ImapEvent, Errors>>()
    // @ts-expect-error no mailbox selected
    ImapClient.idle(authed)
    // @ts-expect-error not authenticated
    ImapClient.idle(secure)
  })

  it("the fallback is named: polling only when asked for", () => {
    ImapClient.idle(selected, { fallback: "poll", pollInterval: "30 seconds", restartAfter: "10 minutes", doneTimeout: 5000 })
    // @ts-expect-error only "poll"
    ImapClient.idle(selected, { fallback: true })
  })
})

describe("ENABLE", () => {
  it("only on an Authenticated connection handle (before SELECT: never with a Selected handle)", () => {
    expectTypeOf(ImapClient.enable(authed, ["CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "IMAP4rev2"])).toEqualTypeOf<
      Effect.Effect<ReadonlyArray<string>, Errors>
    >()
    // @ts-expect-error a mailbox is selected (RFC 5161 §3.1)
    ImapClient.enable(selected, ["CONDSTORE"])
    // @ts-expect-error not authenticated
    ImapClient.enable(secure, ["CONDSTORE"])
  })
})

describe("ID", () => {
  it("over TLS only: Secure, Authenticated or Selected, never Plain", () => {
    type Answer = Effect.Effect<Readonly<Record<string, string | null>> | null, Errors>
    expectTypeOf(ImapClient.id(secure, { name: "x" })).toEqualTypeOf<Answer>()
    expectTypeOf(ImapClient.id(authed, null)).toEqualTypeOf<Answer>()
    expectTypeOf(ImapClient.id(selected, null)).toEqualTypeOf<Answer>()
    // @ts-expect-error ID is never sent in plaintext
    ImapClient.id(plain, { name: "x" })
  })
})

describe("NAMESPACE, CREATE-SPECIAL-USE", () => {
  it("NAMESPACE in the Authenticated state (or Selected)", () => {
    expectTypeOf(ImapClient.namespace(authed)).toEqualTypeOf<Effect.Effect<ImapClient.Namespaces, Errors>>()
    ImapClient.namespace(selected)
    // @ts-expect-error not authenticated
    ImapClient.namespace(secure)
  })

  it("CREATE takes RFC 6154 attributes only", () => {
    ImapClient.create(authed, "Sent", { specialUse: "\\Sent" })
    ImapClient.create(authed, "Both", { specialUse: ["\\Archive", "\\Trash"] })
    // @ts-expect-error not a special-use attribute
    ImapClient.create(authed, "X", { specialUse: "\\Stuff" })
  })
})

describe("CONDSTORE / QRESYNC", () => {
  it("STORE with unchangedSince returns the conditional result (MODIFIED as data)", () => {
    expectTypeOf(ImapClient.store(selected, SequenceSet.all, "add", ["\\Seen"], { unchangedSince: 5n })).toEqualTypeOf<
      Effect.Effect<ImapClient.ConditionalStoreResult, Errors>
    >()
    expectTypeOf(ImapClient.store(selected, SequenceSet.all, "add", ["\\Seen"], { silent: true })).toEqualTypeOf<
      Effect.Effect<ReadonlyArray<ImapClient.StoreResult>, Errors>
    >()
    expectTypeOf<ImapClient.ConditionalStoreResult["modified"]>().toEqualTypeOf<SequenceSet.SequenceSet | undefined>()
  })

  it("SELECT with qresync: the result may carry the resync data", () => {
    const result = ImapClient.select(authed, "INBOX", { qresync: { uidValidity: 1, modSeq: 2n, knownUids: SequenceSet.all } })
    expectTypeOf(result).toEqualTypeOf<Effect.Effect<ImapClient.Selected, Errors>>()
    expectTypeOf<ImapClient.Selected["resync"]>().toEqualTypeOf<ImapClient.Resync | undefined>()
    // @ts-expect-error uidValidity is required
    ImapClient.select(authed, "INBOX", { qresync: { modSeq: 2n } })
  })
})

describe("MOVE", () => {
  it("the fallback and the dangerous plain EXPUNGE are explicit options", () => {
    expectTypeOf(ImapClient.move(selected, SequenceSet.all, "Trash", { fallback: true, expungeAllDeleted: true }))
      .toEqualTypeOf<Effect.Effect<ImapClient.CopyResult, Errors>>()
    // @ts-expect-error MOVE needs a selected mailbox
    ImapClient.move(authed, SequenceSet.all, "Trash")
  })
})
