/**
 * RETR parsing benchmark: `Pop3Protocol.makeParser` on in-memory RETR answers, against the
 * response handling of node-pop3 0.11.0 and yapople 0.4.10 isolated in-process.
 *
 *   node_modules/.bin/node packages/pop3/bench/retr-parse.ts
 *
 * Streams: 1000 RETR answers of ~10 KB of RFC 5322 text (some dot-stuffed lines), and one answer of
 * 50 MB. Input is fed as views of one buffer in 16 KiB (what a TLS socket delivers) and 64 KiB
 * chunks. Figures are MB/s (10^6 bytes of wire per second), median of 7 runs after 2 warm-ups,
 * with `gc()` before each run. The memory check feeds fresh chunk copies (as a socket does) and
 * samples heapUsed + arrayBuffers while the consumer drops (or, for contrast, keeps) the views.
 *
 * Not measured: sockets, TLS, the Effect runtime, and what a consumer does with the bytes.
 */
import * as Result from "effect/Result"
import { Buffer } from "node:buffer"
import { EventEmitter } from "node:events"
import { createRequire } from "node:module"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import * as Pop3Protocol from "../src/Pop3Protocol.ts"

v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as () => void

const RUNS = 7
const WARMUP = 2

// -----------------------------------------------------------------------------
// Input
// -----------------------------------------------------------------------------

let seed = 0x5eed
const random = (): number => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!
const words = (
  "the of and to in is that for it as with was on be by this are or from at an which have not but all can " +
  "message server client mailbox protocol transfer delivery quarterly report meeting agenda invoice attached " +
  "regards please review update schedule project budget customer support request confirmation"
).split(" ")
const dotLines = [".", "..", "...", ". indented quote", ".hidden", "..double"]

const textLines = (bytes: number): Array<string> => {
  const lines: Array<string> = []
  let size = 0
  while (size < bytes) {
    let line = ""
    if (random() < 0.03) line = pick(dotLines)
    else if (random() < 0.08) line = ""
    else while (line.length < 60 + random() * 14) line += (line.length > 0 ? " " : "") + pick(words)
    lines.push(line)
    size += line.length + 2
  }
  return lines
}

const message = (n: number, bodyBytes: number): Buffer => {
  const headers = [
    `Return-Path: <sender${n}@example.org>`,
    `Received: from mail.example.org (mail.example.org [192.0.2.${n % 250}])`,
    `\tby mx.example.net with ESMTPS id ${n.toString(36)}x${Math.floor(random() * 1e9).toString(36)}`,
    `\tfor <rcpt@example.net>; Mon, 3 Nov 2025 10:${String(n % 60).padStart(2, "0")}:00 +0000`,
    `Message-ID: <${n}.${Math.floor(random() * 1e9)}@example.org>`,
    "Date: Mon, 3 Nov 2025 10:00:00 +0000",
    `From: Sender ${n} <sender${n}@example.org>`,
    "To: Recipient <rcpt@example.net>",
    `Subject: ${pick(words)} ${pick(words)} ${pick(words)} #${n}`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit"
  ]
  const text = [...headers, "", ...textLines(bodyBytes)].join("\r\n") + "\r\n"
  return Buffer.from(text, "latin1")
}

const answer = (body: Buffer): Buffer =>
  Buffer.concat([Buffer.from(`+OK ${body.length} octets\r\n`), Pop3Protocol.stuffBody(body)])

const smallBodies = Array.from({ length: 1000 }, (_, i) => message(i + 1, 9_500))
const smallAnswers = smallBodies.map(answer)
const smallStream = Buffer.concat(smallAnswers)
const smallBodyBytes = smallBodies.reduce((n, b) => n + b.length, 0)
const bigBody = message(0, 50_000_000)
const bigAnswer = answer(bigBody)

const chunk = (input: Buffer, size: number): Array<Buffer> => {
  const out: Array<Buffer> = []
  for (let i = 0; i < input.length; i += size) out.push(input.subarray(i, i + size))
  return out
}

// -----------------------------------------------------------------------------
// Harness
// -----------------------------------------------------------------------------

interface Row {
  readonly name: string
  readonly mbps: number
}
const rows: Array<Row> = []

/** Times `run` (which returns the body bytes it delivered); checks the count every time. */
const measure = (name: string, wireBytes: number, expected: number, run: () => number, runs = RUNS, warmup = WARMUP) => {
  const times: Array<number> = []
  for (let i = 0; i < warmup + runs; i++) {
    gc()
    const start = performance.now()
    const got = run()
    const ms = performance.now() - start
    if (got !== expected) throw new Error(`${name}: delivered ${got} body bytes, expected ${expected}`)
    if (i >= warmup) times.push(ms)
  }
  report(name, wireBytes, times)
}

const report = (name: string, wireBytes: number, times: Array<number>) => {
  times.sort((a, b) => a - b)
  const median = times[Math.floor(times.length / 2)]!
  const mbps = wireBytes / 1e6 / (median / 1000)
  rows.push({ name, mbps })
  console.log(`${name.padEnd(72)} ${mbps.toFixed(0).padStart(6)} MB/s  (${median.toFixed(1)} ms)`)
}

/** `measure` for asynchronous runs. */
const measureAsync = async (
  name: string,
  wireBytes: number,
  expected: number,
  run: () => Promise<number>,
  runs = RUNS,
  warmup = WARMUP
) => {
  const times: Array<number> = []
  for (let i = 0; i < warmup + runs; i++) {
    gc()
    const start = performance.now()
    const got = await run()
    const ms = performance.now() - start
    if (got !== expected) throw new Error(`${name}: delivered ${got} body bytes, expected ${expected}`)
    if (i >= warmup) times.push(ms)
  }
  report(name, wireBytes, times)
}

const note = (text: string) => {
  console.log(`  note: ${text}`)
}

// -----------------------------------------------------------------------------
// Our parser
// -----------------------------------------------------------------------------

/** Feeds chunks, counting body bytes and dropping the views. */
const ours = (answers: number, chunks: ReadonlyArray<Uint8Array>): number => {
  const parser = Pop3Protocol.makeParser()
  for (let i = 0; i < answers; i++) parser.expect("multiStream")
  let bytes = 0
  let ends = 0
  for (const c of chunks) {
    const result = parser.push(c)
    if (Result.isFailure(result)) throw result.failure
    for (const frame of result.success) {
      if (frame._tag === "BodyChunk") bytes += frame.bytes.length
      else if (frame._tag === "BodyEnd") ends++
    }
  }
  if (ends !== answers) throw new Error(`ours: ${ends} of ${answers} answers ended`)
  return bytes
}

/** One RETR at a time: each answer's chunks end with it (as a socket delivers a sequential RETR). */
const oursSequential = (perAnswer: ReadonlyArray<ReadonlyArray<Uint8Array>>): number => {
  const parser = Pop3Protocol.makeParser()
  let bytes = 0
  for (const chunks of perAnswer) {
    parser.expect("multiStream")
    for (const c of chunks) {
      const result = parser.push(c)
      if (Result.isFailure(result)) throw result.failure
      for (const frame of result.success) if (frame._tag === "BodyChunk") bytes += frame.bytes.length
    }
  }
  return bytes
}

// -----------------------------------------------------------------------------
// References
// -----------------------------------------------------------------------------

const copyTarget = Buffer.alloc(bigAnswer.length)
const memcpy = (chunks: ReadonlyArray<Buffer>, total: number): number => {
  let n = 0
  for (const c of chunks) n += c.copy(copyTarget, n)
  return n === total ? total : -1
}

const everyLf = (chunks: ReadonlyArray<Buffer>): number => {
  let lines = 0
  for (const c of chunks) {
    for (let at = c.indexOf(0x0a); at >= 0; at = c.indexOf(0x0a, at + 1)) lines++
  }
  return lines
}

// -----------------------------------------------------------------------------
// Socket-like feeding: one chunk per macrotask turn, for every library alike
// -----------------------------------------------------------------------------

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

const oursSocketLike = async (perAnswer: ReadonlyArray<ReadonlyArray<Uint8Array>>): Promise<number> => {
  const parser = Pop3Protocol.makeParser()
  let bytes = 0
  for (const chunks of perAnswer) {
    parser.expect("multiStream")
    for (const c of chunks) {
      await turn()
      const result = parser.push(c)
      if (Result.isFailure(result)) throw result.failure
      for (const frame of result.success) if (frame._tag === "BodyChunk") bytes += frame.bytes.length
    }
  }
  return bytes
}

// -----------------------------------------------------------------------------
// Peers
// -----------------------------------------------------------------------------

const require = createRequire(import.meta.url)

/**
 * node-pop3 0.11.0: its socket `data` handler is a closure inside `connect()`; for `+OK` to RETR it
 * splits off the first line, calls `_updateStream()` and hands the rest of the chunk to
 * `_pushStream`, as it does every later chunk: `_pushStream` pushes the chunk into a `Readable`
 * and ends it only when a chunk ends with CRLF "." CRLF (or is exactly ".\r\n", "." or
 * "\r\n.\r\n"). We call those two methods the same way and consume the Readable's `data` events,
 * waiting for its `end`. Its `RETR()` instead joins the chunks with `stream2String` (one
 * `Buffer.concat` per chunk) and decodes the result to a string. It never removes stuffed dots.
 */
interface NodePop3Connection extends EventEmitter {
  _stream: (NodeJS.ReadableStream & EventEmitter) | null
  _updateStream(): NodeJS.ReadableStream & EventEmitter
  _pushStream(buffer: Buffer): void
}
const nodePop3Module = (await import("node-pop3")) as unknown as {
  readonly default: (new(config: object) => NodePop3Connection) & {
    readonly stream2String: (stream: NodeJS.ReadableStream) => Promise<string>
  }
}

/** Feeds one answer's chunks, one per turn; resolves with the bytes seen, or -1 if it never ended. */
const nodePop3Answer = async (
  connection: NodePop3Connection,
  chunks: ReadonlyArray<Buffer>,
  consume: (stream: NodeJS.ReadableStream & EventEmitter) => Promise<number>
): Promise<number> => {
  await turn()
  const first = chunks[0]!
  const eol = first.indexOf("\r\n")
  first.subarray(4, eol).toString()
  const stream = connection._updateStream()
  const result = consume(stream)
  const rest = first.subarray(eol + 2)
  if (rest.length > 0) connection._pushStream(rest)
  for (let i = 1; i < chunks.length; i++) {
    await turn()
    connection._pushStream(chunks[i]!)
  }
  if (connection._stream !== null) {
    connection._stream = null
    return -1
  }
  return result
}

const countData = (stream: NodeJS.ReadableStream & EventEmitter): Promise<number> =>
  new Promise((resolve) => {
    let bytes = 0
    stream.on("data", (b: Buffer) => {
      bytes += b.length
    })
    stream.on("end", () => resolve(bytes))
  })

const nodePop3 = async (
  perAnswer: ReadonlyArray<ReadonlyArray<Buffer>>,
  consume: (stream: NodeJS.ReadableStream & EventEmitter) => Promise<number>
): Promise<{ bytes: number; hung: number }> => {
  const connection = new nodePop3Module.default({ host: "unused.invalid" })
  let bytes = 0
  let hung = 0
  for (const chunks of perAnswer) {
    const got = await nodePop3Answer(connection, chunks, consume)
    if (got < 0) hung++
    else bytes += got
  }
  return { bytes, hung }
}
const stream2String = (stream: NodeJS.ReadableStream & EventEmitter) =>
  nodePop3Module.default.stream2String(stream).then((text) => text.length)

/**
 * yapople 0.4.10: its module-private `onData(chunk)` is bound to the socket's `data` event in
 * `connect()`. We let `connect()` run against a fake socket (patching `net.createConnection`) and
 * call the captured handler with each chunk while a RETR is the current command. It decodes every
 * chunk to a string, appends each chunk to the body with `Buffer.concat` and checks the end of the
 * joined buffer for CRLF "." CRLF; it never removes stuffed dots.
 */
interface Yapople {
  _command: { cmd: number; number?: number; callback?: (error: Error | null, data?: Buffer) => void }
  _queue: Array<unknown>
  connected: boolean
  connect(callback: (error: Error | null) => void): void
}
const yapopleModule = require("yapople") as { readonly Client: new(options: object) => Yapople }
const RETR = 6

const yapopleHandler = (): { client: Yapople; onData: (chunk: Buffer) => void } => {
  // The CommonJS exports object (the one yapople holds), not the read-only ES namespace.
  const netModule = require("node:net") as { createConnection: (...args: ReadonlyArray<unknown>) => EventEmitter }
  const original = netModule.createConnection
  const fake = Object.assign(new EventEmitter(), { write: () => true })
  netModule.createConnection = () => fake
  const client = new yapopleModule.Client({ host: "unused.invalid", port: 110 })
  try {
    client.connect(() => undefined)
  } finally {
    netModule.createConnection = original
  }
  const onData = fake.listeners("data")[0] as (chunk: Buffer) => void
  client._queue = []
  client.connected = true
  return { client, onData }
}

const yapople = async (perAnswer: ReadonlyArray<ReadonlyArray<Buffer>>, socketLike: boolean): Promise<{ bytes: number; done: number }> => {
  const { client, onData } = yapopleHandler()
  let bytes = 0
  let done = 0
  for (const chunks of perAnswer) {
    client._command = {
      cmd: RETR,
      number: done + 1,
      callback: (error, data) => {
        if (error === null && data !== undefined) {
          bytes += data.length
          done++
        }
      }
    }
    for (const c of chunks) {
      if (socketLike) await turn()
      onData(c)
    }
  }
  return { bytes, done }
}

// -----------------------------------------------------------------------------
// Memory
// -----------------------------------------------------------------------------

/**
 * Streams an answer whose body is the 50 MB body repeated `times` times, in fresh chunk copies (as
 * a socket delivers), and samples memory growth: heapUsed, and heapUsed + arrayBuffers (the chunks).
 */
const memoryGrowth = async (size: number, times: number, keep: boolean) => {
  const kept: Array<Uint8Array> = []
  const status = bigAnswer.subarray(0, bigAnswer.indexOf("\r\n") + 2)
  const stuffed = bigAnswer.subarray(status.length, bigAnswer.length - 3) // without ".\r\n"
  const parts = [status, ...Array.from({ length: times }, () => stuffed), bigAnswer.subarray(bigAnswer.length - 3)]
  gc()
  await turn()
  gc()
  const base = process.memoryUsage()
  let heapPeak = 0
  let totalPeak = 0
  const sample = () => {
    const m = process.memoryUsage()
    heapPeak = Math.max(heapPeak, m.heapUsed - base.heapUsed)
    totalPeak = Math.max(totalPeak, m.heapUsed + m.arrayBuffers - base.heapUsed - base.arrayBuffers)
  }
  const parser = Pop3Protocol.makeParser()
  parser.expect("multiStream")
  let bytes = 0
  let pushes = 0
  let ended = false
  for (const part of parts) {
    for (let i = 0; i < part.length; i += size) {
      const c = Buffer.from(part.subarray(i, i + size))
      const result = parser.push(c)
      if (Result.isFailure(result)) throw result.failure
      for (const frame of result.success) {
        if (frame._tag === "BodyChunk") {
          bytes += frame.bytes.length
          if (keep) kept.push(frame.bytes)
        } else if (frame._tag === "BodyEnd") ended = true
      }
      if (++pushes % 4 === 0) sample()
    }
  }
  sample()
  if (!ended || bytes !== bigBody.length * times) throw new Error("memory run: wrong body")
  // Backing stores of collected buffers are released after the collection: let it finish.
  gc()
  await turn()
  gc()
  const end = process.memoryUsage()
  const retained = end.heapUsed + end.arrayBuffers - base.heapUsed - base.arrayBuffers
  kept.length = 0
  const mib = (n: number) => `${n >= 0 ? "+" : ""}${(n / 1048576).toFixed(1)} MiB`
  return `heapUsed peak ${mib(heapPeak)}, with chunks peak ${mib(totalPeak)}, retained after gc ${mib(retained)}`
}

// -----------------------------------------------------------------------------
// Run
// -----------------------------------------------------------------------------

const started = performance.now()
const BUDGET_MS = 30_000

console.log(
  `Node ${process.version}; 1000 answers, ${(smallStream.length / 1e6).toFixed(2)} MB on the wire ` +
    `(${(smallBodyBytes / 1e6).toFixed(2)} MB of bodies); one answer of ${(bigAnswer.length / 1e6).toFixed(2)} MB\n`
)

// Peers hand out the stuffed bytes (they do not unstuff) and drop the body's final CRLF.
const stuffedSmall = smallAnswers.reduce((n, a) => n + a.length - a.indexOf("\r\n") - 2 - 5, 0)
const stuffedBig = bigAnswer.length - bigAnswer.indexOf("\r\n") - 2 - 5

for (const size of [16384, 65536]) {
  const kib = `${size / 1024} KiB`
  const streamChunks = chunk(smallStream, size)
  const perAnswer = smallAnswers.map((a) => chunk(a, size))
  const bigChunks = chunk(bigAnswer, size)

  console.log(`--- ${kib} chunks, synchronous feeding (parser cost only)`)
  measure(`reference: memcpy, 50 MB, ${kib}`, bigAnswer.length, bigAnswer.length, () => memcpy(bigChunks, bigAnswer.length))
  const lfCount = everyLf(bigChunks)
  measure(`reference: Buffer#indexOf(0x0a) at every LF, 50 MB, ${kib}`, bigAnswer.length, lfCount, () => everyLf(bigChunks))
  measure(`ours, 1000 x 10 KB pipelined, ${kib}`, smallStream.length, smallBodyBytes, () => ours(1000, streamChunks))
  measure(`ours, 1000 x 10 KB one RETR at a time, ${kib}`, smallStream.length, smallBodyBytes, () => oursSequential(perAnswer))
  measure(`ours, 50 MB, ${kib}`, bigAnswer.length, bigBody.length, () => ours(1, bigChunks))
  await measureAsync(`yapople onData, 1000 x 10 KB one RETR at a time, ${kib}`, smallStream.length, stuffedSmall, async () =>
    (await yapople(perAnswer, false)).bytes)

  console.log(`--- ${kib} chunks, one chunk per macrotask turn (socket-like)`)
  await measureAsync(`ours, 1000 x 10 KB one RETR at a time, socket-like, ${kib}`, smallStream.length, smallBodyBytes, () =>
    oursSocketLike(perAnswer))
  await measureAsync(`ours, 50 MB, socket-like, ${kib}`, bigAnswer.length, bigBody.length, () => oursSocketLike([bigChunks]))
  const probe = await nodePop3(perAnswer, countData)
  if (probe.hung > 0) note(`node-pop3 missed the end of ${probe.hung} of 1000 answers (it would hang there)`)
  else {
    await measureAsync(`node-pop3 _pushStream -> Readable, 1000 x 10 KB, socket-like, ${kib}`, smallStream.length, stuffedSmall, async () =>
      (await nodePop3(perAnswer, countData)).bytes)
  }
  const bigProbe = await nodePop3([bigChunks], countData)
  if (bigProbe.hung > 0) note("node-pop3 missed the end of the 50 MB answer (it would hang there)")
  else {
    await measureAsync(`node-pop3 _pushStream -> Readable, 50 MB, socket-like, ${kib}`, bigAnswer.length, stuffedBig, async () =>
      (await nodePop3([bigChunks], countData)).bytes)
  }
  await measureAsync(`yapople onData, 1000 x 10 KB one RETR at a time, socket-like, ${kib}`, smallStream.length, stuffedSmall, async () =>
    (await yapople(perAnswer, true)).bytes)
}

console.log("--- correctness probe: each answer in two reads, the second holding its last k bytes")
for (const k of [1, 2, 3, 4, 5, 6]) {
  const perAnswer = smallAnswers.map((a) => [a.subarray(0, a.length - k), a.subarray(a.length - k)])
  const nodePop3Result = await nodePop3(perAnswer, countData)
  const yapopleResult = await yapople(perAnswer, false)
  const oursOk = oursSequential(perAnswer) === smallBodyBytes
  console.log(
    `k = ${k}: ours ${oursOk ? "1000" : "WRONG"}, node-pop3 ${1000 - nodePop3Result.hung}, yapople ${yapopleResult.done} ` +
      "of 1000 answers ended"
  )
}

console.log("--- memory: one answer streamed in fresh 16 KiB chunks, views dropped (kept, for contrast)")
for (const [times, keep] of [[1, false], [5, false], [10, false], [1, true]] as const) {
  const name = `ours, ${50 * times} MB body, ${keep ? "consumer keeps every view" : "consumer drops the views"}`
  console.log(`${name.padEnd(72)} ${await memoryGrowth(16384, times, keep)}`)
}

console.log("--- the peers' own RETR paths (quadratic joins): fewer runs")
{
  const perAnswer = smallAnswers.map((a) => chunk(a, 16384))
  const chars = smallAnswers.reduce((n, a) => n + a.length - a.indexOf("\r\n") - 2 - 5, 0)
  await measureAsync(`node-pop3 RETR() (stream2String), 1000 x 10 KB, socket-like, 16 KiB`, smallStream.length, chars, async () =>
    (await nodePop3(perAnswer, stream2String)).bytes, 3, 1)
  const bigChunks = chunk(bigAnswer, 65536)
  for (const [name, run] of [
    ["yapople onData, 50 MB, 64 KiB, 1 run", async () => (await yapople([bigChunks], false)).bytes],
    ["node-pop3 RETR() (stream2String), 50 MB, socket-like, 64 KiB, 1 run", async () =>
      (await nodePop3([bigChunks], stream2String)).bytes]
  ] as const) {
    if (performance.now() - started > BUDGET_MS) {
      console.log(`${name.padEnd(72)} skipped (time budget)`)
      continue
    }
    await measureAsync(name, bigAnswer.length, stuffedBig, run, 1, 0)
  }
}

const ratio = (a: string, b: string) => {
  const x = rows.find((r) => r.name === a)
  const y = rows.find((r) => r.name === b)
  return x && y ? `${(x.mbps / y.mbps).toFixed(1)}x` : "n/a"
}
console.log("\n--- ratios (ours / peer, same feeding)")
for (const kib of ["16 KiB", "64 KiB"]) {
  console.log(
    `${kib}: 1000 x 10 KB sync: / yapople ${ratio(`ours, 1000 x 10 KB one RETR at a time, ${kib}`, `yapople onData, 1000 x 10 KB one RETR at a time, ${kib}`)}; ` +
      `socket-like: / node-pop3 ${ratio(`ours, 1000 x 10 KB one RETR at a time, socket-like, ${kib}`, `node-pop3 _pushStream -> Readable, 1000 x 10 KB, socket-like, ${kib}`)}, ` +
      `/ yapople ${ratio(`ours, 1000 x 10 KB one RETR at a time, socket-like, ${kib}`, `yapople onData, 1000 x 10 KB one RETR at a time, socket-like, ${kib}`)}; ` +
      `50 MB socket-like: / node-pop3 ${ratio(`ours, 50 MB, socket-like, ${kib}`, `node-pop3 _pushStream -> Readable, 50 MB, socket-like, ${kib}`)}`
  )
}
console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(1)} s`)
