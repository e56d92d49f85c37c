/**
 * COMPRESS=DEFLATE (RFC 4978) against a real Dovecot with the imap_zlib plugin (load
 * `/tmp/mailenv.sh` first). The shared instance of ../shared/mail-servers does not load the
 * plugin, and must not be restarted: this file starts its OWN Dovecot for its tests, derived from
 * the shared instance's config (`$MAILTEST_DIR/etc/dovecot.conf`: same TLS certificate and test CA,
 * same user and password) with `mail_plugins = $mail_plugins zlib` and `imap_zlib` for IMAP, only
 * IMAP with STARTTLS on a free 127.0.0.1 port, its own base_dir / state_dir / log, and its own
 * Maildir seeded by the shared instance's seed script (200 × 10 KB). It is stopped and its
 * directory removed when the file ends, whatever happened.
 *
 * Needs what `real-servers.sh install` + `start` gave: the `dovecot` binary, root (the mail files
 * belong to the passwd file's uid), and perl for the seed script.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as NodeTransport from "@starttls/core/NodeTransport"
import * as Proxy from "@starttls/testkit/Proxy"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as ImapClient from "../src/ImapClient.ts"
import * as SequenceSet from "../src/SequenceSet.ts"
import * as Dovecot from "./RealDovecot.ts"

const env = process.env
const sharedDir = env["MAILTEST_DIR"] ?? "/nonexistent"
const { credentials, host, user } = Dovecot
const COUNT = 200
const SIZE = 10_240

/** A free TCP port on 127.0.0.1 (asked from the kernel, then released for Dovecot). */
const freePort = Effect.callback<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Removes the `service` / `protocol` blocks of a Dovecot config (they are written anew). */
const withoutBlocks = (config: string): Array<string> => {
  const kept: Array<string> = []
  let depth = 0
  let skipping = false
  for (const line of config.split("\n")) {
    const opens = (line.match(/\{/g) ?? []).length
    const closes = (line.match(/\}/g) ?? []).length
    if (depth === 0 && /^\s*(service|protocol)\s+\S+\s*\{/.test(line)) skipping = true
    depth += opens - closes
    if (!skipping) kept.push(line)
    if (skipping && depth === 0) skipping = false
  }
  return kept
}

/** The shared instance's config, made private: own paths, own passwd / Maildir, IMAP only, imap_zlib. */
const deriveConfig = (source: string, dir: string, port: number): string => {
  const own: Record<string, string> = {
    instance_name: `compress-test-${port}`,
    base_dir: join(dir, "run"),
    state_dir: join(dir, "state"),
    log_path: join(dir, "log", "dovecot.log"),
    protocols: "imap"
  }
  const lines = withoutBlocks(source.replaceAll(join(sharedDir, "etc", "passwd"), join(dir, "etc", "passwd"))).map(
    (line) => {
      const key = /^(\w+)\s*=/.exec(line)?.[1]
      return key !== undefined && own[key] !== undefined ? `${key} = ${own[key]}` : line
    }
  )
  return [
    ...lines,
    "mail_plugins = $mail_plugins zlib",
    "service imap-login {",
    "  inet_listener imap {",
    "    address = 127.0.0.1",
    `    port = ${port}`,
    "  }",
    "  inet_listener imaps {",
    "    port = 0",
    "  }",
    "}",
    "protocol imap {",
    "  mail_max_userip_connections = 1000",
    "  mail_plugins = $mail_plugins imap_zlib",
    "}",
    ""
  ].join("\n")
}

/** The binary `real-servers.sh install` put in place (root's PATH may lack /usr/sbin). */
const DOVECOT = existsSync("/usr/sbin/dovecot") ? "/usr/sbin/dovecot" : "dovecot"

const logTail = (dir: string): string => {
  const file = join(dir, "log", "dovecot.log")
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").slice(-10).join("\n") : "(no log)"
}

const waitForPort = (port: number, child: ChildProcess, dir: string, deadline: number): Effect.Effect<void, Error> =>
  Effect.gen(function*() {
    for (;;) {
      if (child.exitCode !== null) {
        return yield* Effect.fail(new Error(`dovecot exited with ${child.exitCode}:\n${logTail(dir)}`))
      }
      const open = yield* Effect.callback<boolean>((resume) => {
        const socket = Net.connect(port, "127.0.0.1")
        socket.once("connect", () => {
          socket.destroy()
          resume(Effect.succeed(true))
        })
        socket.once("error", () => resume(Effect.succeed(false)))
      })
      if (open) return
      if ((yield* Clock.currentTimeMillis) > deadline) {
        return yield* Effect.fail(new Error(`dovecot did not listen in time:\n${logTail(dir)}`))
      }
      yield* Effect.sleep("50 millis")
    }
  })

/** SIGTERM, then SIGKILL if Dovecot has not exited after 10 s. */
const stop = (child: ChildProcess): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    const kill = setTimeout(() => child.kill("SIGKILL"), 10_000)
    child.once("exit", () => {
      clearTimeout(kill)
      resume(Effect.void)
    })
    child.kill("SIGTERM")
  })

interface Instance {
  readonly port: number
  readonly dir: string
  readonly ca: string
  /** Message-ID -> wire bytes (CRLF) of the seeded messages. */
  readonly seeded: ReadonlyMap<string, Buffer>
}

const messageId = (source: Uint8Array) => /^Message-ID: (<[^>]+>)\r?$/m.exec(Buffer.from(source).toString("latin1"))?.[1]

/** Starts the private Dovecot in a new directory; the scope stops it and removes the directory. */
const privateDovecot: Effect.Effect<Instance, Error, Scope.Scope> = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "imap-compress-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
  const port = yield* freePort
  const home = join(dir, "mail", user)
  const maildir = join(home, "Maildir")
  const passwd = readFileSync(join(sharedDir, "etc", "passwd"), "utf8")
  const entry = passwd.split("\n").find((line) => line.startsWith(`${user}:`))
  if (entry === undefined) return yield* Effect.fail(new Error(`no ${user} in the shared passwd file`))
  const [uid, gid] = entry.split(":").slice(2, 4).map(Number) as [number, number]
  yield* Effect.try({
    try: () => {
      // Dovecot's auth (user dovecot) and the mail process (the passwd uid) must reach everything.
      chmodSync(dir, 0o755)
      for (const sub of ["etc", "run", "state", "log", join("mail", user)]) mkdirSync(join(dir, sub), { recursive: true })
      writeFileSync(join(dir, "etc", "passwd"), passwd.replaceAll(join(sharedDir, "mail"), join(dir, "mail")))
      const config = readFileSync(join(sharedDir, "etc", "dovecot.conf"), "utf8")
      writeFileSync(join(dir, "etc", "dovecot.conf"), deriveConfig(config, dir, port))
      for (const sub of ["cur", "new", "tmp"]) mkdirSync(join(maildir, sub), { recursive: true })
      execFileSync("perl", [join(sharedDir, "etc", "seed.pl"), maildir, String(COUNT), String(SIZE), "INBOX"])
      execFileSync("chown", ["-R", `${uid}:${gid}`, home])
      chownSync(home, uid, gid)
    },
    catch: (cause) => new Error(`cannot prepare the private Dovecot: ${String(cause)}`)
  })
  const child = yield* Effect.acquireRelease(
    Effect.sync(() => spawn(DOVECOT, ["-F", "-c", join(dir, "etc", "dovecot.conf")], { stdio: "ignore" })),
    stop
  )
  yield* waitForPort(port, child, dir, (yield* Clock.currentTimeMillis) + 10_000)
  const seeded = new Map<string, Buffer>()
  for (const name of readdirSync(join(maildir, "cur"))) {
    const bytes = Buffer.from(readFileSync(join(maildir, "cur", name), "latin1").replace(/\n/g, "\r\n"), "latin1")
    const id = messageId(bytes)
    if (id !== undefined) seeded.set(id, bytes)
  }
  return { port, dir, ca: readFileSync(env["MAILTEST_CA"] ?? "", "utf8"), seeded }
})

const enabled = env["MAILTEST_HOST"] !== undefined

describe.runIf(enabled)("COMPRESS=DEFLATE against a private Dovecot with imap_zlib", () => {
  const scope = Scope.makeUnsafe()
  let instance: Instance | undefined
  beforeAll(async () => {
    instance = await Effect.runPromise(Scope.provide(scope)(privateDovecot))
  }, 30_000)
  afterAll(() => Effect.runPromise(Scope.close(scope, Exit.void)), 30_000)

  const options = () => ({
    host,
    port: instance!.port,
    tls: { trustOnly: [instance!.ca] },
    timeouts: { command: 10_000, data: 10_000 }
  })

  it.live("STARTTLS + AUTHENTICATE, COMPRESS=DEFLATE after login only; COMPRESS, SELECT, FETCH byte-exact, APPEND", () =>
    Effect.gen(function*() {
      const plain = yield* ImapClient.connect(options())
      assert.isFalse(plain.session.plaintextCapabilities?.compressDeflate ?? false)
      const secure = yield* ImapClient.startTls(plain)
      assert.isFalse((yield* ImapClient.capabilities(secure)).compressDeflate)
      const imap = yield* ImapClient.authenticate(secure, credentials)
      assert.isTrue((yield* ImapClient.capabilities(imap)).compressDeflate)
      yield* ImapClient.compress(imap)
      assert.isTrue(ImapClient.isCompressed(imap))
      // Dovecot answers a second COMPRESS with NO [COMPRESSIONACTIVE]; the client refuses it first.
      assert.strictEqual(
        (yield* Effect.flip(ImapClient.compress(imap))).reason._tag,
        "PolicyViolation"
      )
      const inbox = yield* ImapClient.select(imap, "INBOX")
      assert.strictEqual(inbox.status.exists, COUNT)
      let matched = 0
      yield* ImapClient.fetch(inbox, SequenceSet.range(1, "*"), { uid: true, source: true, size: true }).pipe(
        Stream.runForEach((message) =>
          Effect.sync(() => {
            const want = instance!.seeded.get(messageId(message.source!) ?? "")
            assert.isDefined(want)
            assert.strictEqual(message.source!.length, message.size)
            assert.isTrue(Buffer.from(message.source!).equals(want!))
            matched++
          })
        )
      )
      assert.strictEqual(matched, COUNT)
      const body = Buffer.from(
        `From: a@localhost\r\nTo: ${user}@localhost\r\nSubject: compressed append\r\nMessage-ID: <compress-append@localhost>\r\n\r\n` +
          "compress me please\r\n".repeat(4000)
      )
      const appended = yield* ImapClient.append(imap, "INBOX", body, { flags: ["\\Seen"] })
      assert.isDefined(appended.uid)
      const [back] = yield* Stream.runCollect(
        ImapClient.fetch(inbox, SequenceSet.single(appended.uid!), { source: true, flags: true }, { uid: true })
      )
      assert.isTrue(Buffer.from(back!.source!).equals(body))
      assert.include(back!.flags!, "\\Seen")
      yield* ImapClient.store(inbox, SequenceSet.single(appended.uid!), "add", ["\\Deleted"], { uid: true, silent: true })
      yield* ImapClient.uidExpunge(inbox, SequenceSet.single(appended.uid!))
      yield* ImapClient.logout(imap)
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer)), { timeout: 60_000 })

  it.live("session({ compress: true }) compresses; throughput of FETCH 200 × 10 KB with and without COMPRESS", () =>
    Effect.gen(function*() {
      // Timed straight to Dovecot; the bytes on the wire (TLS records) counted once through a proxy.
      const run = (compress: boolean, port: number) =>
        Effect.gen(function*() {
          const imap = yield* ImapClient.session({ ...options(), port, credentials, compress })
          assert.strictEqual(ImapClient.isCompressed(imap), compress)
          const inbox = yield* ImapClient.examine(imap, "INBOX")
          const started = yield* Clock.currentTimeNanos
          let bytes = 0
          yield* ImapClient.fetch(inbox, SequenceSet.range(1, "*"), { source: true }).pipe(
            Stream.runForEach((message) => Effect.sync(() => void (bytes += message.source?.length ?? 0)))
          )
          const seconds = Number((yield* Clock.currentTimeNanos) - started) / 1e9
          yield* ImapClient.logout(imap)
          return { bytes, seconds }
        }).pipe(Effect.scoped)
      const onWire = (compress: boolean) =>
        Effect.gen(function*() {
          const proxy = yield* Proxy.start({ targetPort: instance!.port })
          yield* run(compress, proxy.port)
          yield* Effect.sleep("20 millis")
          return proxy.sessions[0]!.events
            .filter((e) => e.direction === "server-to-client")
            .reduce((n, e) => n + e.bytes.length, 0)
        }).pipe(Effect.scoped)
      const wirePlain = yield* onWire(false)
      const wireDeflate = yield* onWire(true)
      assert.isBelow(wireDeflate, wirePlain)
      const rounds: Array<{ readonly plain: number; readonly deflate: number }> = []
      for (let round = 0; round < 5; round++) {
        const plain = yield* run(false, instance!.port)
        const deflate = yield* run(true, instance!.port)
        assert.strictEqual(plain.bytes, COUNT * SIZE)
        assert.strictEqual(deflate.bytes, COUNT * SIZE)
        rounds.push({ plain: plain.seconds, deflate: deflate.seconds })
      }
      const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
      const mbps = (seconds: number) => ((COUNT * SIZE) / 1e6 / seconds).toFixed(1)
      const plain = median(rounds.map((r) => r.plain))
      const deflate = median(rounds.map((r) => r.deflate))
      yield* Effect.log(
        `FETCH ${COUNT} × ${SIZE} B from Dovecot (median of ${rounds.length}): uncompressed ${(plain * 1000).toFixed(0)} ms ` +
          `(${mbps(plain)} MB/s), COMPRESS=DEFLATE ${(deflate * 1000).toFixed(0)} ms (${mbps(deflate)} MB/s); ` +
          `server → client bytes on the wire for the whole session: ${wirePlain} vs ${wireDeflate} ` +
          `(${(wirePlain / wireDeflate).toFixed(2)}×)`
      )
    }).pipe(Effect.provide(NodeTransport.layer)), { timeout: 120_000 })
})
