/**
 * IMAP commands of the authenticated state (RFC 9051 §6.3): SELECT / EXAMINE (with CONDSTORE and
 * QRESYNC parameters, RFC 7162), CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST (with
 * LIST-EXTENDED selection and return options, RFC 5258, SPECIAL-USE RFC 6154, LIST-STATUS RFC 5819),
 * LSUB, STATUS, APPEND (with MULTIAPPEND RFC 3502, UIDPLUS RFC 4315), NAMESPACE, ENABLE, ID.
 *
 * Each handler writes its untagged responses to `out` and returns the tagged completion.
 *
 * @internal
 */
import * as Dates from "./dates.ts"
import type { Out } from "./out.ts"
import { canQuote, isAstringAtom, quote } from "./out.ts"
import type { Token } from "./reader.ts"
import { stringOf } from "./search.ts"
import * as Sequence from "./sequence.ts"
import * as State from "./state.ts"
import { bad, type Completion, no, ok } from "./state.ts"
import * as Store from "./store.ts"

export interface Context {
  readonly tag: string
  /** Milliseconds since the epoch (the effect Clock), for APPEND without a date. */
  readonly now: number
}

export type Handler = (session: State.Session, out: Out, args: ReadonlyArray<Token>, context: Context) => Completion

/** A mailbox name on the wire: an atom, a quoted string (8-bit only under UTF8=ACCEPT) or a literal. */
export const mailboxName = (out: Out, session: State.Session, name: string): void => {
  if (name === "INBOX" || isAstringAtom(name)) out.text(name)
  else if (canQuote(name) || (State.utf8(session) && !/[\x00-\x1f\x7f]/.test(name) && name.length <= 4096)) out.text(quote(name))
  else out.string(name)
}

const nameArg = (token: Token | undefined): string | undefined => {
  const value = stringOf(token)
  return value === undefined ? undefined : Store.canonical(value)
}

const account = (session: State.Session): Store.Account => session.account!

const missing = (name: string): Completion => no(`Mailbox doesn't exist: ${printable(name)}`)

/** Client text echoed in a response: printable ASCII only. */
export const printable = (text: string): string => text.replace(/[^\x20-\x7e]/g, "?").slice(0, 200)

// --- SELECT / EXAMINE ---

export const select = (readOnly: boolean): Handler => (session, out, args) => {
  const name = nameArg(args[0])
  if (name === undefined) return bad("Missing mailbox name.")
  let condstore = false
  let qresync: { readonly uidValidity: number; readonly modseq: number; readonly known: ReadonlyArray<Sequence.Range> | undefined } | undefined
  const params = args[1]
  if (params !== undefined) {
    if (params._tag !== "List" || args.length > 2) return bad("Invalid SELECT parameters.")
    for (let i = 0; i < params.items.length; i++) {
      const param = stringOf(params.items[i])?.toUpperCase()
      if (param === "CONDSTORE" && State.has(session, "CONDSTORE")) {
        condstore = true
      } else if (param === "QRESYNC" && State.qresync(session)) {
        const spec = params.items[++i]
        if (spec?._tag !== "List") return bad("Invalid QRESYNC parameter.")
        const [validity, modseq, known] = spec.items.map(stringOf)
        if (!/^\d+$/.test(validity ?? "") || !/^\d+$/.test(modseq ?? "")) return bad("Invalid QRESYNC parameter.")
        const ranges = known === undefined ? undefined : Sequence.parse(known)
        if (known !== undefined && ranges === undefined) return bad("Invalid QRESYNC known UIDs.")
        qresync = { uidValidity: Number(validity), modseq: Number(modseq), known: ranges }
      } else {
        return bad(`Unknown SELECT parameter ${printable(param ?? "")}.`)
      }
    }
  }
  if (session.selected !== undefined) {
    State.deselect(session)
    if (State.has(session, "QRESYNC")) out.text("* OK [CLOSED] Previous mailbox closed.\r\n")
  }
  const mailbox = Store.mailbox(account(session), name)
  if (mailbox === undefined) return missing(name)
  if (condstore || qresync !== undefined) session.condstore = true
  const selection = State.select(mailbox, readOnly)
  session.selected = selection
  session.state = "Selected"
  const keywords = [...mailbox.keywords]
  const flags = [...Store.SYSTEM_FLAGS, ...keywords].join(" ")
  out.text(`* FLAGS (${flags})\r\n`)
  out.text(readOnly ? "* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n" : `* OK [PERMANENTFLAGS (${flags} \\*)] Flags permitted.\r\n`)
  out.text(`* ${selection.view.length} EXISTS\r\n`)
  out.text(`* ${selection.recent.size} RECENT\r\n`)
  const unseen = selection.view.findIndex((m) => !m.flags.has("\\Seen"))
  if (unseen !== -1) out.text(`* OK [UNSEEN ${unseen + 1}] First unseen.\r\n`)
  out.text(`* OK [UIDVALIDITY ${mailbox.uidValidity}] UIDs valid\r\n`)
  out.text(`* OK [UIDNEXT ${mailbox.uidNext}] Predicted next UID\r\n`)
  if (State.has(session, "CONDSTORE")) out.text(`* OK [HIGHESTMODSEQ ${mailbox.highestModSeq}] Highest\r\n`)
  if (qresync !== undefined && qresync.uidValidity === mailbox.uidValidity) {
    // RFC 7162 §3.2.5.1: what vanished and what changed since the client's mod-sequence.
    const star = mailbox.uidNext - 1
    const known = qresync.known
    const vanished = mailbox.vanished
      .filter((v) => v.modseq > qresync.modseq && (known === undefined || Sequence.contains(known, v.uid, star)))
      .map((v) => v.uid)
      .sort((a, b) => a - b)
    if (vanished.length > 0) out.text(`* VANISHED (EARLIER) ${Sequence.format(vanished)}\r\n`)
    selection.view.forEach((message, i) => {
      if (message.modseq <= qresync.modseq) return
      out.text(`* ${i + 1} FETCH (UID ${message.uid} FLAGS ${State.flagList(selection, message)} MODSEQ (${message.modseq}))\r\n`)
    })
  }
  return ok(readOnly ? "[READ-ONLY] Examine completed." : "[READ-WRITE] Select completed.")
}

// --- CREATE / DELETE / RENAME / SUBSCRIBE ---

const badName = (session: State.Session, name: string): string | undefined => {
  if (!State.utf8(session) && /[\x80-\xff]/.test(name)) return "Mailbox name is not valid mUTF-7."
  return Store.invalidName(name)
}

const SPECIAL_USES = ["\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash", "\\Important"]

/**
 * RFC 6154 §3 create-param "USE" SP "(" [use-attr *(SP use-attr)] ")", only with CREATE-SPECIAL-USE
 * advertised: the attribute (at most one here), `null` for an empty list, or a completion to answer.
 */
const useParameter = (session: State.Session, param: Token | undefined): string | null | undefined | Completion => {
  if (param === undefined) return undefined
  const [use, attrs, ...rest] = param._tag === "List" ? param.items : []
  if (!State.has(session, "CREATE-SPECIAL-USE") || stringOf(use)?.toUpperCase() !== "USE" || attrs?._tag !== "List" || rest.length > 0) {
    return bad("Invalid CREATE parameters.")
  }
  if (attrs.items.length === 0) return null
  const attr = stringOf(attrs.items[0])
  const known = SPECIAL_USES.find((u) => u.toLowerCase() === attr?.toLowerCase())
  return attrs.items.length === 1 && known !== undefined ? known : no("[USEATTR] Unsupported special-use attribute")
}

export const create: Handler = (session, _out, args) => {
  const raw = stringOf(args[0])
  if (raw === undefined || args.length > 2) return bad("Invalid arguments.")
  const use = useParameter(session, args[1])
  if (use !== null && typeof use === "object") return use
  // RFC 9051 §6.3.4: a trailing delimiter only says the client intends to create children.
  const name = Store.canonical(raw.endsWith(Store.DELIMITER) ? raw.slice(0, -1) : raw)
  const invalid = badName(session, name)
  if (invalid !== undefined) return no(invalid)
  const store = session.server.store
  return Store.createMailbox(store, account(session), name, use ?? undefined) === undefined
    ? no("Mailbox already exists")
    : ok("Create completed.")
}

export const deleteMailbox: Handler = (session, _out, args) => {
  const name = nameArg(args[0])
  if (name === undefined || args.length !== 1) return bad("Invalid arguments.")
  if (name === "INBOX") return no("INBOX can't be deleted.")
  const mailbox = Store.mailbox(account(session), name)
  if (mailbox === undefined) return missing(name)
  if (Store.children(account(session), name).length > 0) return no("Mailbox has children, delete them first")
  if (session.selected?.mailbox === mailbox) State.deselect(session)
  Store.deleteMailbox(account(session), mailbox)
  return ok("Delete completed.")
}

export const rename: Handler = (session, _out, args) => {
  const from = nameArg(args[0])
  const to = nameArg(args[1])
  if (from === undefined || to === undefined || args.length !== 2) return bad("Invalid arguments.")
  const mailbox = Store.mailbox(account(session), from)
  if (mailbox === undefined) return missing(from)
  const invalid = badName(session, to)
  if (invalid !== undefined) return no(invalid)
  if (Store.mailbox(account(session), to) !== undefined) return no("Target mailbox already exists")
  if (from !== "INBOX" && (to + Store.DELIMITER).startsWith(from + Store.DELIMITER)) {
    return no("Can't rename mailbox under its own child.")
  }
  Store.renameMailbox(session.server.store, account(session), mailbox, to)
  return ok("Rename completed.")
}

export const subscribe = (subscribed: boolean): Handler => (session, _out, args) => {
  const name = nameArg(args[0])
  if (name === undefined || args.length !== 1) return bad("Invalid arguments.")
  const mailbox = Store.mailbox(account(session), name)
  if (mailbox === undefined) return missing(name)
  mailbox.subscribed = subscribed
  return ok(subscribed ? "Subscribe completed." : "Unsubscribe completed.")
}

// --- LIST / LSUB ---

const patternRegex = (pattern: string): RegExp => {
  let source = ""
  for (const c of pattern) {
    if (c === "*") source += ".*"
    else if (c === "%") source += `[^${Store.DELIMITER}]*`
    else source += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")
  }
  return new RegExp(`^${source}$`, "s")
}

// RFC 9051 §5.1: INBOX matches in any case.
const matchesPattern = (name: string, pattern: RegExp): boolean =>
  pattern.test(name) || (name === "INBOX" && new RegExp(pattern.source, "is").test(name))

const STATUS_ITEMS = ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "HIGHESTMODSEQ", "RECENT"]

const statusItems = (session: State.Session, token: Token | undefined): ReadonlyArray<string> | string => {
  if (token?._tag !== "List" || token.items.length === 0) return "Invalid STATUS items."
  const items: Array<string> = []
  for (const entry of token.items) {
    const name = stringOf(entry)?.toUpperCase() ?? ""
    if (!STATUS_ITEMS.includes(name)) return `Invalid STATUS item ${printable(name)}.`
    if (name === "HIGHESTMODSEQ") session.condstore = true
    items.push(name)
  }
  return items
}

const writeStatus = (out: Out, session: State.Session, mailbox: Store.Mailbox, items: ReadonlyArray<string>): void => {
  const value = (item: string): number => {
    switch (item) {
      case "MESSAGES":
        return mailbox.messages.length
      case "UIDNEXT":
        return mailbox.uidNext
      case "UIDVALIDITY":
        return mailbox.uidValidity
      case "UNSEEN":
        return mailbox.messages.filter((m) => !m.flags.has("\\Seen")).length
      case "DELETED":
        return mailbox.messages.filter((m) => m.flags.has("\\Deleted")).length
      case "SIZE":
        return Store.totalSize(mailbox)
      case "HIGHESTMODSEQ":
        return mailbox.highestModSeq
      default:
        return mailbox.recent.size
    }
  }
  out.text("* STATUS ")
  mailboxName(out, session, mailbox.name)
  out.text(` (${items.map((item) => `${item} ${value(item)}`).join(" ")})\r\n`)
}

export const status: Handler = (session, out, args) => {
  const name = nameArg(args[0])
  if (name === undefined || args.length !== 2) return bad("Invalid arguments.")
  const items = statusItems(session, args[1])
  if (typeof items === "string") return bad(items)
  const mailbox = Store.mailbox(account(session), name)
  if (mailbox === undefined) return missing(name)
  writeStatus(out, session, mailbox, items)
  return ok("Status completed.")
}

const sortedMailboxes = (account: Store.Account): ReadonlyArray<Store.Mailbox> =>
  [...account.mailboxes.values()].sort((a, b) =>
    a.name === "INBOX" ? -1 : b.name === "INBOX" ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0
  )

export const list = (lsub: boolean): Handler => (session, out, args) => {
  let i = 0
  const selection = new Set<string>()
  const returns = new Set<string>()
  let statusWanted: ReadonlyArray<string> | undefined
  const extended = State.has(session, "LIST-EXTENDED")
  if (!lsub && args[0]?._tag === "List") {
    if (!extended) return bad("Invalid arguments.")
    for (const option of args[0].items) {
      const name = stringOf(option)?.toUpperCase() ?? ""
      if (!["SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"].includes(name)) {
        return bad(`Unknown LIST selection option ${printable(name)}.`)
      }
      selection.add(name)
    }
    if (selection.has("RECURSIVEMATCH") && selection.size === 1) return bad("RECURSIVEMATCH alone is invalid.")
    i = 1
  }
  const reference = stringOf(args[i])
  const patternToken = args[i + 1]
  if (reference === undefined || patternToken === undefined) return bad("Invalid arguments.")
  const patterns = patternToken._tag === "List" && !lsub && extended
    ? patternToken.items.map(stringOf)
    : [stringOf(patternToken)]
  if (patterns.some((p) => p === undefined)) return bad("Invalid pattern.")
  const rest = args.slice(i + 2)
  if (rest.length > 0) {
    if (lsub || !extended || stringOf(rest[0])?.toUpperCase() !== "RETURN" || rest[1]?._tag !== "List" || rest.length !== 2) {
      return bad("Invalid arguments.")
    }
    const options = rest[1].items
    for (let j = 0; j < options.length; j++) {
      const name = stringOf(options[j])?.toUpperCase() ?? ""
      if (name === "STATUS" && State.has(session, "LIST-STATUS")) {
        const items = statusItems(session, options[++j])
        if (typeof items === "string") return bad(items)
        statusWanted = items
      } else if (name === "SUBSCRIBED" || name === "CHILDREN" || name === "SPECIAL-USE") {
        returns.add(name)
      } else {
        return bad(`Unknown LIST return option ${printable(name)}.`)
      }
    }
  }
  const keyword = lsub ? "LSUB" : "LIST"
  if (patterns.length === 1 && patterns[0] === "") {
    // RFC 9051 §6.3.9: an empty pattern asks for the delimiter and the root.
    out.text(`* ${keyword} (\\Noselect) "${Store.DELIMITER}" ""\r\n`)
    return ok(`${keyword} completed.`)
  }
  const regexes = patterns.map((p) => patternRegex(reference + p!))
  const all = sortedMailboxes(account(session))
  for (const mailbox of all) {
    if (!regexes.some((r) => matchesPattern(mailbox.name, r))) continue
    if ((lsub || selection.has("SUBSCRIBED")) && !mailbox.subscribed) continue
    if (selection.has("SPECIAL-USE") && mailbox.specialUse === undefined) continue
    const attributes: Array<string> = []
    if (!lsub) {
      attributes.push(Store.children(account(session), mailbox.name).length > 0 ? "\\HasChildren" : "\\HasNoChildren")
      if (mailbox.specialUse !== undefined) attributes.push(mailbox.specialUse)
      if (mailbox.subscribed && (selection.has("SUBSCRIBED") || returns.has("SUBSCRIBED"))) attributes.push("\\Subscribed")
    }
    out.text(`* ${keyword} (${attributes.join(" ")}) "${Store.DELIMITER}" `)
    mailboxName(out, session, mailbox.name)
    out.text("\r\n")
    if (statusWanted !== undefined) writeStatus(out, session, mailbox, statusWanted)
  }
  return ok(`${keyword} completed.`)
}

// --- APPEND ---

const flagArg = (token: Token): ReadonlyArray<string> | string => {
  if (token._tag !== "List") return "Invalid flag list."
  const flags: Array<string> = []
  for (const item of token.items) {
    const flag = item._tag === "Atom" ? item.value : undefined
    if (flag === undefined) return "Invalid flag."
    const checked = checkFlag(flag)
    if (checked === undefined) return `Invalid system flag ${printable(flag)}.`
    if (checked !== "\\Recent") flags.push(checked)
  }
  return flags
}

/** A flag as stored, or `undefined` for an unknown system flag (RFC 9051 §2.3.2). */
export const checkFlag = (flag: string): string | undefined => {
  if (flag.toLowerCase() === "\\recent") return "\\Recent"
  const canonical = Store.canonicalFlag(flag)
  if (canonical.startsWith("\\")) return (Store.SYSTEM_FLAGS as ReadonlyArray<string>).includes(canonical) ? canonical : undefined
  return /^[\x21\x23-\x24\x26-\x27\x2b-\x5b\x5e-\x7a\x7c-\x7e]+$/.test(canonical) ? canonical : undefined
}

export const append: Handler = (session, _out, args, context) => {
  const name = nameArg(args[0])
  if (name === undefined) return bad("Missing mailbox name.")
  const pending: Array<{ bytes: Uint8Array; flags: ReadonlyArray<string>; date: Dates.InternalDate }> = []
  let i = 1
  while (i < args.length) {
    let flags: ReadonlyArray<string> = []
    let date: Dates.InternalDate = { millis: context.now, offset: 0 }
    const first = args[i]!
    if (first._tag === "List") {
      const parsed = flagArg(first)
      if (typeof parsed === "string") return bad(parsed)
      flags = parsed
      i++
    }
    const maybeDate = args[i]
    if (maybeDate?._tag === "Quoted") {
      const parsed = Dates.parseDateTime(maybeDate.value)
      if (parsed === undefined) return bad("Invalid date-time.")
      date = parsed
      i++
    }
    let message = args[i]
    // RFC 6855 §4: UTF8 (literal8)
    if (message?._tag === "Atom" && message.value.toUpperCase() === "UTF8" && args[i + 1]?._tag === "List") {
      const inner = args[i + 1]
      message = inner?._tag === "List" && inner.items.length === 1 ? inner.items[0] : undefined
      i++
    }
    if (message?._tag !== "Literal") return bad("Missing message literal.")
    pending.push({ bytes: message.bytes, flags, date })
    i++
  }
  if (pending.length === 0) return bad("Missing message literal.")
  const mailbox = Store.mailbox(account(session), name)
  if (mailbox === undefined) return no(`[TRYCREATE] Mailbox doesn't exist: ${printable(name)}`)
  const holder = State.recentHolder(session, mailbox)
  const uids = pending.map((p) => Store.append(mailbox, p.bytes, p.flags, p.date, holder).uid)
  return ok(State.has(session, "UIDPLUS")
    ? `[APPENDUID ${mailbox.uidValidity} ${Sequence.format(uids)}] Append completed.`
    : "Append completed.")
}

// --- NAMESPACE / ENABLE / ID ---

export const namespace: Handler = (_session, out) => {
  out.text(`* NAMESPACE (("" "${Store.DELIMITER}")) NIL NIL\r\n`)
  return ok("Namespace completed.")
}

const ENABLEABLE = ["CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "IMAP4REV2"]

export const enable: Handler = (session, out, args) => {
  if (args.length === 0) return bad("Missing capabilities.")
  const enabled: Array<string> = []
  for (const token of args) {
    const name = stringOf(token)?.toUpperCase()
    if (name === undefined) return bad("Invalid capability.")
    if (!ENABLEABLE.includes(name) || !State.has(session, name) || session.enabled.has(name)) continue
    session.enabled.add(name)
    enabled.push(name === "IMAP4REV2" ? "IMAP4rev2" : name)
    if (name === "CONDSTORE" || name === "QRESYNC") session.condstore = true
  }
  out.text(`* ENABLED${enabled.map((e) => ` ${e}`).join("")}\r\n`)
  return ok("Enabled.")
}

export const id: Handler = (session, out, args) => {
  const arg = args[0]
  if (arg === undefined || args.length > 1) return bad("Invalid arguments.")
  if (arg._tag === "List") {
    if (arg.items.length % 2 !== 0 || arg.items.length > 60) return bad("Invalid ID parameters.")
  } else if (!(arg._tag === "Atom" && arg.value.toUpperCase() === "NIL")) {
    return bad("Invalid ID parameters.")
  }
  const params = session.server.settings.serverId
  if (params.length === 0) out.text("* ID NIL\r\n")
  else {
    out.text("* ID (")
    params.forEach(([k, v], i) => {
      if (i > 0) out.text(" ")
      out.string(k).text(" ").nstring(v)
    })
    out.text(")\r\n")
  }
  return ok("ID completed.")
}
