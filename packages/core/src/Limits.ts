/**
 * Limits and timeouts: the one place where their defaults live (STYLE.md rule 6, S8, S9). Every
 * connection takes overrides; parsers receive the limits that concern them.
 *
 * @since 0.1.0
 */

/**
 * Size limits applied to everything a server sends.
 *
 * @category models
 * @since 0.1.0
 */
export interface Limits {
  /** Longest protocol line (without literals), in bytes. */
  readonly maxLineLength: number
  /** Largest IMAP literal / POP3 or SMTP buffered response body, in bytes, when it is buffered. */
  readonly maxLiteralSize: number
  /** Deepest nesting of IMAP parenthesised lists. */
  readonly maxListDepth: number
  /** Most lines in one multi-line reply (SMTP, POP3 CAPA ...). */
  readonly maxReplyLines: number
  /** Most bytes of one buffered response (all lines and literals together). */
  readonly maxResponseBytes: number
  /** Most bytes held by a parser without completing a frame. */
  readonly maxBufferedBytes: number
}

/**
 * Defaults: generous for real servers, small enough that a hostile server cannot exhaust memory.
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultLimits: Limits = {
  // IMAP SEARCH / ESEARCH answers are single lines of ~7 bytes per message: 1 MiB covers ~150,000.
  maxLineLength: 1024 * 1024,
  maxLiteralSize: 64 * 1024 * 1024,
  maxListDepth: 64,
  maxReplyLines: 1000,
  maxResponseBytes: 128 * 1024 * 1024,
  maxBufferedBytes: 128 * 1024 * 1024
}

/**
 * Deadlines in milliseconds, by phase. Every wait of the library has one (S9).
 *
 * @category models
 * @since 0.1.0
 */
export interface Timeouts {
  /** TCP connect. */
  readonly connect: number
  /** From connected (or TLS established, for implicit TLS) to the server's greeting. */
  readonly greeting: number
  /** TLS handshake (STARTTLS upgrade or implicit TLS). */
  readonly handshake: number
  /** A command's complete reply. */
  readonly command: number
  /** No byte received while a large transfer is under way (the deadline restarts with every chunk). */
  readonly data: number
  /** Longest quiet period of an idle wait (IMAP IDLE restarts before this). */
  readonly idle: number
}

/**
 * Defaults close to what the RFCs suggest for clients (RFC 5321 §4.5.3.2 gives 5 minutes for
 * the greeting and most commands; interactive mail clients use far less).
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultTimeouts: Timeouts = {
  connect: 15_000,
  greeting: 30_000,
  handshake: 15_000,
  command: 60_000,
  data: 120_000,
  idle: 29 * 60_000
}

/**
 * Fills in defaults.
 *
 * @category constructors
 * @since 0.1.0
 */
export const limits = (overrides?: Partial<Limits>): Limits => ({ ...defaultLimits, ...overrides })

/**
 * Fills in defaults.
 *
 * @category constructors
 * @since 0.1.0
 */
export const timeouts = (overrides?: Partial<Timeouts>): Timeouts => ({ ...defaultTimeouts, ...overrides })
