/**
 * RFC 5322 §3.4 address lists for ENVELOPE (RFC 9051 §7.5.2): mailboxes with display names, angle
 * addresses with source routes, groups, comments; lenient about what real mail contains.
 *
 * Each address becomes `(name adl mailbox host)`. A group becomes a start marker
 * `(NIL NIL "group" NIL)`, its members, and an end marker `(NIL NIL NIL NIL)`. An address without
 * a domain gets the host `MISSING_DOMAIN`, one without a local part the mailbox `MISSING_MAILBOX`
 * (Dovecot's placeholders). Without a display name, the first comment stands in for it.
 *
 * @internal
 */
import type { Out } from "./out.ts"

export type Address =
  | {
    readonly _tag: "Mailbox"
    readonly name: string | undefined
    readonly adl: string | undefined
    readonly mailbox: string
    readonly host: string
  }
  | { readonly _tag: "GroupStart"; readonly name: string }
  | { readonly _tag: "GroupEnd" }

type Token =
  | { readonly _tag: "Word"; readonly text: string; readonly quoted: boolean }
  | { readonly _tag: "Comment"; readonly text: string }
  | { readonly _tag: "Special"; readonly char: string }

const SPECIALS = "<>@,;:"

const tokenize = (input: string): ReadonlyArray<Token> => {
  const tokens: Array<Token> = []
  let i = 0
  while (i < input.length) {
    const c = input[i]!
    if (c === " " || c === "\t" || c === "\r" || c === "\n") {
      i++
    } else if (c === "(") {
      let depth = 1
      let text = ""
      i++
      while (i < input.length && depth > 0) {
        const d = input[i]!
        if (d === "\\" && i + 1 < input.length) {
          text += input[i + 1]
          i += 2
          continue
        }
        if (d === "(") depth++
        if (d === ")") depth--
        if (depth > 0) text += d
        i++
      }
      tokens.push({ _tag: "Comment", text: text.trim() })
    } else if (c === "\"") {
      let text = ""
      i++
      while (i < input.length && input[i] !== "\"") {
        if (input[i] === "\\" && i + 1 < input.length) i++
        text += input[i]
        i++
      }
      i++
      tokens.push({ _tag: "Word", text, quoted: true })
    } else if (c === "[") {
      const close = input.indexOf("]", i)
      const stop = close === -1 ? input.length : close + 1
      tokens.push({ _tag: "Word", text: input.slice(i, stop), quoted: false })
      i = stop
    } else if (SPECIALS.includes(c)) {
      tokens.push({ _tag: "Special", char: c })
      i++
    } else {
      let j = i
      while (j < input.length && !" \t\r\n()\"[".includes(input[j]!) && !SPECIALS.includes(input[j]!)) j++
      tokens.push({ _tag: "Word", text: input.slice(i, j), quoted: false })
      i = j
    }
  }
  return tokens
}

const isSpecial = (token: Token | undefined, char: string): boolean => token?._tag === "Special" && token.char === char

const words = (tokens: ReadonlyArray<Token>): ReadonlyArray<string> =>
  tokens.flatMap((t) => (t._tag === "Word" ? [t.text] : []))

const mailbox = (tokens: ReadonlyArray<Token>): Address | undefined => {
  const open = tokens.findIndex((t) => isSpecial(t, "<"))
  const firstComment = tokens.find((t) => t._tag === "Comment")
  const commentName = firstComment?._tag === "Comment" && firstComment.text !== "" ? firstComment.text : undefined
  let name: string | undefined
  let spec: ReadonlyArray<Token>
  let adl: string | undefined
  if (open !== -1) {
    const phrase = words(tokens.slice(0, open))
    name = phrase.length > 0 ? phrase.join(" ") : commentName
    const closeAt = tokens.findIndex((t, i) => i > open && isSpecial(t, ">"))
    spec = tokens.slice(open + 1, closeAt === -1 ? tokens.length : closeAt)
    // obs-route: 1*("@" domain) ":" before the addr-spec
    const colon = spec.findIndex((t) => isSpecial(t, ":"))
    if (colon !== -1) {
      adl = spec.slice(0, colon).map((t) => (t._tag === "Word" ? t.text : t._tag === "Special" ? t.char : "")).join("")
      spec = spec.slice(colon + 1)
    }
  } else {
    name = commentName
    spec = tokens
  }
  const at = spec.findIndex((t) => isSpecial(t, "@"))
  const local = words(at === -1 ? spec : spec.slice(0, at)).join("")
  const domain = at === -1 ? "" : words(spec.slice(at + 1)).join("")
  if (local === "" && domain === "" && name === undefined) return undefined
  return {
    _tag: "Mailbox",
    name,
    adl: adl === "" ? undefined : adl,
    mailbox: local === "" ? "MISSING_MAILBOX" : local,
    host: domain === "" ? "MISSING_DOMAIN" : domain
  }
}

/** The addresses of a header value (`From`, `To` ...). */
export const parseList = (value: string): ReadonlyArray<Address> => {
  const tokens = tokenize(value)
  const out: Array<Address> = []
  let current: Array<Token> = []
  let angle = false
  let inGroup = false
  const flush = () => {
    const address = mailbox(current)
    if (address !== undefined) out.push(address)
    current = []
  }
  for (const token of tokens) {
    if (token._tag === "Special") {
      if (token.char === "<") angle = true
      if (token.char === ">") angle = false
      if (!angle && token.char === ",") {
        flush()
        continue
      }
      if (!angle && token.char === ":" && !inGroup) {
        out.push({ _tag: "GroupStart", name: words(current).join(" ") })
        current = []
        inGroup = true
        continue
      }
      if (!angle && token.char === ";" && inGroup) {
        flush()
        out.push({ _tag: "GroupEnd" })
        inGroup = false
        continue
      }
    }
    current.push(token)
  }
  flush()
  if (inGroup) out.push({ _tag: "GroupEnd" })
  return out
}

/** `NIL` for no address, else `(` 1*address `)` (RFC 9051 §9 env-from etc.: no space between). */
export const render = (out: Out, addresses: ReadonlyArray<Address>): void => {
  if (addresses.length === 0) {
    out.text("NIL")
    return
  }
  out.text("(")
  for (const address of addresses) {
    switch (address._tag) {
      case "Mailbox":
        out.text("(").nstring(address.name).text(" ").nstring(address.adl).text(" ")
        out.string(address.mailbox).text(" ").string(address.host).text(")")
        break
      case "GroupStart":
        out.text("(NIL NIL ").string(address.name).text(" NIL)")
        break
      case "GroupEnd":
        out.text("(NIL NIL NIL NIL)")
        break
    }
  }
  out.text(")")
}
