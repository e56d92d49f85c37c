/**
 * The real Dovecot of ../shared/mail-servers, as the integration tests reach it: the MAILTEST_*
 * environment of `real-servers.sh` (load `/tmp/mailenv.sh`; `.ci/run` sets it), with the defaults
 * the script uses. Read once per test file; the integration project runs only when it is set.
 */
import * as Credentials from "@starttls/core/Credentials"
import * as Redacted from "effect/Redacted"
import { readFileSync } from "node:fs"

const env = process.env

export const host = env["MAILTEST_HOST"] ?? "127.0.0.1"
export const user = env["MAILTEST_USER"] ?? "test"
export const pass = env["MAILTEST_PASS"] ?? "secret"
/** The test CA (PEM), "" when the environment is missing. */
export const ca = env["MAILTEST_CA"] === undefined ? "" : readFileSync(env["MAILTEST_CA"], "utf8")
export const credentials = Credentials.password({ username: user, password: Redacted.make(pass) })
/** The STARTTLS IMAP port, trusting only the test CA. */
export const options = { host, port: Number(env["MAILTEST_IMAP_PORT"]), tls: { trustOnly: [ca] } }
/** `options` with the test user's credentials (for `ImapClient.session`). */
export const sessionOptions = { ...options, credentials }
/** Whether the environment is there (the suites run only then). */
export const configured = env["MAILTEST_HOST"] !== undefined
