import { assert, describe, it } from "@effect/vitest"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import type * as ImapProtocol from "../src/ImapProtocol.ts"
import {
  byteAtATime,
  bytes,
  canon,
  canonOutcome,
  type Outcome,
  randomSplit,
  run,
  splitAt,
  whole
} from "./fixtures/harness.ts"
import { dovecotPostLoginCapabilities, RFC3501_HEADER, transcripts } from "./fixtures/transcripts.ts"

/** Every chunking of `input` gives the outcome of one whole push. */
const assertChunkingInvariant = (input: Uint8Array, options?: ImapProtocol.ParserOptions): Outcome => {
  const reference = whole(input, options)
  const expected = canonOutcome(reference)
  assert.deepStrictEqual(canonOutcome(run(byteAtATime(input), options)), expected, "byte at a time")
  for (let seed = 1; seed <= 25; seed++) {
    assert.deepStrictEqual(canonOutcome(run(randomSplit(input, seed), options)), expected, `random split ${seed}`)
  }
  const step = Math.max(1, Math.floor(input.length / 300))
  for (let cut = 1; cut < input.length; cut += step) {
    assert.deepStrictEqual(canonOutcome(run(splitAt(input, [cut]), options)), expected, `split at ${cut}`)
  }
  return reference
}

describe("transcripts", () => {
  for (const t of transcripts) {
    it(`${t.name} (${t.source}: ${t.cite})`, () => {
      const input = bytes(t.wire)
      const o = assertChunkingInvariant(input)
      assert.strictEqual(o.error, undefined, o.error?.message)
      assert.deepStrictEqual(o.frames.map((f) => f._tag), t.tags)
      assert.strictEqual(o.buffered, 0)
      // streaming every body section changes only how bodies are delivered
      assertChunkingInvariant(input, { streamLiteralsAbove: 0 })
    })
  }

  it("Dovecot lines decode to the values of README §4", () => {
    const [greeting, caps, tagged, alert, privacy] = whole(transcripts[0]!.wire).frames
    assert.deepStrictEqual(canon(greeting), {
      _tag: "Condition",
      status: "OK",
      code: {
        _tag: "CAPABILITY",
        capabilities: ["IMAP4rev1", "SASL-IR", "LOGIN-REFERRALS", "ID", "ENABLE", "IDLE", "LITERAL+", "STARTTLS", "LOGINDISABLED"]
      },
      text: "Dovecot (Debian) ready."
    })
    assert.strictEqual(caps?._tag === "Capability" ? caps.capabilities.length : 0, 9)
    assert.strictEqual(tagged?._tag === "Tagged" ? tagged.tag : "", "a")
    assert.strictEqual(alert?._tag === "Condition" ? alert.status : "", "BAD")
    assert.deepStrictEqual(alert?._tag === "Condition" ? alert.code : undefined, { _tag: "ALERT" })
    assert.deepStrictEqual(canon(privacy), {
      _tag: "Tagged",
      tag: "b",
      status: "NO",
      code: { _tag: "PRIVACYREQUIRED" },
      text: "Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
    })
    const post = whole(transcripts[1]!.wire).frames[2]
    assert.deepStrictEqual(post?._tag === "Capability" ? post.capabilities : [], dovecotPostLoginCapabilities)
  })

  it("RFC 3501 §8 FETCH values", () => {
    const frames = whole(transcripts[3]!.wire).frames
    const envelopeFetch = frames[8]
    if (envelopeFetch?._tag !== "Fetch") throw new Error("expected Fetch")
    assert.strictEqual(envelopeFetch.seq, 12)
    assert.strictEqual(envelopeFetch.attributes.internalDateMillis, Date.UTC(1996, 6, 17, 9, 44, 25))
    assert.strictEqual(envelopeFetch.attributes.envelope?.subject, "IMAP4rev1 WG mtg summary and minutes")
    assert.strictEqual(envelopeFetch.attributes.envelope?.cc.length, 2)
    assert.strictEqual(envelopeFetch.attributes.bodyStructure?._tag, "SinglePart")
    const header = frames[10]
    if (header?._tag !== "Fetch") throw new Error("expected Fetch")
    const section = header.attributes.bodySections?.[0]
    assert.strictEqual(section?.section, "HEADER")
    assert.strictEqual(new TextDecoder().decode(section?.bytes ?? new Uint8Array(0)), RFC3501_HEADER)
  })
})

// Live captures (capture-dovecot.ts writes captured/<name>.imap and <name>.json).
const capturedDir = join(import.meta.dirname, "fixtures", "captured")
const captured = existsSync(capturedDir) ? readdirSync(capturedDir).filter((f) => f.endsWith(".imap")) : []

// No captures yet: no test is registered (the transcripts above cover the same kinds of lines).
for (const file of captured) {
  describe("captured server session", () => {
    it(file, () => {
      const input = new Uint8Array(readFileSync(join(capturedDir, file)))
      const meta = JSON.parse(readFileSync(join(capturedDir, file.replace(/\.imap$/, ".json")), "utf8")) as {
        readonly tags: ReadonlyArray<string>
      }
      const o = assertChunkingInvariant(input)
      assert.strictEqual(o.error, undefined, o.error?.message)
      assert.strictEqual(o.buffered, 0)
      const tagged = o.frames.flatMap((f) => (f._tag === "Tagged" ? [f.tag] : []))
      assert.deepStrictEqual(tagged, meta.tags)
      // everything the capture asks for has a model: nothing should come back as Unknown
      assert.deepStrictEqual(o.frames.filter((f) => f._tag === "Unknown"), [])
      assertChunkingInvariant(input, { streamLiteralsAbove: 100 })
    })
  })
}
