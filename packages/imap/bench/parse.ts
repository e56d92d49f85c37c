/**
 * Response-parser throughput: our `ImapProtocol` parser (typed FETCH decoding) next to imapflow,
 * node-imap and emailjs-imap-handler on the same 46.3 MB FETCH stream (shared/bench/PARSE.md).
 *
 *   node_modules/.bin/node packages/imap/bench/parse.ts [runs=7]
 *
 * Generates the stream with shared/bench/parsebench/gen-imap.mjs (seed 1, 10,000 FETCH responses
 * with ENVELOPE and a 2-6 KB BODY[] literal, then a tagged OK) into a temporary directory, then
 * runs every parser in its own Node process (fresh JIT and heap, `--expose-gc`) at 64 KiB and
 * 16 KiB chunks: one verified warm-up, then `runs` timed runs, `gc()` before each, median taken.
 * The whole plan runs 3 times (passes); the table shows the median of the pass medians and their
 * range, as shared/bench/PARSE.md does (the machine is shared and noisy). About 90 s.
 * Every run is verified (FETCH count, total BODY[] bytes, last UID, the tagged line): a parser
 * that mis-frames fails instead of producing a number. MB = 10^6 bytes.
 *
 * Feeding: chunks are views of one in-memory buffer (no socket, no TLS, no Effect runtime). The
 * streaming parsers get one chunk per macrotask turn, as from a socket: ours (`push` per chunk from
 * a `setImmediate` callback; also shown fed synchronously, shared/bench/PARSE.md's method for its
 * own parsers), imapflow (ImapStream piped from a Readable, then its async
 * `imap-parser` per response, consumed one at a time as its client does), node-imap (`Parser`
 * pulling from a Readable; FETCH attributes decoded, BODY[] literals as streams). emailjs-imap-
 * handler only parses whole responses: a small framer in this file cuts and concatenates them.
 * What each peer's output contains is in PARSE.md; ours is the typed `ImapResponse.Fetch`
 * (UID, FLAGS, INTERNALDATE + epoch ms, RFC822.SIZE, ENVELOPE with RFC 2047 subjects and address
 * objects, BODY[] as a view).
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import type { EventEmitter } from "node:events"
import { createRequire } from "node:module"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { Readable } from "node:stream"
import * as Result from "effect/Result"
import { ImapStream } from "imapflow/lib/handler/imap-stream.js"
import imapflowParse from "imapflow/lib/handler/imap-parser.js"
import * as ImapProtocol from "../src/ImapProtocol.ts"
import type * as ImapResponse from "../src/ImapResponse.ts"

interface Meta {
  readonly fetchResponses: number
  readonly bodyBytes: number
  readonly lastUid: number
  readonly totalBytes: number
}

interface Tally {
  fetches: number
  bodyBytes: number
  lastUid: number
  tagged: number
  taggedText: string
}

const TAGGED_TEXT = "Fetch completed (0.042 + 0.000 + 0.041 secs)."

const newTally = (): Tally => ({ fetches: 0, bodyBytes: 0, lastUid: -1, tagged: 0, taggedText: "" })

const verify = (t: Tally, meta: Meta): void => {
  const fail = (what: string, got: unknown, want: unknown): never => {
    throw new Error(`verification failed: ${what}: got ${String(got)}, want ${String(want)}`)
  }
  if (t.fetches !== meta.fetchResponses) fail("FETCH responses", t.fetches, meta.fetchResponses)
  if (t.bodyBytes !== meta.bodyBytes) fail("BODY[] bytes", t.bodyBytes, meta.bodyBytes)
  if (t.lastUid !== meta.lastUid) fail("last UID", t.lastUid, meta.lastUid)
  if (t.tagged !== 1) fail("tagged responses", t.tagged, 1)
  if (t.taggedText !== TAGGED_TEXT) fail("tagged text", t.taggedText, TAGGED_TEXT)
}

/** One chunk per macrotask turn, like socket reads. */
const socketLike = (chunks: ReadonlyArray<Uint8Array>): Readable => {
  let i = 0
  return new Readable({
    highWaterMark: 64 * 1024,
    read() {
      setImmediate(() => this.push(i < chunks.length ? chunks[i++] : null))
    }
  })
}

// -------------------------------------------------------------------------------------------------
// ours

const countOurs = (t: Tally, frames: ReadonlyArray<ImapResponse.Frame>): void => {
  for (const f of frames) {
    if (f._tag === "Fetch") {
      t.fetches++
      t.lastUid = f.attributes.uid ?? -1
      for (const s of f.attributes.bodySections ?? []) if (s.section === "" && s.bytes !== null) t.bodyBytes += s.bytes.length
    } else if (f._tag === "Tagged") {
      t.tagged++
      t.taggedText = f.text
    }
  }
}

/** One chunk per macrotask turn: a `setImmediate` callback each, as a socket's 'data' events (an
 * `await` of a promise per chunk would add ~0.6 us of harness per turn, ~2 ms at 16 KiB). */
const oursSocketLike = (chunks: ReadonlyArray<Uint8Array>): Promise<Tally> =>
  new Promise((done, reject) => {
    const t = newTally()
    const parser = ImapProtocol.makeParser()
    let i = 0
    const step = (): void => {
      if (i === chunks.length) return done(t)
      const r = parser.push(chunks[i++]!)
      if (Result.isFailure(r)) return reject(new Error(r.failure.message))
      countOurs(t, r.success)
      setImmediate(step)
    }
    setImmediate(step)
  })

const oursSync = (chunks: ReadonlyArray<Uint8Array>): Promise<Tally> => {
  const t = newTally()
  const parser = ImapProtocol.makeParser()
  for (const chunk of chunks) {
    const r = parser.push(chunk)
    if (Result.isFailure(r)) return Promise.reject(new Error(r.failure.message))
    countOurs(t, r.success)
  }
  return Promise.resolve(t)
}

// -------------------------------------------------------------------------------------------------
// imapflow and emailjs-imap-handler: generic token trees { type, value, section? }

interface Node {
  readonly type?: string
  readonly value?: unknown
  readonly section?: unknown
}

const isNode = (x: unknown): x is Node => typeof x === "object" && x !== null && !Array.isArray(x)

/** Counts one `{ tag, command, attributes }` tree: `* n FETCH (UID u ... BODY[] literal)`. */
const countTree = (t: Tally, tree: unknown): void => {
  if (!isNode(tree)) return
  const response = tree as { readonly tag?: string; readonly attributes?: ReadonlyArray<unknown> }
  if (response.tag !== "*") {
    t.tagged++
    const text = response.attributes?.find((a) => isNode(a) && a.type === "TEXT")
    t.taggedText = isNode(text) ? String(text.value) : ""
    return
  }
  const attributes = response.attributes ?? []
  const name = attributes[0]
  const list = attributes[1]
  if (!isNode(name) || String(name.value).toUpperCase() !== "FETCH" || !Array.isArray(list)) return
  t.fetches++
  for (let i = 0; i + 1 < list.length; i += 2) {
    const key: unknown = list[i]
    const value: unknown = list[i + 1]
    if (!isNode(key) || !isNode(value)) continue
    const k = String(key.value).toUpperCase()
    if (k === "UID") t.lastUid = Number(value.value)
    else if (k === "BODY" && key.section !== undefined) {
      const v = value.value
      t.bodyBytes += typeof v === "string" ? Buffer.byteLength(v, "latin1") : (v as Uint8Array).length
    }
  }
}

interface StreamItem {
  readonly payload: Buffer
  readonly literals: Array<Buffer>
  readonly next: () => void
}

const silentLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {} }

const imapflow = (chunks: ReadonlyArray<Uint8Array>): Promise<Tally> =>
  new Promise((done, reject) => {
    const t = newTally()
    const stream = new ImapStream({ logger: silentLogger })
    let busy = false
    let ended = false
    // like ImapFlow's reader: one response at a time, awaiting the (async) parser
    const drain = async (): Promise<void> => {
      if (busy) return
      busy = true
      try {
        for (;;) {
          const item = stream.read() as StreamItem | null
          if (item === null) break
          countTree(t, await imapflowParse(item.payload, { literals: item.literals }))
          item.next()
        }
      } catch (e) {
        reject(e)
        return
      } finally {
        busy = false
      }
      if (ended) done(t)
      else if (stream.readableLength > 0) void drain()
    }
    stream.on("readable", () => void drain())
    stream.on("end", () => {
      ended = true
      if (!busy) done(t)
    })
    stream.on("error", reject)
    socketLike(chunks).pipe(stream)
  })

const require = createRequire(import.meta.url)

const emailjsParser = (require("emailjs-imap-handler") as { parser: (input: Uint8Array) => unknown }).parser

/** Cuts whole responses (lines and literal bytes concatenated, final CRLF dropped) for emailjs. */
const wholeResponses = (onResponse: (response: Buffer) => void) => {
  let pieces: Array<Buffer> = []
  let partial: Array<Buffer> = []
  let literalLeft = 0
  return (chunk: Buffer): void => {
    let pos = 0
    while (pos < chunk.length) {
      if (literalLeft > 0) {
        const n = Math.min(literalLeft, chunk.length - pos)
        pieces.push(chunk.subarray(pos, pos + n))
        literalLeft -= n
        pos += n
        continue
      }
      const lf = chunk.indexOf(0x0a, pos)
      if (lf < 0) {
        partial.push(chunk.subarray(pos))
        return
      }
      partial.push(chunk.subarray(pos, lf + 1))
      const line = partial.length === 1 ? partial[0]! : Buffer.concat(partial)
      partial = []
      pos = lf + 1
      const m = /\{(\d+)\}\r?\n$/.exec(line.toString("latin1", Math.max(0, line.length - 24)))
      if (m !== null) {
        pieces.push(line)
        literalLeft = Number(m[1])
        continue
      }
      pieces.push(line)
      const response = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces)
      pieces = []
      const end = response.length - (response[response.length - 2] === 0x0d ? 2 : 1)
      onResponse(response.subarray(0, end))
    }
  }
}

const emailjs = (chunks: ReadonlyArray<Uint8Array>): Promise<Tally> => {
  const t = newTally()
  const push = wholeResponses((response) => countTree(t, emailjsParser(response)))
  for (const chunk of chunks) push(chunk as Buffer)
  return Promise.resolve(t)
}

// -------------------------------------------------------------------------------------------------
// node-imap

const NodeImapParser = (require("imap/lib/Parser") as { Parser: new (source: Readable) => EventEmitter }).Parser

interface NodeImapUntagged {
  readonly type: string
  readonly text: { readonly uid?: number }
}

const nodeImap = (chunks: ReadonlyArray<Uint8Array>): Promise<Tally> =>
  new Promise((done) => {
    const t = newTally()
    const parser = new NodeImapParser(socketLike(chunks))
    parser.on("body", (body: Readable) => {
      body.on("data", (chunk: Buffer) => {
        t.bodyBytes += chunk.length
      })
    })
    parser.on("untagged", (info: NodeImapUntagged) => {
      if (info.type !== "fetch") return
      t.fetches++
      t.lastUid = info.text.uid ?? -1
    })
    parser.on("tagged", (info: { readonly text: string }) => {
      t.tagged++
      t.taggedText = info.text
      setImmediate(() => done(t)) // the last body stream may still be delivering
    })
  })

// -------------------------------------------------------------------------------------------------
// driver

const BENCHES: Record<string, { readonly label: string; readonly run: (chunks: ReadonlyArray<Uint8Array>) => Promise<Tally> }> = {
  ours: { label: "@starttls/imap ImapProtocol (typed FETCH)", run: oursSocketLike },
  "ours-sync": { label: "@starttls/imap ImapProtocol, fed synchronously", run: oursSync },
  imapflow: { label: "imapflow 2.10.2 ImapStream + imap-parser", run: imapflow },
  "node-imap": { label: "node-imap 0.8.19 Parser", run: nodeImap },
  emailjs: { label: "emailjs-imap-handler 3.0.6 (+ framer)", run: emailjs }
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const child = async (name: string, dataFile: string, chunkKiB: number, runs: number): Promise<void> => {
  const bench = BENCHES[name]
  if (bench === undefined) throw new Error(`unknown bench ${name}`)
  const bytes = readFileSync(dataFile)
  const meta = JSON.parse(readFileSync(dataFile + ".json", "utf8")) as Meta
  const size = chunkKiB * 1024
  const chunks: Array<Uint8Array> = []
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, Math.min(i + size, bytes.length)))
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
  const once = async (): Promise<number> => {
    gc()
    const t0 = process.hrtime.bigint()
    const tally = await bench.run(chunks)
    const ms = Number(process.hrtime.bigint() - t0) / 1e6
    verify(tally, meta)
    return ms
  }
  await once()
  const times: Array<number> = []
  for (let i = 0; i < runs; i++) times.push(await once())
  const ms = median(times)
  console.log(JSON.stringify({ name, chunkKiB, ms, mbps: bytes.length / 1e6 / (ms / 1000), times }))
}

interface ChildResult {
  readonly name: string
  readonly chunkKiB: number
  readonly ms: number
  readonly mbps: number
}

const PASSES = 3

const main = (runs: number): void => {
  const gen = process.env["PARSEBENCH_GEN"] ?? resolve(import.meta.dirname, "../../../../shared/bench/parsebench/gen-imap.mjs")
  if (!existsSync(gen)) throw new Error(`generator not found: ${gen} (set PARSEBENCH_GEN)`)
  const dir = mkdtempSync(join(tmpdir(), "imap-parse-bench-"))
  const started = Date.now()
  try {
    const data = join(dir, "imap-fetch.bin")
    execFileSync(process.execPath, [gen, data, "10000", "1"], { stdio: ["ignore", "ignore", "inherit"] })
    const totalBytes = (JSON.parse(readFileSync(data + ".json", "utf8")) as Meta).totalBytes
    console.log(
      `stream: ${(totalBytes / 1e6).toFixed(1)} MB, 10,000 FETCH responses; ${PASSES} passes x (1 warm-up + ${runs} runs) ` +
        `per parser and chunk size, each pass a fresh process per parser; ${process.version}`
    )
    const results: Array<ChildResult> = []
    for (let pass = 1; pass <= PASSES; pass++) {
      for (const chunkKiB of [64, 16]) {
        for (const name of Object.keys(BENCHES)) {
          const out = execFileSync(
            process.execPath,
            ["--expose-gc", import.meta.filename, "--child", name, data, String(chunkKiB), String(runs)],
            { encoding: "utf8", maxBuffer: 1 << 20 }
          )
          const r = JSON.parse(out.trim().split("\n").pop()!) as ChildResult
          results.push(r)
          console.error(`  pass ${pass}  ${chunkKiB} KiB  ${name}: ${r.mbps.toFixed(0)} MB/s`)
        }
      }
    }
    for (const chunkKiB of [64, 16]) {
      const summary = Object.keys(BENCHES).map((name) => {
        const passes = results.filter((r) => r.chunkKiB === chunkKiB && r.name === name).map((r) => r.mbps)
        return { name, mbps: median(passes), min: Math.min(...passes), max: Math.max(...passes) }
      })
      const ours = summary.find((r) => r.name === "ours")!
      const oursSync = summary.find((r) => r.name === "ours-sync")!
      console.log(`\n${chunkKiB} KiB chunks: MB/s, median of ${PASSES} pass medians (range)`)
      console.log("| parser | MB/s | range | ours is (socket-like / sync) |")
      console.log("|---|---:|---|---:|")
      for (const r of summary) {
        const ratio = r.name.startsWith("ours")
          ? ""
          : `${(ours.mbps / r.mbps).toFixed(1)}x / ${(oursSync.mbps / r.mbps).toFixed(1)}x faster`
        console.log(`| ${BENCHES[r.name]!.label} | ${r.mbps.toFixed(0)} | ${r.min.toFixed(0)}-${r.max.toFixed(0)} | ${ratio} |`)
      }
    }
    console.log(`\n(${((Date.now() - started) / 1000).toFixed(0)} s)`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const args = process.argv.slice(2)
if (args[0] === "--child") {
  child(args[1]!, args[2]!, Number(args[3]), Number(args[4])).catch((e: unknown) => {
    console.error(e)
    process.exit(1)
  })
} else main(Number(args[0] ?? 7))
