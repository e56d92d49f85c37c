import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Buffer } from "node:buffer"
import type * as ImapResponse from "../src/ImapResponse.ts"
import { bytes, canonOutcome, concat, latin1, run, splitAt, whole } from "./fixtures/harness.ts"

/** One generated response: its wire bytes, the `_tag` it decodes to, the literal bytes it carries. */
interface Generated {
  readonly wire: Uint8Array
  readonly tag: string
  readonly literal?: Uint8Array
}

// Literal content biased towards what could confuse a framer that scanned it: CRLF, lone LF,
// "{5}" marker look-alikes, NUL, ")" and DQUOTE.
const tricky = fc
  .array(
    fc.oneof(
      fc.constantFrom("\r\n", "\n", "{5}\r\n", "~{3}\r\n", "{0}", "\u0000", ")", '"', "* OK x\r\n", "a1 OK\r\n"),
      fc.string({ maxLength: 6 })
    ),
    { maxLength: 12 }
  )
  .map((parts) => bytes(parts.join("")))

const literalBytes = fc.oneof(tricky, fc.uint8Array({ maxLength: 80 }))

const text = fc.stringMatching(/^[A-Za-z0-9 .,:-]{0,20}$/)
const nz = fc.integer({ min: 1, max: 4_000_000_000 })
const section = fc.constantFrom("", "TEXT", "HEADER", "1.2", "1.MIME", "HEADER.FIELDS (SUBJECT FROM)")

/** Quoted-string content as bytes: any Unicode text as UTF-8, or any bytes (8-bit, often not
 * UTF-8), but no CR, LF or NUL. */
const quotable = fc
  .oneof(fc.string({ unit: "binary", maxLength: 12 }).map(bytes), fc.uint8Array({ maxLength: 12 }))
  .map((b) => b.filter((c) => c !== 0x0d && c !== 0x0a && c !== 0x00))

/** `quoted` with `\` and DQUOTE escaped: the bytes as a latin1 string. */
const quote = (b: Uint8Array): string =>
  '"' + Buffer.from(b).toString("latin1").replace(/[\\"]/g, (c) => "\\" + c) + '"'

/** A FETCH with `text` as the ENVELOPE subject, as BODY[1] data and as unknown data (all quoted),
 * and a BODY[] literal among them. */
const withQuoted = (seq: number, text: Uint8Array, literal: Uint8Array): Generated => ({
  wire: concat([
    latin1(`* ${seq} FETCH (ENVELOPE (NIL ${quote(text)} NIL NIL NIL NIL NIL NIL NIL NIL) BODY[] {${literal.length}}\r\n`),
    literal,
    latin1(` BODY[1] ${quote(text)} X-T ${quote(text)})\r\n`)
  ]),
  tag: "Fetch",
  literal
})

const withLiteral = (head: string, literal: Uint8Array, tail: string, tag: string): Generated => ({
  wire: concat([bytes(`${head}{${literal.length}}\r\n`), literal, bytes(`${tail}\r\n`)]),
  tag,
  literal
})

const response: fc.Arbitrary<Generated> = fc.oneof(
  fc.tuple(nz).map(([n]) => ({ wire: bytes(`* ${n} EXISTS\r\n`), tag: "Exists" })),
  fc.tuple(fc.stringMatching(/^[A-Za-z0-9]{1,6}$/), fc.constantFrom("OK", "NO", "BAD"), text).map(([t, s, x]) => ({
    wire: bytes(`${t} ${s} ${x}\r\n`),
    tag: "Tagged"
  })),
  fc.tuple(text).map(([x]) => ({ wire: bytes(`* OK [UIDNEXT 5] ${x}\r\n`), tag: "Condition" })),
  fc.tuple(fc.array(nz, { maxLength: 8 })).map(([ns]) => ({ wire: bytes(`* SEARCH ${ns.join(" ")}\r\n`), tag: "Search" })),
  fc.tuple(nz, nz, section, literalBytes).map(([seq, uid, sec, lit]) =>
    withLiteral(`* ${seq} FETCH (UID ${uid} BODY[${sec}] `, lit, " FLAGS (\\Seen))", "Fetch")
  ),
  fc.tuple(nz, literalBytes).map(([seq, lit]) => withLiteral(`* ${seq} FETCH (BINARY[1] ~`, lit, ")", "Fetch")),
  fc.tuple(fc.string({ maxLength: 10 })).map(([name]) => {
    const b = bytes(name)
    return { wire: concat([bytes(`* LIST () "/" {${b.length}}\r\n`), b, bytes("\r\n")]), tag: "List" }
  }),
  fc.tuple(fc.base64String({ maxLength: 24 })).map(([b64]) => ({ wire: bytes(`+ ${b64}\r\n`), tag: "Continuation" })),
  fc.tuple(nz, quotable, literalBytes).map(([seq, text, lit]) => withQuoted(seq, text, lit))
)

const session = fc.array(response, { minLength: 1, maxLength: 8 })
const cuts = fc.array(fc.nat({ max: 4000 }), { maxLength: 12 })

const hex = (b: Uint8Array | null | undefined): string | null | undefined =>
  b == null ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex")

const bodyOf = (f: ImapResponse.Frame): Uint8Array | null | undefined => {
  if (f._tag !== "Fetch") return undefined
  return (f.attributes.bodySections ?? f.attributes.binarySections)?.[0]?.bytes
}

describe("chunking invariance (property)", () => {
  it("any split of a response sequence gives the same responses", () => {
    fc.assert(
      fc.property(session, cuts, (responses, points) => {
        const input = concat(responses.map((r) => r.wire))
        const reference = whole(input)
        assert.strictEqual(reference.error, undefined)
        assert.deepStrictEqual(reference.frames.map((f) => f._tag), responses.map((r) => r.tag))
        assert.strictEqual(reference.buffered, 0)
        // the literals come back byte for byte
        reference.frames.forEach((f, i) => {
          const expected = responses[i]!.literal
          if (f._tag === "Fetch" && expected !== undefined) assert.strictEqual(hex(bodyOf(f)), hex(expected))
        })
        const chunked = run(splitAt(input, points.map((p) => p % (input.length + 1))))
        assert.deepStrictEqual(canonOutcome(chunked), canonOutcome(reference))
      }),
      { numRuns: 300 }
    )
  })

  it("streamed literal chunks concatenate to the literal, under any split", () => {
    fc.assert(
      fc.property(session, cuts, fc.nat({ max: 40 }), (responses, points, threshold) => {
        const input = concat(responses.map((r) => r.wire))
        const options = { streamLiteralsAbove: threshold }
        const reference = whole(input)
        const chunked = run(splitAt(input, points.map((p) => p % (input.length + 1))), options)
        assert.strictEqual(chunked.error, undefined)
        assert.strictEqual(chunked.buffered, 0)
        assert.deepStrictEqual(canonOutcome(chunked), canonOutcome(whole(input, options)))
        // rebuild every streamed body from its chunks and compare with the buffered parse
        const rebuilt: Array<ImapResponse.Frame> = []
        let parts: Array<Uint8Array> | undefined
        for (const f of chunked.frames) {
          if (f._tag === "LiteralStart") parts = []
          else if (f._tag === "LiteralChunk") parts!.push(f.bytes)
          else if (f._tag === "Fetch" && parts !== undefined) {
            const streamed = (f.attributes.bodySections ?? f.attributes.binarySections)![0]!
            assert.isTrue(streamed.streamed)
            assert.strictEqual(streamed.size, concat(parts).length)
            assert.isAbove(streamed.size ?? 0, threshold)
            rebuilt.push(bytesFrame(f, concat(parts)))
            parts = undefined
          } else rebuilt.push(f)
        }
        assert.deepStrictEqual(rebuilt.map((f) => hex(bodyOf(f))), reference.frames.map((f) => hex(bodyOf(f))))
      }),
      { numRuns: 300 }
    )
  })

  it("8-bit quoted strings: UTF-8 decoded as text (U+FFFD for invalid bytes), the bytes themselves as data, under any split", () => {
    fc.assert(
      fc.property(nz, quotable, literalBytes, cuts, (seq, text, lit, points) => {
        const g = withQuoted(seq, text, lit)
        const outcome = run(splitAt(g.wire, points.map((p) => p % (g.wire.length + 1))))
        assert.strictEqual(outcome.error, undefined)
        const f = outcome.frames[0]
        assert.strictEqual(f?._tag, "Fetch")
        if (f?._tag !== "Fetch") return
        const asText = Buffer.from(text).toString("utf8")
        assert.strictEqual(f.attributes.envelope?.subject, asText)
        assert.strictEqual(hex(f.attributes.bodySections?.[0]?.bytes), hex(lit))
        assert.strictEqual(hex(f.attributes.bodySections?.[1]?.bytes), hex(text))
        assert.deepStrictEqual(f.attributes.unknown, [{ name: "X-T", value: asText }])
      }),
      { numRuns: 500 }
    )
  })

  it("arbitrary bytes never throw and give the same verdict under any split", () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), tricky), cuts, (input, points) => {
        const reference = whole(input)
        const chunked = run(splitAt(input, points.map((p) => p % (input.length + 1))))
        assert.strictEqual(chunked.error?._tag, reference.error?._tag)
        if (reference.error === undefined) assert.deepStrictEqual(canonOutcome(chunked), canonOutcome(reference))
      }),
      { numRuns: 500 }
    )
  })
})

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
const pad = (n: number, w = 2): string => String(n).padStart(w, "0")

describe("INTERNALDATE (property)", () => {
  it("epoch milliseconds agree with Date for any date-time and zone", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(1900, 0, 1), max: Date.UTC(2200, 0, 1) }),
        fc.integer({ min: -12 * 60, max: 14 * 60 }),
        fc.boolean(),
        (t, zone, spaceDay) => {
          const utc = t - (t % 1000)
          const local = new Date(utc + zone * 60_000)
          const day = local.getUTCDate()
          const text = `${spaceDay && day < 10 ? ` ${day}` : pad(day)}-${MONTHS[local.getUTCMonth()]}-${pad(local.getUTCFullYear(), 4)} ` +
            `${pad(local.getUTCHours())}:${pad(local.getUTCMinutes())}:${pad(local.getUTCSeconds())} ` +
            `${zone < 0 ? "-" : "+"}${pad(Math.floor(Math.abs(zone) / 60))}${pad(Math.abs(zone) % 60)}`
          const f = whole(`* 1 FETCH (INTERNALDATE "${text}")\r\n`).frames[0]
          assert.strictEqual(f?._tag === "Fetch" ? f.attributes.internalDateMillis : undefined, utc, text)
        }
      ),
      { numRuns: 500 }
    )
  })
})

/** The FETCH frame with its streamed section's bytes filled in. */
const bytesFrame = (f: ImapResponse.Fetch, body: Uint8Array): ImapResponse.Fetch => {
  const a = f.attributes
  const fill = (s: ReadonlyArray<ImapResponse.BodySection> | undefined) =>
    s?.map((x) => (x.streamed ? { section: x.section, bytes: body } : x))
  const bodySections = fill(a.bodySections)
  const binarySections = fill(a.binarySections)
  return {
    ...f,
    attributes: {
      ...a,
      ...(bodySections === undefined ? {} : { bodySections }),
      ...(binarySections === undefined ? {} : { binarySections })
    }
  }
}
