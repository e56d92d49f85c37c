/**
 * Test helpers to read typed failures out of an `Exit`.
 *
 * @since 0.1.0
 */
import type * as MailError from "@starttls/core/MailError"
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"

/**
 * The typed error of a failed exit; throws (failing the test) on success, defects or interruption.
 *
 * @category getters
 * @since 0.1.0
 */
export const errorOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got success: ${String(exit.value)}`)
  const failure = exit.cause.reasons.find(Cause.isFailReason)
  if (failure === undefined) throw new Error(`expected a typed failure, got: ${Cause.pretty(exit.cause)}`)
  return failure.error
}

/**
 * The `MailError` reason of a failed exit.
 *
 * @category getters
 * @since 0.1.0
 */
export const reasonOf = <A>(exit: Exit.Exit<A, MailError.MailError>): MailError.MailErrorReason =>
  errorOf(exit).reason
