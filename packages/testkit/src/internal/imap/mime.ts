/**
 * The structure of a stored message for FETCH and SEARCH: header fields (RFC 5322 §2.2), MIME
 * entities (RFC 2045, RFC 2046 §5.1 multipart, §5.2.1 message/rfc822) as byte offsets into the
 * message (no copies), and the FETCH renderings built on them: ENVELOPE and BODY/BODYSTRUCTURE
 * (RFC 9051 §7.5.2) and body sections (RFC 9051 §6.4.5).
 *
 * Strings are binary (latin1) strings. Header values are unfolded and trimmed but not decoded
 * (no RFC 2047 / RFC 2231 decoding, as Dovecot returns them).
 *
 * @internal
 */
import * as Address from "./address.ts"
import { binary, bytesOf, type Out } from "./out.ts"

export interface Field {
  /** As written. */
  readonly name: string
  readonly lower: string
  /** The whole field with its folding and line end. */
  readonly raw: string
  /** Unfolded, trimmed. */
  readonly value: string
}

export interface ContentType {
  readonly type: string
  readonly subtype: string
  readonly params: ReadonlyArray<readonly [string, string]>
}

export interface Entity {
  /** Offset of the first header byte. */
  readonly start: number
  /** Offset just past the header (after the empty line). */
  readonly bodyStart: number
  readonly end: number
  readonly fields: ReadonlyArray<Field>
  readonly contentType: ContentType
  /** Parts of a multipart entity. */
  readonly children: ReadonlyArray<Entity>
  /** The encapsulated message of a message/rfc822 entity. */
  readonly message: Entity | undefined
}

const MAX_DEPTH = 32
const textPlain: ContentType = { type: "text", subtype: "plain", params: [["charset", "us-ascii"]] }
const messageRfc822: ContentType = { type: "message", subtype: "rfc822", params: [] }

const view = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)

/** Parses a whole message. */
export const parse = (bytes: Uint8Array): Entity => entity(view(bytes), 0, bytes.length, textPlain, 0)

/** Offset of the body: after the first empty line (CRLF CRLF, or a bare LF LF), or the end. */
const headerEnd = (buf: Buffer, start: number, end: number): { readonly header: number; readonly body: number } => {
  if (buf[start] === 0x0d && buf[start + 1] === 0x0a) return { header: start, body: Math.min(end, start + 2) }
  if (buf[start] === 0x0a) return { header: start, body: start + 1 }
  const crlf = buf.indexOf("\r\n\r\n", start, "latin1")
  const lf = buf.indexOf("\n\n", start, "latin1")
  const candidates: Array<{ header: number; body: number }> = []
  if (crlf !== -1 && crlf + 4 <= end) candidates.push({ header: crlf + 2, body: crlf + 4 })
  if (lf !== -1 && lf + 2 <= end) candidates.push({ header: lf + 1, body: lf + 2 })
  if (candidates.length === 0) return { header: end, body: end }
  return candidates.reduce((a, b) => (b.body < a.body ? b : a))
}

const entity = (buf: Buffer, start: number, end: number, fallback: ContentType, depth: number): Entity => {
  const { header, body } = headerEnd(buf, start, end)
  const fields = parseFields(buf.toString("latin1", start, header))
  const declared = fields.find((f) => f.lower === "content-type")
  const contentType = (declared === undefined ? undefined : parseContentType(declared.value)) ?? fallback
  const type = contentType.type.toLowerCase()
  const subtype = contentType.subtype.toLowerCase()
  let children: ReadonlyArray<Entity> = []
  let message: Entity | undefined
  if (type === "multipart" && depth < MAX_DEPTH) {
    const boundary = contentType.params.find(([k]) => k.toLowerCase() === "boundary")?.[1]
    const childFallback = subtype === "digest" ? messageRfc822 : textPlain
    const ranges = boundary === undefined || boundary === "" ? [] : splitMultipart(buf, body, end, boundary)
    children = ranges.map((r) => entity(buf, r.start, r.end, childFallback, depth + 1))
  } else if (type === "message" && subtype === "rfc822" && depth < MAX_DEPTH) {
    message = entity(buf, body, end, textPlain, depth + 1)
  }
  return { start, bodyStart: body, end, fields, contentType, children, message }
}

/** RFC 5322 §2.2: fields, with continuation lines (starting with WSP) folded into the previous one. */
export const parseFields = (text: string): ReadonlyArray<Field> => {
  const fields: Array<Field> = []
  const lines = text.split(/(?<=\n)/)
  let current: Array<string> = []
  const flush = () => {
    if (current.length === 0) return
    const raw = current.join("")
    current = []
    const colon = raw.indexOf(":")
    if (colon <= 0) return
    const name = raw.slice(0, colon).trimEnd()
    if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) return
    const value = raw.slice(colon + 1).replace(/\r?\n/g, "").trim()
    fields.push({ name, lower: name.toLowerCase(), raw: raw.endsWith("\n") ? raw : raw + "\r\n", value })
  }
  for (const line of lines) {
    if (line === "" || line === "\r\n" || line === "\n") continue
    if ((line[0] === " " || line[0] === "\t") && current.length > 0) current.push(line)
    else {
      flush()
      current.push(line)
    }
  }
  flush()
  return fields
}

/** The first field with this (lower-case) name. */
export const field = (entity: Entity, lower: string): Field | undefined => entity.fields.find((f) => f.lower === lower)

// RFC 2045 §5.1: type "/" subtype *(";" parameter); comments dropped, quoted values unquoted.
const TOKEN = /^[^\x00-\x20()<>@,;:\\"/[\]?=\x7f]+/

const stripComments = (value: string): string => {
  let out = ""
  let depth = 0
  let quoted = false
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!
    if (quoted) {
      out += c
      if (c === "\\" && i + 1 < value.length) out += value[++i]
      else if (c === "\"") quoted = false
    } else if (depth > 0) {
      if (c === "\\") i++
      else if (c === "(") depth++
      else if (c === ")") depth--
    } else if (c === "(") depth++
    else {
      if (c === "\"") quoted = true
      out += c
    }
  }
  return out
}

export const parseContentType = (value: string): ContentType | undefined => {
  let rest = stripComments(value).trim()
  const type = TOKEN.exec(rest)?.[0]
  if (type === undefined) return undefined
  rest = rest.slice(type.length).trimStart()
  if (rest[0] !== "/") return undefined
  rest = rest.slice(1).trimStart()
  const subtype = TOKEN.exec(rest)?.[0]
  if (subtype === undefined) return undefined
  rest = rest.slice(subtype.length)
  return { type, subtype, params: parseParams(rest) }
}

/** `*(";" attribute "=" value)`, lenient: a broken parameter ends the list. */
export const parseParams = (input: string): ReadonlyArray<readonly [string, string]> => {
  const params: Array<readonly [string, string]> = []
  let rest = input
  for (;;) {
    rest = rest.trimStart()
    if (rest[0] !== ";") break
    rest = rest.slice(1).trimStart()
    if (rest === "") break
    const attribute = TOKEN.exec(rest)?.[0]
    if (attribute === undefined) break
    rest = rest.slice(attribute.length).trimStart()
    if (rest[0] !== "=") break
    rest = rest.slice(1).trimStart()
    if (rest[0] === "\"") {
      let value = ""
      let i = 1
      while (i < rest.length && rest[i] !== "\"") {
        if (rest[i] === "\\" && i + 1 < rest.length) i++
        value += rest[i]
        i++
      }
      params.push([attribute, value])
      rest = rest.slice(i + 1)
    } else {
      const value = /^[^;\s]*/.exec(rest)![0]
      params.push([attribute, value])
      rest = rest.slice(value.length)
    }
  }
  return params
}

/**
 * RFC 2046 §5.1.1: the body parts between `--boundary` lines; the CRLF before a delimiter belongs
 * to it; preamble and epilogue are dropped; an unterminated last part runs to the end.
 */
const splitMultipart = (
  buf: Buffer,
  start: number,
  end: number,
  boundary: string
): ReadonlyArray<{ readonly start: number; readonly end: number }> => {
  const delimiter = Buffer.from(`--${boundary}`, "latin1")
  const parts: Array<{ start: number; end: number }> = []
  let partStart = -1
  let pos = start
  while (pos < end) {
    const at = buf.indexOf(delimiter, pos)
    if (at === -1 || at + delimiter.length > end) break
    if (at !== start && buf[at - 1] !== 0x0a) {
      pos = at + 1
      continue
    }
    let after = at + delimiter.length
    const close = after + 1 < end && buf[after] === 0x2d && buf[after + 1] === 0x2d
    if (close) after += 2
    while (after < end && (buf[after] === 0x20 || buf[after] === 0x09)) after++
    if (after < end && buf[after] !== 0x0d && buf[after] !== 0x0a) {
      pos = at + 1
      continue
    }
    let next = after
    if (next < end && buf[next] === 0x0d) next++
    if (next < end && buf[next] === 0x0a) next++
    if (partStart !== -1) {
      let partEnd = at
      if (partEnd > partStart && buf[partEnd - 1] === 0x0a) partEnd--
      if (partEnd > partStart && buf[partEnd - 1] === 0x0d) partEnd--
      parts.push({ start: partStart, end: partEnd })
    }
    if (close) return parts
    partStart = next
    pos = next
  }
  if (partStart !== -1) parts.push({ start: partStart, end: Math.max(partStart, end) })
  return parts
}

const countLines = (buf: Uint8Array, start: number, end: number): number => {
  if (end <= start) return 0
  let lines = 0
  let at = start
  const b = view(buf)
  for (;;) {
    const lf = b.indexOf(0x0a, at)
    if (lf === -1 || lf >= end) break
    lines++
    at = lf + 1
  }
  return buf[end - 1] === 0x0a ? lines : lines + 1
}

// --- ENVELOPE (RFC 9051 §7.5.2) ---

/** `(date subject from sender reply-to to cc bcc in-reply-to message-id)` */
export const envelope = (out: Out, message: Entity): void => {
  const value = (name: string) => field(message, name)?.value
  const addresses = (name: string) => {
    const found = field(message, name)
    return found === undefined ? [] : Address.parseList(found.value)
  }
  const from = addresses("from")
  const sender = addresses("sender")
  const replyTo = addresses("reply-to")
  const nonEmpty = (v: string | undefined) => (v === undefined || v === "" ? undefined : v)
  out.text("(")
  out.nstring(nonEmpty(value("date")))
  out.text(" ")
  out.nstring(nonEmpty(value("subject")))
  out.text(" ")
  Address.render(out, from)
  out.text(" ")
  // RFC 9051 §7.5.2: an absent or empty Sender / Reply-To takes the value of From.
  Address.render(out, sender.length > 0 ? sender : from)
  out.text(" ")
  Address.render(out, replyTo.length > 0 ? replyTo : from)
  for (const name of ["to", "cc", "bcc"]) {
    out.text(" ")
    Address.render(out, addresses(name))
  }
  out.text(" ")
  out.nstring(nonEmpty(value("in-reply-to")))
  out.text(" ")
  out.nstring(nonEmpty(value("message-id")))
  out.text(")")
}

// --- BODY / BODYSTRUCTURE (RFC 9051 §7.5.2, §9 body) ---

const params = (out: Out, list: ReadonlyArray<readonly [string, string]>): void => {
  if (list.length === 0) {
    out.text("NIL")
    return
  }
  out.text("(")
  list.forEach(([k, v], i) => {
    if (i > 0) out.text(" ")
    out.string(k).text(" ").string(v)
  })
  out.text(")")
}

const disposition = (out: Out, entity: Entity): void => {
  const found = field(entity, "content-disposition")
  const kind = found === undefined ? undefined : TOKEN.exec(stripComments(found.value).trim())?.[0]
  if (found === undefined || kind === undefined) {
    out.text("NIL")
    return
  }
  out.text("(").string(kind).text(" ")
  params(out, parseParams(stripComments(found.value).trim().slice(kind.length)))
  out.text(")")
}

const language = (out: Out, entity: Entity): void => {
  const found = field(entity, "content-language")
  const tags = found === undefined ? [] : stripComments(found.value).split(",").map((s) => s.trim()).filter((s) => s !== "")
  if (tags.length === 0) out.text("NIL")
  else if (tags.length === 1) out.string(tags[0]!)
  else {
    out.text("(")
    tags.forEach((t, i) => {
      if (i > 0) out.text(" ")
      out.string(t)
    })
    out.text(")")
  }
}

/** BODY (`extended` false) or BODYSTRUCTURE (`extended` true) of an entity. */
export const bodyStructure = (out: Out, bytes: Uint8Array, entity: Entity, extended: boolean): void => {
  const type = entity.contentType.type.toLowerCase()
  const subtype = entity.contentType.subtype.toLowerCase()
  if (type === "multipart") {
    out.text("(")
    if (entity.children.length === 0) {
      // body-type-mpart needs one part at least: an empty text/plain stands in (as Dovecot does).
      out.text(extended ? `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)` : `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0)`)
    }
    for (const child of entity.children) bodyStructure(out, bytes, child, extended)
    out.text(" ").string(entity.contentType.subtype)
    if (extended) {
      out.text(" ")
      params(out, entity.contentType.params)
      out.text(" ")
      disposition(out, entity)
      out.text(" ")
      language(out, entity)
      out.text(" ")
      out.nstring(field(entity, "content-location")?.value)
    }
    out.text(")")
    return
  }
  const size = entity.end - entity.bodyStart
  out.text("(").string(entity.contentType.type).text(" ").string(entity.contentType.subtype).text(" ")
  params(out, entity.contentType.params)
  out.text(" ").nstring(field(entity, "content-id")?.value)
  out.text(" ").nstring(field(entity, "content-description")?.value)
  const encoding = field(entity, "content-transfer-encoding")?.value
  out.text(" ").string(encoding === undefined || encoding === "" ? "7bit" : encoding)
  out.text(` ${size}`)
  if (type === "message" && subtype === "rfc822" && entity.message !== undefined) {
    out.text(" ")
    envelope(out, entity.message)
    out.text(" ")
    bodyStructure(out, bytes, entity.message, extended)
    out.text(` ${countLines(bytes, entity.bodyStart, entity.end)}`)
  } else if (type === "text") {
    out.text(` ${countLines(bytes, entity.bodyStart, entity.end)}`)
  }
  if (extended) {
    out.text(" ").nstring(field(entity, "content-md5")?.value)
    out.text(" ")
    disposition(out, entity)
    out.text(" ")
    language(out, entity)
    out.text(" ").nstring(field(entity, "content-location")?.value)
  }
  out.text(")")
}

// --- Body sections (RFC 9051 §6.4.5) ---

export type SectionText =
  | { readonly _tag: "Whole" }
  | { readonly _tag: "Header" }
  | { readonly _tag: "Text" }
  | { readonly _tag: "Mime" }
  | { readonly _tag: "Fields"; readonly names: ReadonlyArray<string>; readonly not: boolean }

export interface Section {
  readonly part: ReadonlyArray<number>
  readonly text: SectionText
}

/** The entity a part path names (RFC 9051 §6.4.5: part 1 of a non-multipart entity is its body). */
const resolve = (root: Entity, path: ReadonlyArray<number>): Entity | undefined => {
  let current: Entity | undefined
  for (const n of path) {
    const container: Entity = current === undefined ? root : current.message ?? current
    if (container.contentType.type.toLowerCase() === "multipart") {
      current = container.children[n - 1]
    } else if (n === 1) {
      current = container
    } else {
      return undefined
    }
    if (current === undefined) return undefined
  }
  return current
}

/**
 * The bytes of a section: a view into the message, or new bytes for HEADER.FIELDS. `undefined`
 * when the part does not exist (the response then carries NIL).
 */
export const sectionBytes = (bytes: Uint8Array, root: Entity, section: Section): Uint8Array | undefined => {
  if (section.part.length === 0) return messageSection(bytes, root, section.text)
  const part = resolve(root, section.part)
  if (part === undefined) return undefined
  switch (section.text._tag) {
    case "Whole":
      // A path ending in a non-multipart entity that is the root's body (part 1 of a single-part message).
      return bytes.subarray(part.bodyStart, part.end)
    case "Mime":
      return bytes.subarray(part.start, part.bodyStart)
    case "Header":
    case "Text":
    case "Fields":
      return part.message === undefined ? new Uint8Array(0) : messageSection(bytes, part.message, section.text)
  }
}

const messageSection = (bytes: Uint8Array, message: Entity, text: SectionText): Uint8Array => {
  switch (text._tag) {
    case "Whole":
    case "Mime":
      return bytes.subarray(message.start, message.end)
    case "Header":
      return bytes.subarray(message.start, message.bodyStart)
    case "Text":
      return bytes.subarray(message.bodyStart, message.end)
    case "Fields": {
      const wanted = new Set(text.names.map((n) => n.toLowerCase()))
      const chosen = message.fields.filter((f) => wanted.has(f.lower) !== text.not)
      return bytesOf(chosen.map((f) => f.raw).join("") + "\r\n")
    }
  }
}

/** The header of a message as text (SEARCH HEADER / TEXT). */
export const headerText = (bytes: Uint8Array, message: Entity): string =>
  binary(bytes.subarray(message.start, message.bodyStart))
