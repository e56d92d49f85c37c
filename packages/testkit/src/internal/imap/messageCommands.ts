/**
 * IMAP commands of the selected state (RFC 9051 §6.4): FETCH, STORE (with UNCHANGEDSINCE, RFC 7162
 * §3.1.3), SEARCH (with ESEARCH, RFC 4731), COPY, MOVE (RFC 6851), EXPUNGE, UID EXPUNGE (RFC 4315),
 * CLOSE, UNSELECT (RFC 3691), CHECK, and their UID forms.
 *
 * @internal
 */
import * as Fetch from "./fetch.ts"
import type { Out } from "./out.ts"
import type { Token } from "./reader.ts"
import * as Search from "./search.ts"
import * as Sequence from "./sequence.ts"
import * as State from "./state.ts"
import { bad, type Completion, no, ok } from "./state.ts"
import * as Store from "./store.ts"
import { checkFlag, type Context, printable } from "./mailboxCommands.ts"

export type Handler = (
  session: State.Session,
  out: Out,
  args: ReadonlyArray<Token>,
  context: Context & { readonly uid: boolean }
) => Completion

const selection = (session: State.Session): State.Selection => session.selected!

/** Indexes into the view named by a set; expunged messages are left out of UID sets. */
const targets = (session: State.Session, token: Token | undefined, uid: boolean): ReadonlyArray<number> | Completion => {
  const ranges = token?._tag === "Atom" ? Sequence.parse(token.value) : undefined
  if (ranges === undefined) return bad("Invalid messageset")
  const view = selection(session).view
  if (uid) {
    return Sequence.resolveUids(ranges, view.map((m) => m.uid)).filter((i) => !view[i]!.expunged)
  }
  return Sequence.resolveSequence(ranges, view.length) ?? bad("Invalid messageset")
}

const isCompletion = (value: ReadonlyArray<number> | Completion): value is Completion => !Array.isArray(value)

// --- FETCH ---

export const fetch: Handler = (session, out, args, context) => {
  const indexes = targets(session, args[0], context.uid)
  if (isCompletion(indexes)) return indexes
  const parsed = Fetch.parse(args.slice(1))
  if (parsed._tag === "Error") return bad(parsed.text)
  const request = parsed.request
  const sel = selection(session)
  if (request.changedSince !== undefined || request.items.some((i) => i._tag === "ModSeq")) {
    if (!State.has(session, "CONDSTORE")) return bad("CONDSTORE not supported.")
    session.condstore = true
  }
  if (request.vanished) {
    if (!context.uid || !State.qresync(session)) return bad("VANISHED needs UID FETCH and QRESYNC.")
    const ranges = Sequence.parse(stringAtom(args[0]))!
    const star = sel.mailbox.uidNext - 1
    const vanished = sel.mailbox.vanished
      .filter((v) => v.modseq > request.changedSince! && Sequence.contains(ranges, v.uid, star))
      .map((v) => v.uid)
      .sort((a, b) => a - b)
    if (vanished.length > 0) out.text(`* VANISHED (EARLIER) ${Sequence.format(vanished)}\r\n`)
  }
  const seen = Fetch.setsSeen(request) && !sel.readOnly
  for (const index of indexes) {
    const message = sel.view[index]!
    if (request.changedSince !== undefined && message.modseq <= request.changedSince) continue
    let flagsChanged = false
    if (seen && !message.expunged && !message.flags.has("\\Seen")) {
      flagsChanged = Store.setFlags(sel.mailbox, message, new Set([...message.flags, "\\Seen"]))
    }
    Fetch.render(out, session, sel, index + 1, message, request, { uid: context.uid, flagsChanged })
    if (flagsChanged) State.reported(sel, message)
  }
  return ok("Fetch completed.")
}

const stringAtom = (token: Token | undefined): string => (token?._tag === "Atom" ? token.value : "")

// --- STORE ---

export const store: Handler = (session, out, args, context) => {
  const indexes = targets(session, args[0], context.uid)
  if (isCompletion(indexes)) return indexes
  const sel = selection(session)
  let i = 1
  let unchangedSince: number | undefined
  const modifier = args[1]
  if (modifier?._tag === "List") {
    const [name, value] = modifier.items.map(Search.stringOf)
    if (name?.toUpperCase() !== "UNCHANGEDSINCE" || !/^\d{1,19}$/.test(value ?? "") || modifier.items.length !== 2) {
      return bad("Invalid STORE modifier.")
    }
    if (!State.has(session, "CONDSTORE")) return bad("CONDSTORE not supported.")
    session.condstore = true
    unchangedSince = Number(value)
    i = 2
  }
  const item = /^([+-]?)FLAGS(\.SILENT)?$/i.exec(stringAtom(args[i]))
  if (item === null) return bad("Invalid STORE data item.")
  const values = args.slice(i + 1)
  const only = values.length === 1 ? values[0] : undefined
  const tokens = only?._tag === "List" ? only.items : values
  const flags: Array<string> = []
  for (const token of tokens) {
    if (token._tag !== "Atom") return bad("Invalid flag.")
    const flag = checkFlag(token.value)
    if (flag === undefined) return bad(`Invalid system flag ${printable(token.value)}.`)
    if (flag !== "\\Recent") flags.push(flag)
  }
  if (sel.readOnly) return no("Mailbox is read-only.")
  const mode = item[1]
  const silent = item[2] !== undefined
  const modified: Array<number> = []
  for (const index of indexes) {
    const message = sel.view[index]!
    if (message.expunged) continue
    if (unchangedSince !== undefined && message.modseq > unchangedSince) {
      modified.push(context.uid ? message.uid : index + 1)
      continue
    }
    const next = new Set(mode === "" ? [] : message.flags)
    for (const flag of flags) {
      if (mode === "-") {
        for (const existing of next) if (existing.toLowerCase() === flag.toLowerCase()) next.delete(existing)
      } else {
        next.add(flag)
      }
    }
    Store.setFlags(sel.mailbox, message, next)
    State.reported(sel, message)
    if (silent && unchangedSince === undefined) continue
    out.text(`* ${index + 1} FETCH (`)
    if (context.uid || State.qresync(session)) out.text(`UID ${message.uid} `)
    out.text(`FLAGS ${State.flagList(sel, message)}`)
    if (session.condstore) out.text(` MODSEQ (${message.modseq})`)
    out.text(")\r\n")
  }
  if (modified.length > 0) return ok(`[MODIFIED ${Sequence.format(modified)}] Conditional STORE failed.`)
  return ok("Store completed.")
}

// --- SEARCH ---

export const search: Handler = (session, out, args, context) => {
  const parsed = Search.parse(args, State.has(session, "ESEARCH"))
  if (parsed._tag === "Error") return parsed.status === "BAD" ? bad(parsed.text) : no(parsed.text)
  const { key, returns, modseq } = parsed.query
  if (modseq) {
    if (!State.has(session, "CONDSTORE")) return bad("CONDSTORE not supported.")
    session.condstore = true
  }
  const sel = selection(session)
  const searchContext: Search.Context = { view: sel.view, recent: sel.recent }
  const found: Array<Store.Message> = []
  const numbers: Array<number> = []
  sel.view.forEach((message, index) => {
    if (message.expunged || !Search.matches(key, searchContext, index)) return
    found.push(message)
    numbers.push(context.uid ? message.uid : index + 1)
  })
  const highest = found.reduce((m, message) => Math.max(m, message.modseq), 0)
  if (returns === undefined) {
    out.text(`* SEARCH${numbers.map((n) => ` ${n}`).join("")}`)
    if (modseq && numbers.length > 0) out.text(` (MODSEQ ${highest})`)
    out.text("\r\n")
    return ok("Search completed.")
  }
  // RFC 4731 §3.1
  out.text(`* ESEARCH (TAG "${context.tag}")${context.uid ? " UID" : ""}`)
  for (const option of ["MIN", "MAX", "COUNT", "ALL"] as const) {
    if (!returns.includes(option)) continue
    if (option === "COUNT") out.text(` COUNT ${numbers.length}`)
    else if (numbers.length === 0) continue
    else if (option === "MIN") out.text(` MIN ${numbers[0]}`)
    else if (option === "MAX") out.text(` MAX ${numbers[numbers.length - 1]}`)
    else out.text(` ALL ${Sequence.format(numbers)}`)
  }
  if (modseq && numbers.length > 0) out.text(` MODSEQ ${highest}`)
  out.text("\r\n")
  return ok("Search completed.")
}

// --- COPY / MOVE ---

const copyTo = (session: State.Session, args: ReadonlyArray<Token>, uid: boolean) => {
  const indexes = targets(session, args[0], uid)
  if (isCompletion(indexes)) return indexes
  const name = Search.stringOf(args[1])
  if (name === undefined || args.length !== 2) return bad("Invalid arguments.")
  const target = Store.mailbox(session.account!, name)
  if (target === undefined) return no(`[TRYCREATE] Mailbox doesn't exist: ${printable(name)}`)
  const sel = selection(session)
  const sources = indexes.map((i) => sel.view[i]!).filter((m) => !m.expunged)
  const holder = State.recentHolder(session, target)
  const copies = sources.map((m) => Store.append(target, m.bytes, m.flags, m.internalDate, holder).uid)
  const code = State.has(session, "UIDPLUS") && sources.length > 0
    ? `[COPYUID ${target.uidValidity} ${Sequence.format(sources.map((m) => m.uid))} ${Sequence.format(copies)}] `
    : ""
  return { sources, code }
}

export const copy: Handler = (session, _out, args, context) => {
  const result = copyTo(session, args, context.uid)
  if ("status" in result) return result
  return ok(result.sources.length === 0 ? "No messages found." : `${result.code}Copy completed.`)
}

export const move: Handler = (session, out, args, context) => {
  if (selection(session).readOnly) return no("Mailbox is read-only.")
  const result = copyTo(session, args, context.uid)
  if ("status" in result) return result
  if (result.sources.length === 0) return ok("No messages found.")
  // RFC 6851 §4.3: COPYUID goes in an untagged OK before the EXPUNGEs.
  if (result.code !== "") out.text(`* OK ${result.code}Moved UIDs.\r\n`)
  Store.expunge(selection(session).mailbox, result.sources)
  return ok("Move completed.")
}

// --- EXPUNGE / CLOSE / UNSELECT / CHECK ---

export const expunge: Handler = (session, _out, args, context) => {
  const sel = selection(session)
  let candidates = sel.mailbox.messages
  if (context.uid) {
    const ranges = args[0]?._tag === "Atom" && args.length === 1 ? Sequence.parse(args[0].value) : undefined
    if (ranges === undefined) return bad("Invalid UID set.")
    const star = sel.mailbox.uidNext - 1
    candidates = candidates.filter((m) => Sequence.contains(ranges, m.uid, star))
  } else if (args.length > 0) {
    return bad("Unexpected arguments.")
  }
  if (sel.readOnly) return no("Mailbox is read-only.")
  Store.expunge(sel.mailbox, candidates.filter((m) => m.flags.has("\\Deleted")))
  return ok("Expunge completed.")
}

export const close: Handler = (session, _out, args) => {
  if (args.length > 0) return bad("Unexpected arguments.")
  const sel = selection(session)
  if (!sel.readOnly) Store.expunge(sel.mailbox, sel.mailbox.messages.filter((m) => m.flags.has("\\Deleted")))
  State.deselect(session)
  return ok("Close completed.")
}

export const unselect: Handler = (session, _out, args) => {
  if (args.length > 0) return bad("Unexpected arguments.")
  State.deselect(session)
  return ok("Unselect completed.")
}

export const check: Handler = () => ok("Check completed.")
