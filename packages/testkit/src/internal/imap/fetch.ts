/**
 * FETCH data items (RFC 9051 §6.4.5, RFC 3501 §6.4.5 RFC822.* forms, RFC 7162 MODSEQ / CHANGEDSINCE):
 * parsing the request and rendering `* n FETCH (...)`. Body sections are views into the stored
 * message (only HEADER.FIELDS builds new bytes), written as literals.
 *
 * @internal
 */
import * as Dates from "./dates.ts"
import * as Mime from "./mime.ts"
import type { Out } from "./out.ts"
import type { Token } from "./reader.ts"
import { stringOf } from "./search.ts"
import * as State from "./state.ts"
import * as Store from "./store.ts"

export type Item =
  | { readonly _tag: "Uid" }
  | { readonly _tag: "Flags" }
  | { readonly _tag: "InternalDate" }
  | { readonly _tag: "Size" }
  | { readonly _tag: "Envelope" }
  | { readonly _tag: "Body" }
  | { readonly _tag: "BodyStructure" }
  | { readonly _tag: "ModSeq" }
  | {
    readonly _tag: "Section"
    readonly peek: boolean
    readonly section: Mime.Section
    /** The name in the response, without the origin (`BODY[HEADER]`, `RFC822.TEXT` ...). */
    readonly label: string
    readonly partial: { readonly offset: number; readonly length: number } | undefined
  }

export interface Request {
  readonly items: ReadonlyArray<Item>
  readonly changedSince: number | undefined
  readonly vanished: boolean
}

export type Parsed =
  | { readonly _tag: "Request"; readonly request: Request }
  | { readonly _tag: "Error"; readonly text: string }

const SIMPLE: Record<string, Item> = {
  UID: { _tag: "Uid" },
  FLAGS: { _tag: "Flags" },
  INTERNALDATE: { _tag: "InternalDate" },
  "RFC822.SIZE": { _tag: "Size" },
  ENVELOPE: { _tag: "Envelope" },
  BODY: { _tag: "Body" },
  BODYSTRUCTURE: { _tag: "BodyStructure" },
  MODSEQ: { _tag: "ModSeq" }
}

const section = (peek: boolean, label: string, text: Mime.SectionText): Item => ({
  _tag: "Section",
  peek,
  section: { part: [], text },
  label,
  partial: undefined
})

const LEGACY: Record<string, Item> = {
  RFC822: section(false, "RFC822", { _tag: "Whole" }),
  "RFC822.HEADER": section(true, "RFC822.HEADER", { _tag: "Header" }),
  "RFC822.TEXT": section(false, "RFC822.TEXT", { _tag: "Text" })
}

const MACROS: Record<string, ReadonlyArray<string>> = {
  ALL: ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"],
  FAST: ["FLAGS", "INTERNALDATE", "RFC822.SIZE"],
  FULL: ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"]
}

const SECTION_ITEM = /^(BODY|BODY\.PEEK)\[([^\]]*)\](?:<(\d{1,10})\.(\d{1,10})>)?$/i

/** `1.2.HEADER.FIELDS (A B)` and the other section-spec forms. */
const parseSection = (spec: string): { readonly section: Mime.Section; readonly label: string } | undefined => {
  const part: Array<number> = []
  let rest = spec
  for (;;) {
    const m = /^([1-9]\d{0,8})(\.|$)/.exec(rest)
    if (m === null) break
    part.push(Number(m[1]))
    rest = rest.slice(m[0].length)
    if (m[2] === "") break
  }
  const prefix = part.length === 0 ? "" : part.join(".") + (rest === "" ? "" : ".")
  const upper = rest.toUpperCase()
  if (upper === "") return { section: { part, text: { _tag: "Whole" } }, label: `BODY[${part.join(".")}]` }
  if (upper === "HEADER" || upper === "TEXT") {
    return { section: { part, text: { _tag: upper === "HEADER" ? "Header" : "Text" } }, label: `BODY[${prefix}${upper}]` }
  }
  if (upper === "MIME") {
    return part.length === 0 ? undefined : { section: { part, text: { _tag: "Mime" } }, label: `BODY[${prefix}MIME]` }
  }
  const fields = /^HEADER\.FIELDS(\.NOT)? \((.+)\)$/i.exec(rest)
  if (fields === null) return undefined
  const names: Array<string> = []
  for (const match of fields[2]!.matchAll(/"((?:[^"\\]|\\.)*)"|([^\s"()]+)|(\S)/g)) {
    if (match[3] !== undefined) return undefined
    names.push(match[1] === undefined ? match[2]! : match[1].replace(/\\(.)/g, "$1"))
  }
  if (names.length === 0) return undefined
  const not = fields[1] !== undefined
  const keyword = not ? "HEADER.FIELDS.NOT" : "HEADER.FIELDS"
  const shown = names.map((n) => (/^[\x21-\x7e]+$/.test(n) && !/[()"\\{%*\]]/.test(n) ? n : `"${n.replace(/[\\"]/g, "\\$&")}"`))
  return { section: { part, text: { _tag: "Fields", names, not } }, label: `BODY[${prefix}${keyword} (${shown.join(" ")})]` }
}

const item = (raw: string): Item | undefined => {
  const upper = raw.toUpperCase()
  const simple = SIMPLE[upper] ?? LEGACY[upper]
  if (simple !== undefined) return simple
  const m = SECTION_ITEM.exec(raw)
  if (m === null) return undefined
  const parsed = parseSection(m[2]!)
  if (parsed === undefined) return undefined
  const length = m[4] === undefined ? undefined : Number(m[4])
  if (length === 0) return undefined
  return {
    _tag: "Section",
    peek: m[1]!.toUpperCase() === "BODY.PEEK",
    section: parsed.section,
    label: parsed.label,
    partial: m[3] === undefined || length === undefined ? undefined : { offset: Number(m[3]), length }
  }
}

/** `fetch-att` / `"(" fetch-att *(SP fetch-att) ")"` / a macro, then optional modifiers. */
export const parse = (args: ReadonlyArray<Token>): Parsed => {
  const what = args[0]
  if (what === undefined) return { _tag: "Error", text: "Missing fetch items." }
  const names: Array<string> = []
  if (what._tag === "List") {
    for (const token of what.items) {
      if (token._tag !== "Atom") return { _tag: "Error", text: "Invalid fetch item." }
      names.push(token.value)
    }
    if (names.length === 0) return { _tag: "Error", text: "Empty fetch item list." }
  } else if (what._tag === "Atom") {
    names.push(...(MACROS[what.value.toUpperCase()] ?? [what.value]))
  } else {
    return { _tag: "Error", text: "Invalid fetch item." }
  }
  const items: Array<Item> = []
  for (const name of names) {
    const parsed = item(name)
    if (parsed === undefined) return { _tag: "Error", text: `Invalid fetch item ${name}.` }
    items.push(parsed)
  }
  let changedSince: number | undefined
  let vanished = false
  const modifiers = args[1]
  if (modifiers !== undefined) {
    if (modifiers._tag !== "List" || args.length > 2) return { _tag: "Error", text: "Invalid fetch modifiers." }
    for (let i = 0; i < modifiers.items.length; i++) {
      const name = stringOf(modifiers.items[i])?.toUpperCase()
      if (name === "CHANGEDSINCE") {
        const value = stringOf(modifiers.items[++i]) ?? ""
        if (!/^\d{1,19}$/.test(value)) return { _tag: "Error", text: "Invalid CHANGEDSINCE." }
        changedSince = Number(value)
      } else if (name === "VANISHED") {
        vanished = true
      } else {
        return { _tag: "Error", text: `Unknown fetch modifier ${name ?? ""}.` }
      }
    }
    if (vanished && changedSince === undefined) return { _tag: "Error", text: "VANISHED needs CHANGEDSINCE." }
  }
  return { _tag: "Request", request: { items, changedSince, vanished } }
}

/** Whether fetching these items may set \Seen (a non-PEEK body section). */
export const setsSeen = (request: Request): boolean => request.items.some((i) => i._tag === "Section" && !i.peek)

/** Whether the request needs the MIME structure. */
const needsStructure = (request: Request): boolean =>
  request.items.some((i) => i._tag === "Envelope" || i._tag === "Body" || i._tag === "BodyStructure" || (i._tag === "Section" && (i.section.part.length > 0 || i.section.text._tag !== "Whole")))

/**
 * One `* n FETCH (...)` response. `flagsChanged`: \Seen was just set implicitly, so FLAGS is
 * added if not requested (RFC 9051 §6.4.5).
 */
export const render = (
  out: Out,
  session: State.Session,
  selection: State.Selection,
  seq: number,
  message: Store.Message,
  request: Request,
  options: { readonly uid: boolean; readonly flagsChanged: boolean }
): void => {
  const root = needsStructure(request) ? Store.structure(message) : undefined
  const requested = new Set(request.items.map((i) => i._tag))
  const parts: Array<() => void> = []
  if (options.uid && !requested.has("Uid")) parts.push(() => out.text(`UID ${message.uid}`))
  for (const entry of request.items) {
    switch (entry._tag) {
      case "Uid":
        parts.push(() => out.text(`UID ${message.uid}`))
        break
      case "Flags":
        parts.push(() => out.text(`FLAGS ${State.flagList(selection, message)}`))
        break
      case "InternalDate":
        parts.push(() => out.text(`INTERNALDATE "${Dates.format(message.internalDate)}"`))
        break
      case "Size":
        parts.push(() => out.text(`RFC822.SIZE ${message.bytes.length}`))
        break
      case "Envelope":
        parts.push(() => {
          out.text("ENVELOPE ")
          Mime.envelope(out, root!)
        })
        break
      case "Body":
      case "BodyStructure":
        parts.push(() => {
          out.text(entry._tag === "Body" ? "BODY " : "BODYSTRUCTURE ")
          Mime.bodyStructure(out, message.bytes, root!, entry._tag === "BodyStructure")
        })
        break
      case "ModSeq":
        parts.push(() => out.text(`MODSEQ (${message.modseq})`))
        break
      case "Section":
        parts.push(() => {
          const whole = entry.section.part.length === 0 && entry.section.text._tag === "Whole"
          const bytes = whole ? message.bytes : Mime.sectionBytes(message.bytes, root!, entry.section)
          const origin = entry.partial === undefined ? "" : `<${entry.partial.offset}>`
          out.text(`${entry.label}${origin} `)
          if (bytes === undefined) {
            out.text("NIL")
            return
          }
          const shown = entry.partial === undefined
            ? bytes
            : bytes.subarray(Math.min(entry.partial.offset, bytes.length), Math.min(entry.partial.offset + entry.partial.length, bytes.length))
          out.literal(shown, true)
        })
        break
    }
  }
  if (options.flagsChanged && !requested.has("Flags")) {
    parts.push(() => out.text(`FLAGS ${State.flagList(selection, message)}`))
  }
  const modseqShown = requested.has("ModSeq")
  if (!modseqShown && (request.changedSince !== undefined || (options.flagsChanged && session.condstore))) {
    parts.push(() => out.text(`MODSEQ (${message.modseq})`))
  }
  out.text(`* ${seq} FETCH (`)
  parts.forEach((part, i) => {
    if (i > 0) out.text(" ")
    part()
  })
  out.text(")\r\n")
}
