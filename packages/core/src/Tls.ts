/**
 * TLS configuration of a connection (S5). Certificates are verified by default: chain, host name
 * (the configured host, never a name learned from the wire), SNI, TLS 1.2 or newer. The only way to
 * turn verification off is an option whose name says it is dangerous.
 *
 * @since 0.1.0
 */
import type * as Redacted from "effect/Redacted"

/**
 * What the user configures.
 *
 * @category models
 * @since 0.1.0
 */
export interface TlsConfig {
  /**
   * Extra trusted CA certificates (PEM), added to the system roots.
   */
  readonly extraCa?: ReadonlyArray<string> | undefined
  /**
   * Trust ONLY these CA certificates (PEM) instead of the system roots.
   */
  readonly trustOnly?: ReadonlyArray<string> | undefined
  /**
   * Certificate pins: base64 SHA-256 digests of the server certificate's SubjectPublicKeyInfo
   * (the HPKP `pin-sha256` form). Checked in addition to normal verification: the leaf must match
   * one of them.
   */
  readonly pinnedSha256?: ReadonlyArray<string> | undefined
  /** Lowest acceptable TLS version. TLS 1.2 unless raised to 1.3. */
  readonly minVersion?: "TLSv1.2" | "TLSv1.3" | undefined
  /** A client certificate for mutual TLS (and SASL EXTERNAL). */
  readonly clientCertificate?: {
    readonly cert: string
    readonly key: Redacted.Redacted<string>
    readonly passphrase?: Redacted.Redacted<string> | undefined
  } | undefined
  /**
   * DANGEROUS: accept any certificate (self-signed, expired, wrong name). Anyone on the path can read
   * and change the session. A security event is emitted whenever it is used.
   */
  readonly dangerouslyAcceptInvalidCertificates?: boolean | undefined
}

/**
 * What the transport receives: the configuration plus the host name to verify, which is always the
 * host the user configured.
 *
 * @category models
 * @since 0.1.0
 */
export interface TlsParams extends TlsConfig {
  readonly host: string
}

/**
 * What a completed handshake tells.
 *
 * @category models
 * @since 0.1.0
 */
export interface TlsSession {
  /** e.g. "TLSv1.3" */
  readonly protocol: string
  /** e.g. "TLS_AES_256_GCM_SHA384" */
  readonly cipher: string
  /** Whether the certificate was verified (false only under `dangerouslyAcceptInvalidCertificates`). */
  readonly verified: boolean
  /** Base64 SHA-256 of the server certificate's SubjectPublicKeyInfo (pin form). */
  readonly peerSpkiSha256: string | undefined
  /**
   * RFC 9266 `tls-exporter` channel binding data (32 bytes of keying material, label
   * "EXPORTER-Channel-Binding", no context), when the session is TLS 1.3. `undefined` otherwise:
   * on TLS 1.2 tls-exporter is only safe with extended master secret, which Node does not report.
   */
  readonly channelBinding: Uint8Array | undefined
}
