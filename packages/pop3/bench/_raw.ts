/**
 * Benchmark helpers (not a benchmark): a hand-written raw POP3 client, the floor the benchmarks
 * compare with — `node:net` + `node:tls`, STLS, `AUTH PLAIN` with an initial response, then RETRs
 * one at a time or all written at once, read with a line scanner that undoes dot-stuffing. It checks
 * nothing it does not need to (no CAPA after TLS, no certificate pinning, no limits): it is a
 * measuring stick, not a client. Also: process memory figures and child-process plumbing.
 */
import { spawn } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"
import * as Net from "node:net"
import { performance } from "node:perf_hooks"
import * as Tls from "node:tls"

/** Where the raw client connects and who it is. */
export interface Target {
  readonly host: string
  readonly port: number
  readonly ca: string
  readonly servername: string
  readonly user: string
  readonly pass: string
}

/** What one RETR run measured. */
export interface RawResult {
  readonly connectMs: number
  readonly fetchMs: number
  readonly n: number
  readonly bytes: number
}

/**
 * STLS, AUTH PLAIN, then RETR of `ids`: sequentially (one round trip each) or all pipelined.
 * `keep`: bodies are joined into a Buffer each (like a client returning messages); otherwise only
 * counted (a streaming consumer that drops the bytes).
 */
export const rawRetr = (target: Target, ids: ReadonlyArray<number>, pipeline: boolean, keep: boolean): Promise<RawResult> =>
  new Promise((resolve, reject) => {
    const t0 = performance.now()
    let t1 = 0
    let socket: Net.Socket | Tls.TLSSocket = Net.connect(target.port, target.host)
    socket.setNoDelay(true)
    let step: "greeting" | "stls" | "auth" | "retr" = "greeting"
    let pending: Buffer = Buffer.alloc(0)
    let inBody = false
    let parts: Array<Buffer> = []
    let done = 0
    let bytes = 0
    const finish = () => {
      const fetchMs = performance.now() - t1
      socket.write("RSET\r\nQUIT\r\n")
      socket.end()
      resolve({ connectMs: t1 - t0, fetchMs, n: done, bytes })
    }
    const onLine = (line: string) => {
      if (!line.startsWith("+OK")) return reject(new Error(`${step}: ${line.trim()}`))
      switch (step) {
        case "greeting":
          step = "stls"
          socket.write("STLS\r\n")
          return
        case "stls": {
          socket.removeListener("data", onData)
          const secure = Tls.connect({ socket, ca: [target.ca], servername: target.servername }, () => {
            step = "auth"
            secure.write(`AUTH PLAIN ${Buffer.from(`\0${target.user}\0${target.pass}`).toString("base64")}\r\n`)
          })
          secure.on("data", onData)
          secure.on("error", reject)
          socket = secure
          pending = Buffer.alloc(0)
          return
        }
        case "auth":
          step = "retr"
          markTransfer()
          t1 = performance.now()
          socket.write(pipeline ? ids.map((id) => `RETR ${id}\r\n`).join("") : `RETR ${ids[0]}\r\n`)
          return
        case "retr":
          inBody = true
          parts = []
          return
      }
    }
    const onData = (chunk: Buffer) => {
      const buffer = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      let at = 0
      for (let lf = buffer.indexOf(10, at); lf >= 0; lf = buffer.indexOf(10, at)) {
        if (!inBody) {
          onLine(buffer.toString("latin1", at, lf + 1))
          at = lf + 1
          if (step === "stls" && socket instanceof Tls.TLSSocket) return
          continue
        }
        if (lf - at === 2 && buffer[at] === 0x2e && buffer[at + 1] === 0x0d) {
          inBody = false
          done++
          if (keep) bytes += Buffer.concat(parts).length
          at = lf + 1
          if (done === ids.length) return finish()
          if (!pipeline) socket.write(`RETR ${ids[done]}\r\n`)
          continue
        }
        // RFC 1939 §3: a line starting with "." lost one "." to stuffing.
        const start = buffer[at] === 0x2e ? at + 1 : at
        if (keep) parts.push(buffer.subarray(start, lf + 1))
        else bytes += lf + 1 - start
        at = lf + 1
      }
      pending = at >= buffer.length ? Buffer.alloc(0) : Buffer.from(buffer.subarray(at))
    }
    socket.on("data", onData)
    socket.on("error", reject)
  })

/**
 * The round-trip floor: greeting, STLS, TLS, `AUTH PLAIN` with an initial response (no CAPA). Resolves
 * with the milliseconds to the `+OK` and a function that closes the connection.
 */
export const rawLogin = (target: Target): Promise<{ readonly ms: number; readonly close: () => void }> =>
  new Promise((resolve, reject) => {
    const t0 = performance.now()
    const plain = Net.connect(target.port, target.host)
    plain.setNoDelay(true)
    let buffer = ""
    let greeted = false
    const onPlain = (chunk: Buffer) => {
      buffer += chunk.toString("latin1")
      if (!buffer.endsWith("\r\n")) return
      const line = buffer
      buffer = ""
      if (!line.startsWith("+OK")) return reject(new Error(line.trim()))
      if (greeted) {
        plain.removeListener("data", onPlain)
        const secure = Tls.connect({ socket: plain, ca: [target.ca], servername: target.servername }, () => {
          secure.write(`AUTH PLAIN ${Buffer.from(`\0${target.user}\0${target.pass}`).toString("base64")}\r\n`)
        })
        secure.on("error", reject)
        secure.on("data", (d: Buffer) => {
          const reply = d.toString("latin1")
          if (!reply.startsWith("+OK")) return reject(new Error(reply.trim()))
          resolve({ ms: performance.now() - t0, close: () => secure.destroy() })
        })
        return
      }
      greeted = true
      plain.write("STLS\r\n")
    }
    plain.on("data", onPlain)
    plain.on("error", reject)
  })

/** Current and peak RSS of this process, in MB (`/proc/self/status`). */
export const memory = (): { readonly rssMB: number; readonly peakMB: number } => {
  const status = readFileSync("/proc/self/status", "utf8")
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0)
  return { rssMB: kb("VmRSS") / 1024, peakMB: kb("VmHWM") / 1024 }
}

let transferBase: number | undefined
let peakBefore = 0

/**
 * Marks the start of the measured transfer: records the RSS now and resets the kernel's peak-RSS
 * counter (`/proc/self/clear_refs` "5", Linux ≥ 4.0), so the peak read at the end is the peak
 * during the transfer alone (connection set-up, TLS and JIT warm-up excluded). Both modes of a
 * benchmark call it at the same point: right before the RETR / FETCH command.
 */
export const markTransfer = (): void => {
  peakBefore = memory().peakMB
  writeFileSync("/proc/self/clear_refs", "5")
  transferBase = memory().rssMB
}

/**
 * Runs this benchmark file again as a child (`args`, with Node flags `nodeFlags`) and returns the
 * JSON line it prints last.
 */
export const child = (
  file: string,
  args: ReadonlyArray<string>,
  nodeFlags: ReadonlyArray<string> = []
): Promise<Record<string, unknown>> =>
  new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...nodeFlags, file, ...args], { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    proc.stdout.on("data", (d: Buffer) => {
      out += d.toString("utf8")
    })
    proc.on("error", reject)
    proc.on("close", (code) => {
      const last = out.trim().split("\n").at(-1) ?? ""
      if (code !== 0) return reject(new Error(`${args.join(" ")} exited with ${code}: ${out}`))
      try {
        resolve(JSON.parse(last) as Record<string, unknown>)
      } catch (cause) {
        reject(cause)
      }
    })
  })

/**
 * A child run: measures `run` (RSS before it is the baseline), prints one JSON line with the result
 * and the peak RSS, and exits 0 when `valid` accepts the result (2 otherwise, 1 on failure).
 */
export const childMain = <A extends object>(mode: string, run: () => Promise<A>, valid: (result: A) => boolean): void => {
  const base = memory().rssMB
  run().then(
    (result) => {
      const end = memory()
      console.log(JSON.stringify({
        mode,
        ...result,
        baseMB: base,
        // the process's peak: before the transfer mark, or since
        peakMB: Math.max(end.peakMB, peakBefore),
        ...(transferBase === undefined ? {} : { transferBaseMB: transferBase, transferPeakMB: end.peakMB })
      }))
      process.exit(valid(result) ? 0 : 2)
    },
    (error) => {
      console.error(error)
      process.exit(1)
    }
  )
}

/** Runs the parent side of a benchmark and exits. */
export const parentMain = (main: () => Promise<void>): void => {
  main().then(() => process.exit(0), (error) => {
    console.error(error)
    process.exit(1)
  })
}

/** The median of numbers. */
export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** A fixed-width table row. */
export const row = (cells: ReadonlyArray<string | number>, widths: ReadonlyArray<number>): string =>
  cells.map((c, i) => String(c).padEnd(widths[i] ?? 12)).join(" ")
