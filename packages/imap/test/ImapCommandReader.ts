/**
 * A tiny, strict reader of the commands our encoder writes, for tests only: splits a command line
 * into atoms, quoted strings, literals and lists, and throws on anything the RFC 9051 §4 grammar
 * does not allow (a CR or LF outside a literal, a bad escape, a literal header not followed by CRLF,
 * a wrong literal length, a synchronizing literal without a continuation wait before its data).
 */
import { assert } from "@effect/vitest"
import * as Result from "effect/Result"
import type * as ImapCommand from "../src/ImapCommand.ts"

export type Value =
  | { readonly kind: "atom"; readonly text: string }
  | { readonly kind: "quoted"; readonly text: string }
  | { readonly kind: "literal"; readonly text: string; readonly sync: boolean; readonly binary: boolean }
  | { readonly kind: "list"; readonly items: ReadonlyArray<Value> }

const utf8 = new TextDecoder("utf-8", { fatal: true })
const ascii = new TextEncoder()

/** The encoded command of a successful result (fails the test otherwise). */
export const ok = (result: Result.Result<ImapCommand.EncodedCommand, unknown>): ImapCommand.EncodedCommand => {
  if (Result.isFailure(result)) assert.fail(`unexpected failure: ${String(result.failure)}`)
  return result.success
}

/** The failure's detail (fails the test on success). */
export const failure = (
  result: Result.Result<ImapCommand.EncodedCommand, { readonly field: string; readonly detail: string }>
): { readonly field: string; readonly detail: string } => {
  if (Result.isSuccess(result)) assert.fail(`unexpected success: ${text(result.success)}`)
  return result.failure
}

/**
 * All Line bytes concatenated (what the server receives), payloads left out or, with
 * `payloadFill`, stood in for by that many copies of the byte.
 */
export const bytesOf = (encoded: ImapCommand.EncodedCommand, payloadFill?: number): Uint8Array => {
  const lines = encoded.parts.flatMap((p) =>
    p._tag === "Line"
      ? [p.bytes]
      : p._tag === "Payload" && payloadFill !== undefined
      ? [new Uint8Array(p.size).fill(payloadFill)]
      : []
  )
  const out = new Uint8Array(lines.reduce((n, l) => n + l.length, 0))
  let at = 0
  for (const l of lines) {
    out.set(l, at)
    at += l.length
  }
  return out
}

/** The wire text (Line parts decoded as UTF-8), for goldens. */
export const text = (encoded: ImapCommand.EncodedCommand): string => utf8.decode(bytesOf(encoded))

/** Part shapes: "L:<text>", "+", "P:<size>". */
export const shape = (encoded: ImapCommand.EncodedCommand): ReadonlyArray<string> =>
  encoded.parts.map((p) =>
    p._tag === "Line" ? `L:${utf8.decode(p.bytes)}` : p._tag === "AwaitContinuation" ? "+" : `P:${p.size}`
  )

/**
 * Checks the part structure: every Line but the last ends with CRLF, a synchronizing literal header
 * ends its Line and is followed by AwaitContinuation, a non-synchronizing one is not.
 */
export const checkParts = (encoded: ImapCommand.EncodedCommand): void => {
  const parts = encoded.parts
  assert.isTrue(parts.length > 0)
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!
    if (p._tag !== "Line") continue
    const s = utf8.decode(p.bytes)
    assert.isTrue(s.endsWith("\r\n"), `line ${i} ends with CRLF`)
    const next = parts[i + 1]
    if (next === undefined) continue
    if (next._tag === "AwaitContinuation") assert.match(s, /~?\{\d+\}\r\n$/, "sync literal before a wait")
    else if (next._tag === "Payload") assert.match(s, /~?\{\d+\+\}\r\n$/, "non-sync literal before payload")
    else assert.fail("two Lines in a row")
  }
  const last = parts[parts.length - 1]!
  assert.strictEqual(last._tag, "Line")
}

const SP = 0x20
const CR = 0x0d
const LF = 0x0a

/** Reads a whole command line (ending with CRLF) into values. */
export const read = (bytes: Uint8Array): ReadonlyArray<Value> => {
  let i = 0
  const n = bytes.length
  const fail = (what: string): never => {
    throw new Error(`${what} at ${i}: ${JSON.stringify(utf8.decode(bytes))}`)
  }
  const isEnd = () => i === n - 2 && bytes[i] === CR && bytes[i + 1] === LF
  const readLiteral = (binary: boolean): Value => {
    i += binary ? 2 : 1
    const from = i
    while (bytes[i]! >= 0x30 && bytes[i]! <= 0x39) i++
    if (i === from) fail("literal length")
    const size = Number(new TextDecoder().decode(bytes.subarray(from, i)))
    const sync = bytes[i] !== 0x2b
    if (!sync) i++
    if (bytes[i] !== 0x7d || bytes[i + 1] !== CR || bytes[i + 2] !== LF) fail("literal header")
    i += 3
    if (i + size > n - 2) fail("literal runs past the end")
    const data = bytes.subarray(i, i + size)
    if (data.includes(0)) fail("NUL in literal")
    i += size
    return { kind: "literal", text: utf8.decode(data), sync, binary }
  }
  const readQuoted = (): Value => {
    i++
    const out: Array<number> = []
    while (true) {
      const c = bytes[i]
      if (c === undefined || c === CR || c === LF || c === 0) fail("bad character in quoted string")
      if (c === 0x22) break
      if (c === 0x5c) {
        const e = bytes[i + 1]
        if (e !== 0x22 && e !== 0x5c) fail("bad escape")
        out.push(e!)
        i += 2
        continue
      }
      out.push(c!)
      i++
    }
    i++
    return { kind: "quoted", text: utf8.decode(new Uint8Array(out)) }
  }
  const readAtom = (): Value => {
    const from = i
    let bracket = 0
    while (i < n) {
      const c = bytes[i]!
      if (c === CR || c === LF || c === 0) break
      // Only fetch items (BODY[...], BINARY[...]) have a section with spaces inside brackets.
      if (c === 0x5b && (bracket > 0 || /^(BODY|BINARY)(\.PEEK|\.SIZE)?$/.test(utf8.decode(bytes.subarray(from, i))))) {
        bracket++
      }
      if (c === 0x5d && bracket > 0) bracket--
      else if (bracket === 0 && (c === SP || c === 0x28 || c === 0x29)) break
      i++
    }
    if (i === from) fail("empty atom")
    return { kind: "atom", text: utf8.decode(bytes.subarray(from, i)) }
  }
  const readValues = (inList: boolean): Array<Value> => {
    const values: Array<Value> = []
    while (true) {
      if (isEnd()) {
        if (inList) fail("unclosed list")
        return values
      }
      if (bytes[i] === 0x29) {
        if (!inList) fail("unbalanced )")
        i++
        return values
      }
      if (values.length > 0) {
        if (bytes[i] !== SP) fail("expected SP")
        i++
      }
      const c = bytes[i]
      if (c === 0x28) {
        i++
        values.push({ kind: "list", items: readValues(true) })
      } else if (c === 0x22) values.push(readQuoted())
      else if (c === 0x7b) values.push(readLiteral(false))
      else if (c === 0x7e && bytes[i + 1] === 0x7b) values.push(readLiteral(true))
      else values.push(readAtom())
      const after = bytes[i]
      if (!(after === SP || after === 0x29 || isEnd())) fail("token not followed by SP, ) or CRLF")
    }
  }
  if (n < 2 || bytes[n - 2] !== CR || bytes[n - 1] !== LF) fail("missing CRLF")
  return readValues(false)
}

/** Reads an encoded command after checking its parts. */
export const readEncoded = (encoded: ImapCommand.EncodedCommand): ReadonlyArray<Value> => {
  checkParts(encoded)
  return read(bytesOf(encoded, 0x78))
}

/** The string a value denotes (atom text, quoted content, literal data). */
export const stringOf = (value: Value | undefined): string => {
  if (value === undefined || value.kind === "list") throw new Error(`not a string: ${JSON.stringify(value)}`)
  return value.text
}

/** ASCII bytes of a string, for byte-level assertions. */
export const asciiBytes = (s: string): Uint8Array => ascii.encode(s)
