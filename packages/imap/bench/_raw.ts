/**
 * The raw floor of the fetch benchmarks (not a benchmark itself): the least IMAP a client can
 * speak for the workload, over `node:net` + `node:tls`, with no framework. Greeting, STARTTLS,
 * TLS, LOGIN, SELECT, `FETCH 1:* BODY.PEEK[]`, LOGOUT; a reader that finds lines with `indexOf`
 * and skips literals by count, either copying each body into one Buffer (`keep`) or only counting
 * its bytes. It checks nothing a real client must check: it is the floor for this server and this
 * machine's TLS, not a client.
 */
import * as Net from "node:net"
import { performance } from "node:perf_hooks"
import * as Tls from "node:tls"
import { type Env, markTransfer, type Timings } from "./_harness.ts"

export const run = (env: Env, mailbox: string, keep: boolean): Promise<Timings> =>
  new Promise((resolve, reject) => {
    const t0 = performance.now()
    let socket: Net.Socket | Tls.TLSSocket = Net.connect(env.port, env.host)
    let pending: Buffer = Buffer.alloc(0)
    let literal = 0
    let parts: Array<Buffer> = []
    let messages = 0
    let bytes = 0
    let step = "greeting"
    let tLogin = 0
    let tSelect = 0
    const send = (line: string) => socket.write(`${line}\r\n`)

    const onLine = (line: string) => {
      switch (step) {
        case "greeting":
          step = "starttls"
          send("s STARTTLS")
          return
        case "starttls":
          if (!line.startsWith("s ")) return
          if (!line.startsWith("s OK")) return reject(new Error(line))
          step = "login"
          socket.removeListener("data", onData)
          pending = Buffer.alloc(0)
          socket = Tls.connect({ socket, ca: [env.ca], servername: "localhost" }, () => send(`l LOGIN ${env.user} ${env.pass}`))
          socket.on("data", onData)
          socket.on("error", reject)
          return
        case "login":
          if (!line.startsWith("l ")) return
          if (!line.startsWith("l OK")) return reject(new Error(line))
          tLogin = performance.now()
          step = "select"
          send(`m SELECT ${mailbox}`)
          return
        case "select":
          if (!line.startsWith("m ")) return
          markTransfer()
          tSelect = performance.now()
          step = "fetch"
          send("f FETCH 1:* BODY.PEEK[]")
          return
        case "fetch": {
          if (!line.startsWith("f ")) return
          const tFetch = performance.now()
          step = "logout"
          send("o LOGOUT")
          resolve({
            connectMs: tLogin - t0,
            selectMs: tSelect - tLogin,
            fetchMs: tFetch - tSelect,
            totalMs: tFetch - t0,
            messages,
            bytes
          })
          return
        }
      }
    }

    const onData = (chunk: Buffer) => {
      let data = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      let at = 0
      while (at < data.length) {
        if (literal > 0) {
          const take = Math.min(literal, data.length - at)
          if (keep) parts.push(data.subarray(at, at + take))
          bytes += take
          literal -= take
          at += take
          if (literal === 0) {
            if (keep) Buffer.concat(parts)
            parts = []
            messages++
          }
          continue
        }
        const lf = data.indexOf(10, at)
        if (lf < 0) break
        const line = data.toString("latin1", at, lf + 1)
        at = lf + 1
        const marker = /\{(\d+)\}\r\n$/.exec(line)
        if (marker !== null) literal = Number(marker[1])
        else onLine(line)
      }
      data = at >= data.length ? Buffer.alloc(0) : Buffer.from(data.subarray(at))
      pending = data
    }
    socket.on("data", onData)
    socket.on("error", reject)
  })

/**
 * The round-trip floor: greeting, STARTTLS, TLS, `AUTHENTICATE PLAIN` with the initial response
 * (SASL-IR) right after the handshake; resolves with the milliseconds to the tagged OK.
 */
export const authenticate = (env: Env, port: number): Promise<number> =>
  new Promise((resolve, reject) => {
    const t0 = performance.now()
    let socket: Net.Socket | Tls.TLSSocket = Net.connect(port, env.host)
    let text = ""
    let step = "greeting"
    const ir = Buffer.from(`\0${env.user}\0${env.pass}`).toString("base64")
    const onData = (chunk: Buffer) => {
      text += chunk.toString("latin1")
      let lf: number
      while ((lf = text.indexOf("\n")) >= 0) {
        const line = text.slice(0, lf + 1)
        text = text.slice(lf + 1)
        if (step === "greeting") {
          step = "starttls"
          socket.write("s STARTTLS\r\n")
        } else if (step === "starttls" && line.startsWith("s ")) {
          step = "auth"
          socket.removeListener("data", onData)
          socket = Tls.connect({ socket, ca: [env.ca], servername: "localhost" }, () =>
            socket.write(`a AUTHENTICATE PLAIN ${ir}\r\n`))
          socket.on("data", onData)
          socket.on("error", reject)
        } else if (step === "auth" && line.startsWith("a ")) {
          const ms = performance.now() - t0
          socket.end("o LOGOUT\r\n")
          if (line.startsWith("a OK")) resolve(ms)
          else reject(new Error(line))
        }
      }
    }
    socket.on("data", onData)
    socket.on("error", reject)
  })
