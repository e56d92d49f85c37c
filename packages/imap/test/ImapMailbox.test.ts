import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as ImapMailbox from "../src/ImapMailbox.ts"

const status = (exists: number): ImapMailbox.MailboxStatus => ({
  name: "INBOX",
  readOnly: false,
  exists,
  recent: undefined,
  flags: [],
  permanentFlags: undefined,
  uidValidity: 1,
  uidNext: undefined,
  firstUnseen: undefined,
  highestModSeq: undefined
})

describe("ImapMailbox view", () => {
  it("EXPUNGE renumbers the later messages and reports the UID", () => {
    let view = ImapMailbox.makeView(status(4))
    for (const [seq, uid] of [[1, 10], [2, 20], [4, 40]] as const) view = ImapMailbox.applyFetch(view, seq, uid, ["\\Seen"])
    const { uid, view: after } = ImapMailbox.applyExpunge(view, 2)
    assert.strictEqual(uid, 20)
    assert.strictEqual(after.status.exists, 3)
    assert.deepStrictEqual(after.messages.map((m) => [m.seq, m.uid]), [[1, 10], [3, 40]])
    // An unknown message: nothing known is removed, the later ones still move down.
    const second = ImapMailbox.applyExpunge(after, 2)
    assert.strictEqual(second.uid, undefined)
    assert.deepStrictEqual(second.view.messages.map((m) => [m.seq, m.uid]), [[1, 10], [2, 40]])
  })

  it("FETCH keeps attributes not sent, inserts out of order, raises EXISTS for a message beyond it", () => {
    let view = ImapMailbox.makeView(status(2))
    view = ImapMailbox.applyFetch(view, 2, 20, undefined)
    view = ImapMailbox.applyFetch(view, 1, undefined, ["\\Flagged"])
    view = ImapMailbox.applyFetch(view, 2, undefined, ["\\Seen"])
    view = ImapMailbox.applyFetch(view, 5, 50, [])
    assert.deepStrictEqual(view.messages, [
      { seq: 1, uid: undefined, flags: ["\\Flagged"] },
      { seq: 2, uid: 20, flags: ["\\Seen"] },
      { seq: 5, uid: 50, flags: [] }
    ])
    assert.strictEqual(view.status.exists, 5)
    assert.deepStrictEqual(ImapMailbox.messageAt(view, 2), { seq: 2, uid: 20, flags: ["\\Seen"] })
    assert.isUndefined(ImapMailbox.messageAt(view, 3))
  })

  it("a lower EXISTS forgets the messages beyond it; a huge EXISTS allocates nothing", () => {
    let view = ImapMailbox.makeView(status(3))
    for (const seq of [1, 2, 3]) view = ImapMailbox.applyFetch(view, seq, seq, undefined)
    assert.deepStrictEqual(ImapMailbox.applyExists(view, 1).messages.map((m) => m.seq), [1])
    const huge = ImapMailbox.applyExists(view, 4_000_000_000)
    assert.strictEqual(huge.status.exists, 4_000_000_000)
    assert.strictEqual(huge.messages.length, 3)
  })

  it("VANISHED removes the known UIDs and lowers EXISTS by the set's size", () => {
    let view = ImapMailbox.makeView(status(5))
    for (const seq of [1, 2, 3, 4, 5]) view = ImapMailbox.applyFetch(view, seq, seq * 10, undefined)
    const after = ImapMailbox.applyVanished(view, "20,40:41")
    assert.strictEqual(after.status.exists, 2)
    assert.deepStrictEqual(after.messages.map((m) => [m.seq, m.uid]), [[1, 10], [2, 30], [3, 50]])
    assert.strictEqual(ImapMailbox.applyVanished(view, "garbage"), view)
  })

  it("special-use attributes, case-insensitively", () => {
    assert.strictEqual(ImapMailbox.specialUseOf("\\sent"), "\\Sent")
    assert.strictEqual(ImapMailbox.specialUseOf("\\Important"), "\\Important")
    assert.isUndefined(ImapMailbox.specialUseOf("\\HasChildren"))
  })

  it("property: the view agrees with a full model of the mailbox under EXISTS / EXPUNGE / FETCH", () => {
    type Op =
      | { readonly _tag: "Exists"; readonly add: number }
      | { readonly _tag: "Expunge"; readonly at: number }
      | { readonly _tag: "Fetch"; readonly at: number; readonly flags: ReadonlyArray<string> }
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ _tag: fc.constant("Exists" as const), add: fc.nat({ max: 3 }) }),
      fc.record({ _tag: fc.constant("Expunge" as const), at: fc.nat() }),
      fc.record({
        _tag: fc.constant("Fetch" as const),
        at: fc.nat(),
        flags: fc.subarray(["\\Seen", "\\Flagged", "$Work"])
      })
    )
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      // Model: every message with its UID; `known` flags only once a FETCH told them.
      const model: Array<{ uid: number; flags: ReadonlyArray<string> | undefined; seen: boolean }> = []
      let nextUid = 1
      let view = ImapMailbox.makeView(status(0))
      for (const o of ops) {
        if (o._tag === "Exists") {
          for (let i = 0; i < o.add; i++) model.push({ uid: nextUid++, flags: undefined, seen: false })
          view = ImapMailbox.applyExists(view, model.length)
        } else if (model.length > 0) {
          const seq = (o.at % model.length) + 1
          const m = model[seq - 1]!
          if (o._tag === "Expunge") {
            const { uid, view: next } = ImapMailbox.applyExpunge(view, seq)
            if (uid !== (m.seen ? m.uid : undefined)) return false
            model.splice(seq - 1, 1)
            view = next
          } else {
            m.flags = o.flags
            m.seen = true
            view = ImapMailbox.applyFetch(view, seq, m.uid, o.flags)
          }
        }
      }
      const expected = model.flatMap((m, i) => (m.seen ? [{ seq: i + 1, uid: m.uid, flags: m.flags }] : []))
      assert.deepStrictEqual(view.messages, expected)
      return view.status.exists === model.length
    }), { numRuns: 300 })
  })
})
