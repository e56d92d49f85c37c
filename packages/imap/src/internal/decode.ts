/**
 * The response grammar (RFC 9051 §7, §9 `response`): continuation requests, tagged completions,
 * untagged status responses with response codes, server/mailbox/message data. FETCH lives in
 * `fetch.ts`. Keywords are matched case-insensitively (RFC 9051 §9 note 1).
 */
import type * as ImapResponse from "../ImapResponse.ts"
import { fetch } from "./fetch.ts"
import { append, type Reader, record } from "./reader.ts"

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

const SP = 0x20
const DQUOTE = 0x22
const LPAREN = 0x28
const RPAREN = 0x29
const LBRACKET = 0x5b
const RBRACKET = 0x5d

/** One complete response: the reader is on the start of its first segment. */
export const decodeResponse = (r: Reader): ImapResponse.ImapResponse => {
  const c0 = r.s.charCodeAt(0)
  if (c0 === 0x2a) {
    if (r.s.charCodeAt(1) !== SP) r.fail("response-data", 'expected SP after "*"')
    r.p = 2
    return untagged(r)
  }
  if (c0 === 0x2b) return continuation(r)
  return tagged(r)
}

// -------------------------------------------------------------------------------------------------
// resp-text and response codes (RFC 9051 §7.1)

interface RespText {
  readonly code: ImapResponse.ResponseCode | undefined
  readonly text: string
}

/** `resp-text = ["[" resp-text-code "]" SP] text`; empty text and a missing SP are accepted. */
const respText = (r: Reader): RespText => {
  if (r.peek() !== LBRACKET) return { code: undefined, text: r.rest() }
  r.p++
  const code = respTextCode(r)
  r.expect(RBRACKET, "resp-text-code")
  r.eat(SP)
  return { code, text: r.rest() }
}

const SIMPLE_CODES: ReadonlyArray<ImapResponse.SimpleCodeName> = [
  "ALERT",
  "PARSE",
  "READ-ONLY",
  "READ-WRITE",
  "TRYCREATE",
  "NOMODSEQ",
  "CLOSED",
  "UIDNOTSTICKY",
  "UNKNOWN-CTE",
  "HASCHILDREN",
  "NOTSAVED",
  "UNAVAILABLE",
  "AUTHENTICATIONFAILED",
  "AUTHORIZATIONFAILED",
  "EXPIRED",
  "PRIVACYREQUIRED",
  "CONTACTADMIN",
  "NOPERM",
  "INUSE",
  "EXPUNGEISSUED",
  "CORRUPTION",
  "SERVERBUG",
  "CLIENTBUG",
  "CANNOT",
  "LIMIT",
  "OVERQUOTA",
  "ALREADYEXISTS",
  "NONEXISTENT"
]

const SIMPLE = (() => {
  const t = record<ImapResponse.SimpleCode>()
  for (const name of SIMPLE_CODES) t[name] = Object.freeze({ _tag: name })
  return t
})()

/** Skips to "]" (text a simple code should not carry; accepted leniently). */
const toBracket = (r: Reader): void => {
  const q = r.s.indexOf("]", r.p)
  if (q < 0) r.fail("resp-text-code", 'expected "]"')
  r.p = q
}

/** `resp-text-code`, cursor after "[", left on "]". */
const respTextCode = (r: Reader): ImapResponse.ResponseCode => {
  const name = r.keyword("resp-text-code")
  const simple = SIMPLE[name]
  if (simple !== undefined) {
    toBracket(r)
    return simple
  }
  switch (name) {
    case "BADCHARSET": {
      // "BADCHARSET" [SP "(" charset *(SP charset) ")"]
      const charsets: Array<string> = []
      if (r.eat(SP)) r.list("resp-text-code", () => charsets.push(r.astring("charset")))
      return { _tag: "BADCHARSET", charsets }
    }
    case "CAPABILITY":
      return { _tag: "CAPABILITY", capabilities: r.atoms("capability-data") }
    case "PERMANENTFLAGS":
      r.sp("resp-text-code")
      return { _tag: "PERMANENTFLAGS", flags: r.flagList("flag-perm") }
    case "UIDNEXT":
    case "UIDVALIDITY":
    case "UNSEEN":
      r.sp("resp-text-code")
      return { _tag: name, value: r.number("nz-number") }
    case "APPENDUID": {
      // RFC 4315 §4: "APPENDUID" SP nz-number SP append-uid
      r.sp("resp-code-apnd")
      const uidValidity = r.number("nz-number")
      r.sp("resp-code-apnd")
      return { _tag: "APPENDUID", uidValidity, uids: r.sequenceSet("append-uid") }
    }
    case "COPYUID": {
      // RFC 4315 §4: "COPYUID" SP nz-number SP uid-set SP uid-set
      r.sp("resp-code-copy")
      const uidValidity = r.number("nz-number")
      r.sp("resp-code-copy")
      const source = r.sequenceSet("uid-set")
      r.sp("resp-code-copy")
      return { _tag: "COPYUID", uidValidity, source, dest: r.sequenceSet("uid-set") }
    }
    case "HIGHESTMODSEQ":
      r.sp("resp-text-code")
      return { _tag: "HIGHESTMODSEQ", modseq: r.number64("mod-sequence-value") }
    case "MODIFIED":
      r.sp("resp-text-code")
      return { _tag: "MODIFIED", set: r.sequenceSet("sequence-set") }
    case "REFERRAL":
      r.sp("resp-text-code")
      return { _tag: "REFERRAL", url: r.until(RBRACKET, "resp-text-code") }
    default: {
      r.eat(SP)
      return { _tag: "Unknown", name, raw: r.until(RBRACKET, "resp-text-code") }
    }
  }
}

// -------------------------------------------------------------------------------------------------
// continuation, tagged, untagged status

// base64 (RFC 4648) as a SASL challenge is sent (RFC 9051 §7.6)
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** `continue-req = "+" SP (resp-text / base64)`; "+" alone (no SP) is accepted. */
const continuation = (r: Reader): ImapResponse.Continuation => {
  r.p = 1
  r.eat(SP)
  const { code, text } = respText(r)
  r.end("continue-req")
  if (code !== undefined) return { _tag: "Continuation", code, text }
  return BASE64.test(text) ? { _tag: "Continuation", text, data: text } : { _tag: "Continuation", text }
}

/** `response-tagged = tag SP resp-cond-state CRLF`. */
const tagged = (r: Reader): ImapResponse.Tagged => {
  const tag = r.tag()
  r.sp("response-tagged")
  const status = r.keyword("response-tagged")
  if (status !== "OK" && status !== "NO" && status !== "BAD") {
    r.fail("response-tagged", "expected OK, NO or BAD")
  }
  r.eat(SP) // lenient: "a1 OK" without text
  const { code, text } = respText(r)
  r.end("response-tagged")
  return code === undefined ? { _tag: "Tagged", tag, status, text } : { _tag: "Tagged", tag, status, code, text }
}

const condition = (r: Reader, status: ImapResponse.Condition["status"]): ImapResponse.Condition => {
  r.eat(SP)
  const { code, text } = respText(r)
  r.end("resp-cond-state")
  return code === undefined ? { _tag: "Condition", status, text } : { _tag: "Condition", status, code, text }
}

// -------------------------------------------------------------------------------------------------
// untagged data

const untagged = (r: Reader): ImapResponse.Untagged => {
  if (r.isDigit()) {
    const n = r.number("message-data")
    r.sp("message-data")
    if (r.s.startsWith("FETCH (", r.p)) {
      r.p += 6
      const response = fetch(r, n)
      r.end("msg-att")
      return response
    }
    const name = r.keyword("message-data")
    switch (name) {
      case "FETCH": {
        r.sp("message-data")
        const response = fetch(r, n)
        r.end("msg-att")
        return response
      }
      case "EXISTS":
        r.end("mailbox-data")
        return { _tag: "Exists", count: n }
      case "RECENT":
        r.end("mailbox-data")
        return { _tag: "Recent", count: n }
      case "EXPUNGE":
        r.end("message-data")
        return { _tag: "Expunge", seq: n }
      default:
        return unknown(r, name, n)
    }
  }
  const name = r.keyword("response-data")
  switch (name) {
    case "OK":
    case "NO":
    case "BAD":
    case "BYE":
    case "PREAUTH":
      return condition(r, name)
    case "CAPABILITY":
    case "ENABLED": {
      const capabilities = r.atoms("capability-data")
      r.end("capability-data")
      return { _tag: name === "CAPABILITY" ? "Capability" : "Enabled", capabilities }
    }
    case "FLAGS": {
      r.sp("mailbox-data")
      const flags = r.flagList("flag-list")
      r.end("mailbox-data")
      return { _tag: "Flags", flags }
    }
    case "LIST":
    case "LSUB":
      return mailboxList(r, name === "LIST" ? "List" : "Lsub")
    case "STATUS":
      return status(r)
    case "SEARCH":
    case "SORT":
      return search(r, name === "SEARCH" ? "Search" : "Sort")
    case "ESEARCH":
      return esearch(r)
    case "VANISHED":
      return vanished(r)
    case "NAMESPACE":
      return namespace(r)
    case "ID":
      return id(r)
    default:
      return unknown(r, name, -1)
  }
}

const unknown = (r: Reader, name: string, n: number): ImapResponse.Unknown => {
  r.eat(SP)
  const { raw, literals } = r.rawRest()
  return n < 0 ? { _tag: "Unknown", name, raw, literals } : { _tag: "Unknown", name, number: n, raw, literals }
}

/** `mailbox-list` (RFC 9051 §7.3.1, RFC 5258 §9 mbox-list-extended). */
const mailboxList = (r: Reader, tag: "List" | "Lsub"): ImapResponse.MailboxList => {
  r.sp("mailbox-list")
  const attributes = r.flagList("mbx-list-flags")
  r.sp("mailbox-list")
  let delimiter: string | null = null
  if (r.peek() === DQUOTE) delimiter = r.quoted()
  else if (!r.nil()) r.fail("mailbox-list", "expected delimiter")
  r.sp("mailbox-list")
  const mailbox = r.astring("mailbox")
  const out: Mutable<ImapResponse.MailboxList> = { _tag: tag, attributes, delimiter, mailbox }
  if (r.spBefore(LPAREN)) {
    let extensions: Array<ImapResponse.NamedValue> | undefined
    r.list("mbox-list-extended", () => {
      const itemName = r.astring("mbox-list-extended-item-tag")
      r.sp("mbox-list-extended-item")
      switch (itemName.toUpperCase()) {
        case "CHILDINFO": {
          // RFC 5258 §4: "CHILDINFO" SP "(" list-select-base-opt-quoted *(SP ...) ")"
          const info: Array<string> = []
          r.list("childinfo-extended-item", () => info.push(r.astring("childinfo-extended-item")))
          out.childInfo = info
          break
        }
        case "OLDNAME":
          // RFC 9051 §9: "OLDNAME" SP "(" mailbox ")"
          out.oldName = r.inParens("oldname-extended-item", () => r.astring("mailbox"))
          break
        default:
          extensions = append(extensions, { name: itemName, value: r.value("tagged-ext-val") })
      }
    })
    if (extensions !== undefined) out.extensions = extensions
  }
  r.end("mailbox-list")
  return out
}

/** `"STATUS" SP mailbox SP "(" [status-att-list] ")"` (RFC 9051 §7.3.3). */
const status = (r: Reader): ImapResponse.Status => {
  r.sp("mailbox-data")
  const mailbox = r.astring("mailbox")
  r.sp("mailbox-data")
  const a: Mutable<ImapResponse.StatusAttributes> = {}
  let unknownItems: Array<ImapResponse.NamedValue> | undefined
  r.list("status-att-list", () => {
    const item = r.keyword("status-att")
    r.sp("status-att-val")
    switch (item) {
      case "MESSAGES":
        a.messages = r.number("status-att-val")
        break
      case "RECENT":
        a.recent = r.number("status-att-val")
        break
      case "UIDNEXT":
        a.uidNext = r.number("status-att-val")
        break
      case "UIDVALIDITY":
        a.uidValidity = r.number("status-att-val")
        break
      case "UNSEEN":
        a.unseen = r.number("status-att-val")
        break
      case "DELETED":
        a.deleted = r.number("status-att-val")
        break
      case "SIZE":
        a.size = r.number("status-att-val")
        break
      case "HIGHESTMODSEQ":
        a.highestModSeq = r.number64("mod-sequence-valzer")
        break
      case "APPENDLIMIT":
        a.appendLimit = r.nil() ? null : r.number("append-limit")
        break
      case "MAILBOXID":
        // RFC 8474 §4: "MAILBOXID" SP "(" objectid ")"
        a.mailboxId = r.inParens("status-att-val", () => r.atom("objectid"))
        break
      default:
        unknownItems = append(unknownItems, { name: item, value: r.value("status-att-val") })
    }
  })
  if (unknownItems !== undefined) a.unknown = unknownItems
  r.end("mailbox-data")
  return { _tag: "Status", mailbox, attributes: a }
}

/** `"SEARCH" *(SP nz-number) [SP search-sort-mod-seq]` (RFC 3501 §7.2.5 / RFC 7162 §3.1.5); SORT (RFC 5256 §4) alike. */
const search = (r: Reader, tag: "Search" | "Sort"): ImapResponse.Search => {
  const numbers: Array<number> = []
  let modseq: bigint | undefined
  for (;;) {
    if (r.skipSpaces()) break
    if (r.peek() === LPAREN) {
      r.p++
      if (r.keyword("search-sort-mod-seq") !== "MODSEQ") r.fail("search-sort-mod-seq", "expected MODSEQ")
      r.sp("search-sort-mod-seq")
      modseq = r.number64("mod-sequence-value")
      r.expect(RPAREN, "search-sort-mod-seq")
      continue
    }
    numbers.push(r.number("nz-number"))
  }
  r.end("mailbox-data")
  return modseq === undefined ? { _tag: tag, numbers } : { _tag: tag, numbers, modseq }
}

/** `esearch-response` (RFC 4731 §3.1, RFC 9051 §7.3.4). */
const esearch = (r: Reader): ImapResponse.ESearch => {
  const e: Mutable<ImapResponse.ESearch> = { _tag: "ESearch", uid: false }
  let unknownItems: Array<ImapResponse.NamedValue> | undefined
  if (!r.skipSpaces() && r.peek() === LPAREN) {
    // search-correlator: "(" "TAG" SP tag-string *(SP name SP value) ")"
    r.list("search-correlator", () => {
      const item = r.keyword("search-correlator")
      r.sp("search-correlator")
      if (item === "TAG") e.tag = r.astring("tag-string")
      else r.value("search-correlator")
    })
  }
  for (;;) {
    if (r.skipSpaces()) break
    const item = r.keyword("search-return-data")
    if (item === "UID") {
      e.uid = true
      continue
    }
    r.sp("search-return-data")
    switch (item) {
      case "MIN":
        e.min = r.number("nz-number")
        break
      case "MAX":
        e.max = r.number("nz-number")
        break
      case "COUNT":
        e.count = r.number("number")
        break
      case "ALL":
        e.all = r.sequenceSet("sequence-set")
        break
      case "MODSEQ":
        e.modseq = r.number64("mod-sequence-value")
        break
      default:
        unknownItems = append(unknownItems, { name: item, value: r.value("search-ret-data-ext") })
    }
  }
  if (unknownItems !== undefined) e.unknown = unknownItems
  r.end("esearch-response")
  return e
}

/** `"VANISHED" [SP "(EARLIER)"] SP known-uids` (RFC 7162 §3.2.10). */
const vanished = (r: Reader): ImapResponse.Vanished => {
  r.sp("expunged-resp")
  let earlier = false
  if (r.eat(LPAREN)) {
    if (r.keyword("expunged-resp") !== "EARLIER") r.fail("expunged-resp", "expected EARLIER")
    r.expect(RPAREN, "expunged-resp")
    r.sp("expunged-resp")
    earlier = true
  }
  const uids = r.sequenceSet("known-uids")
  r.end("expunged-resp")
  return { _tag: "Vanished", earlier, uids }
}

/** `namespace-response` (RFC 2342 §5, RFC 9051 §7.3.2). */
const namespace = (r: Reader): ImapResponse.Namespace => {
  r.sp("namespace-response")
  const personal = namespaceList(r)
  r.sp("namespace-response")
  const other = namespaceList(r)
  r.sp("namespace-response")
  const shared = namespaceList(r)
  r.end("namespace-response")
  return { _tag: "Namespace", personal, other, shared }
}

const namespaceList = (r: Reader): Array<ImapResponse.NamespaceDescription> | null => {
  if (r.nil()) return null
  const out: Array<ImapResponse.NamespaceDescription> = []
  // lenient: RFC 2342 has no SP between descriptions
  r.list("namespace", () => {
    r.expect(LPAREN, "namespace-descr")
    const prefix = r.string("namespace-descr")
    r.sp("namespace-descr")
    const delimiter = r.nstring("namespace-descr")
    let extensions: Array<{ readonly name: string; readonly values: ReadonlyArray<string> }> | undefined
    while (r.eat(SP)) {
      // namespace-response-extension: SP string SP "(" string *(SP string) ")"
      const name = r.string("namespace-response-extension")
      r.sp("namespace-response-extension")
      const values: Array<string> = []
      r.list("namespace-response-extension", () => values.push(r.string("namespace-response-extension")))
      extensions = append(extensions, { name, values })
    }
    r.expect(RPAREN, "namespace-descr")
    out.push(extensions === undefined ? { prefix, delimiter } : { prefix, delimiter, extensions })
  })
  return out
}

/** `id-response = "ID" SP id-params-list` (RFC 2971 §4). */
const id = (r: Reader): ImapResponse.Id => {
  r.sp("id-response")
  if (r.nil()) {
    r.end("id-response")
    return { _tag: "Id", params: null }
  }
  const params = record<string | null>()
  r.list("id-params-list", () => {
    const key = r.string("id-params-list")
    r.sp("id-params-list")
    params[key] = r.nstring("id-params-list")
  })
  r.end("id-response")
  return { _tag: "Id", params }
}
