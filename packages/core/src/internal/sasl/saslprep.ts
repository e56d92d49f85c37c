/**
 * SASLprep (RFC 4013), the stringprep profile SCRAM applies to usernames and passwords
 * (RFC 5802 §2.2, §5.1).
 *
 * What is implemented, in RFC 4013 order:
 * - §2.1 Mapping: "commonly mapped to nothing" characters (RFC 3454 B.1) are removed, then
 *   non-ASCII space characters (C.1.2) become U+0020.
 * - §2.2 Normalization: Unicode NFKC, with the JavaScript engine's Unicode tables (RFC 4013 pins
 *   Unicode 3.2; the two differ only on characters assigned later).
 * - §2.3 Prohibited output: C.1.2 (after mapping, none remain), C.2.1 and C.2.2 control characters,
 *   C.3 private use, C.4 non-characters, C.5 surrogates, C.6 characters inappropriate for plain
 *   text, C.7 for canonical representation, C.8 that change display properties, C.9 tagging.
 *
 * What is not: the bidirectional check (§2.4, RFC 3454 §6) needs the Bidi_Class property, which
 * JavaScript regular expressions do not expose; and unassigned code points (§2.5) are allowed, as
 * for "query" strings (the server, which holds the "stored" string, applies the stricter rule).
 * Neither affects security: the server prepares the string again and rejects what it refuses.
 *
 * @internal
 */

// RFC 3454 B.1: commonly mapped to nothing.
const MAPPED_TO_NOTHING = /[\u00ad\u034f\u1806\u180b-\u180d\u200b-\u200d\u2060\ufe00-\ufe0f\ufeff]/gu

// RFC 3454 C.1.2: non-ASCII space characters (U+200B is in B.1 too and removed first).
const NON_ASCII_SPACE = /[\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000]/gu

// RFC 3454 C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8, C.9.
const PROHIBITED = new RegExp(
  [
    "[\\u00a0\\u1680\\u2000-\\u200b\\u202f\\u205f\\u3000]", // C.1.2
    "[\\u0000-\\u001f\\u007f]", // C.2.1
    "[\\u0080-\\u009f\\u06dd\\u070f\\u180e\\u200c\\u200d\\u2028\\u2029\\u2060-\\u2063\\u206a-\\u206f\\ufeff\\ufff9-\\ufffc]",
    "[\\u{1d173}-\\u{1d17a}]", // C.2.2
    "[\\ue000-\\uf8ff\\u{f0000}-\\u{ffffd}\\u{100000}-\\u{10fffd}]", // C.3
    "[\\ufdd0-\\ufdef]|\\p{Noncharacter_Code_Point}", // C.4
    "\\p{Cs}", // C.5 (lone surrogates in a JavaScript string)
    "[\\ufff9-\\ufffd]", // C.6
    "[\\u2ff0-\\u2ffb]", // C.7
    "[\\u0340\\u0341\\u200e\\u200f\\u202a-\\u202e\\u206a-\\u206f]", // C.8
    "[\\u{e0001}\\u{e0020}-\\u{e007f}]" // C.9
  ].join("|"),
  "u"
)

/**
 * @internal
 * The prepared string, or `undefined` when it contains a prohibited character.
 */
export const saslPrep = (input: string): string | undefined => {
  // Fast path: printable ASCII maps, normalises and checks to itself.
  if (/^[\x20-\x7e]*$/.test(input)) return input
  const mapped = input.replace(MAPPED_TO_NOTHING, "").replace(NON_ASCII_SPACE, " ")
  const normalized = mapped.normalize("NFKC")
  return PROHIBITED.test(normalized) ? undefined : normalized
}
