/**
 * The test certificates in `fixtures/certs/` (regenerate with `scripts/make-certs.sh`): a test CA and
 * leaves for the certificate-validation cases. Test-only material: the private keys are committed
 * and not secret, but they are still never logged.
 *
 * | export | certificate |
 * |---|---|
 * | `ca` | the test CA (EC P-256); trust it with `trustOnly: [ca.cert]` |
 * | `localhost` | signed by the CA, SAN `DNS:localhost`, `IP:127.0.0.1` |
 * | `selfSigned` | self-signed, SAN localhost (not from the CA) |
 * | `wrongName` | signed by the CA, SAN `DNS:mail.example.net` only |
 * | `expired` | signed by the CA, SAN localhost, valid 2000-01-01 to 2001-01-01 |
 * | `client` | client certificate (`clientAuth`) signed by the CA, SAN `email:user@example.com` |
 *
 * Valid certificates run from 2020-01-01 to 2120-01-01.
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import type { CertProfile } from "./Transcript.ts"

/**
 * A PEM certificate and its PEM private key.
 *
 * @category models
 * @since 0.1.0
 */
export interface KeyPair {
  readonly cert: string
  readonly key: string
}

/**
 * Folder of the PEM files.
 *
 * @category constructors
 * @since 0.1.0
 */
export const directory: string = join(import.meta.dirname, "..", "fixtures", "certs")

const load = (name: string): KeyPair => ({
  cert: readFileSync(join(directory, `${name}.crt`), "utf8"),
  key: readFileSync(join(directory, `${name}.key`), "utf8")
})

/**
 * The test CA.
 *
 * @category constructors
 * @since 0.1.0
 */
export const ca: KeyPair = load("ca")

/**
 * Valid server certificate for `localhost` / `127.0.0.1`, signed by `ca`.
 *
 * @category constructors
 * @since 0.1.0
 */
export const localhost: KeyPair = load("localhost")

/**
 * Self-signed server certificate for `localhost` (untrusted).
 *
 * @category constructors
 * @since 0.1.0
 */
export const selfSigned: KeyPair = load("self-signed")

/**
 * Server certificate signed by `ca` for `mail.example.net` only (wrong host name for localhost).
 *
 * @category constructors
 * @since 0.1.0
 */
export const wrongName: KeyPair = load("wrong-name")

/**
 * Server certificate for `localhost` signed by `ca` that expired in 2001.
 *
 * @category constructors
 * @since 0.1.0
 */
export const expired: KeyPair = load("expired")

/**
 * Client certificate signed by `ca`, for mutual-TLS tests.
 *
 * @category constructors
 * @since 0.1.0
 */
export const client: KeyPair = load("client")

/**
 * The server certificate of a transcript profile.
 *
 * @category constructors
 * @since 0.1.0
 */
export const forProfile = (profile: CertProfile): KeyPair => {
  switch (profile) {
    case "localhost":
      return localhost
    case "self-signed":
      return selfSigned
    case "wrong-name":
      return wrongName
    case "expired":
      return expired
  }
}
