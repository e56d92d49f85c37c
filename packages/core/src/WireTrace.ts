/**
 * The optional wire trace: every line in and out as debug logs (`C:` client, `S:` server), with
 * secrets masked by construction. Commands are traced from the redacted form their encoder
 * produces (the encoder marks the secret spans); server bytes are traced escaped and truncated.
 * Off by default; turn it on with `WireTrace.layer`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"

/**
 * Whether the wire trace is on.
 *
 * @category services
 * @since 0.1.0
 */
export const WireTrace = Context.Reference<boolean>("@starttls/core/WireTrace", {
  defaultValue: () => false
})

/**
 * Turns the wire trace on (debug-level logs; set the minimum log level to see them).
 *
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<never> = Layer.succeed(WireTrace, true)
