/**
 * `pnpm demo`: the main job, on the embedded in-memory servers (real TLS, no network). Each protocol
 * package contributes its part (packages/<pkg>/demo/demo.ts).
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { demo as imap } from "../packages/imap/demo/demo.ts"
import { demo as pop3 } from "../packages/pop3/demo/demo.ts"
import { demo as smtp } from "../packages/smtp/demo/demo.ts"

const parts: ReadonlyArray<readonly [string, Effect.Effect<void, unknown, never>]> = [
  ["SMTP", smtp],
  ["POP3", pop3],
  ["IMAP", imap]
]

const program = Effect.forEach(parts, ([name, part]) =>
  Effect.andThen(
    Console.log(`\n================ ${name} ================`),
    part
  ), { discard: true })

Effect.runPromise(program).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error("demo failed:", error)
    process.exit(1)
  }
)
