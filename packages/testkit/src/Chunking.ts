/**
 * fast-check arbitraries for chunking tests (STYLE.md rule 12): every way the network may cut a byte
 * stream into chunks, and random non-empty suffixes to put after a STARTTLS reply (ATTACKS.md §3.5).
 * Chunks are never empty; concatenated they always give the input back.
 *
 * @since 0.1.0
 */
import * as fc from "fast-check"

const encoder = new TextEncoder()

const cut = (bytes: Uint8Array, positions: ReadonlyArray<number>): ReadonlyArray<Uint8Array> => {
  const chunks: Array<Uint8Array> = []
  let start = 0
  for (const position of positions) {
    chunks.push(bytes.subarray(start, position))
    start = position
  }
  chunks.push(bytes.subarray(start))
  return chunks
}

/**
 * Splits `bytes` at the given cut positions (each strictly between 0 and `bytes.length`, ascending,
 * distinct). An empty input gives no chunk.
 *
 * @category constructors
 * @since 0.1.0
 */
export const splitAt = (bytes: Uint8Array, positions: ReadonlyArray<number>): ReadonlyArray<Uint8Array> =>
  bytes.length === 0 ? [] : cut(bytes, positions)

/**
 * Every split of `bytes` into non-empty chunks: random cut points, including the two extremes (one
 * chunk, and byte-at-a-time) which fast-check tries first when shrinking.
 *
 * @category constructors
 * @since 0.1.0
 */
export const splits = (bytes: Uint8Array): fc.Arbitrary<ReadonlyArray<Uint8Array>> => {
  if (bytes.length <= 1) return fc.constant(splitAt(bytes, []))
  const inner = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1)
  return fc.oneof(
    { arbitrary: fc.subarray(inner), weight: 8 },
    { arbitrary: fc.constant(inner), weight: 1 },
    { arbitrary: fc.constant<Array<number>>([]), weight: 1 }
  ).map((positions) => splitAt(bytes, positions))
}

/**
 * Bytes from `bytesArb` together with a random split of them.
 *
 * @category constructors
 * @since 0.1.0
 */
export const chunked = (
  bytesArb: fc.Arbitrary<Uint8Array>
): fc.Arbitrary<{ readonly bytes: Uint8Array; readonly chunks: ReadonlyArray<Uint8Array> }> =>
  bytesArb.chain((bytes) => splits(bytes).map((chunks) => ({ bytes, chunks })))

const protocolLines: ReadonlyArray<string> = [
  "* OK injected\r\n",
  "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n",
  "A2 OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] done\r\n",
  "* 1 EXISTS\r\n",
  "+ \r\n",
  "+OK\r\n",
  "+OK injected\r\n",
  "-ERR no\r\n",
  "250 ",
  "250-AUTH PLAIN LOGIN\r\n250 OK\r\n",
  "220 ready\r\n",
  "\r\n",
  "\n",
  "\r"
]

/**
 * Random non-empty byte strings to follow a STARTTLS reply: protocol-looking lines ("* OK",
 * "250 ", "+OK" ...), CRLF fragments, arbitrary bytes, and combinations of them.
 *
 * @category constructors
 * @since 0.1.0
 */
export const nonEmptySuffix = (): fc.Arbitrary<Uint8Array> => {
  const line = fc.constantFrom(...protocolLines).map((s) => encoder.encode(s))
  const printable = fc.string({ minLength: 1, maxLength: 40 }).map((s) => encoder.encode(s))
  const binary = fc.uint8Array({ minLength: 1, maxLength: 64 })
  const piece = fc.oneof(line, printable, binary)
  return fc.array(piece, { minLength: 1, maxLength: 4 }).map((parts) => Uint8Array.from(Buffer.concat(parts)))
}

/**
 * Exhaustive splits for small inputs: the input whole, cut once at every position, and cut twice at
 * every pair of positions (1 + (n-1) + (n-1)(n-2)/2 splits for n bytes).
 *
 * @category constructors
 * @since 0.1.0
 */
export const allSplitPositions = (bytes: Uint8Array): ReadonlyArray<ReadonlyArray<Uint8Array>> => {
  if (bytes.length === 0) return [[]]
  const out: Array<ReadonlyArray<Uint8Array>> = [[bytes]]
  for (let i = 1; i < bytes.length; i++) out.push(cut(bytes, [i]))
  for (let i = 1; i < bytes.length; i++) {
    for (let j = i + 1; j < bytes.length; j++) out.push(cut(bytes, [i, j]))
  }
  return out
}
