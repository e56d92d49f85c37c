/**
 * The IMAP server's mail store: accounts, mailboxes (hierarchy delimiter "/"), messages with UIDs,
 * flags, internal dates and mod-sequences (RFC 7162). All sessions share it; every change bumps the
 * mailbox's `version` and wakes its listeners (IDLE sessions), and sessions catch up with it at
 * their next command (RFC 9051 §7.5.1 unilateral EXISTS / EXPUNGE / FETCH).
 *
 * Names are binary (latin1) strings, compared exactly except INBOX (any case, RFC 9051 §5.1).
 *
 * @internal
 */
import type { InternalDate } from "./dates.ts"
import * as Mime from "./mime.ts"

export interface Message {
  readonly uid: number
  readonly bytes: Uint8Array
  readonly internalDate: InternalDate
  flags: Set<string>
  modseq: number
  expunged: boolean
  structure: Mime.Entity | undefined
}

export interface Mailbox {
  name: string
  readonly uidValidity: number
  uidNext: number
  highestModSeq: number
  messages: Array<Message>
  subscribed: boolean
  specialUse: string | undefined
  /** UIDs of \Recent messages no session has claimed yet (RFC 3501 §2.3.2). */
  readonly recent: Set<number>
  /**
   * The \Recent sets of the sessions that have the mailbox selected read-write, oldest first: a
   * new message is \Recent in the session that added it, else in the oldest of them.
   */
  readonly holders: Set<Set<number>>
  /** Keywords ever used here (the FLAGS response lists them). */
  readonly keywords: Set<string>
  version: number
  deleted: boolean
  /** Expunged UIDs with the mod-sequence of their expunge (QRESYNC VANISHED (EARLIER)). */
  readonly vanished: Array<{ readonly uid: number; readonly modseq: number }>
  readonly listeners: Set<() => void>
}

export interface Account {
  readonly name: string
  password: string | undefined
  token: string | undefined
  readonly mailboxes: Map<string, Mailbox>
}

export interface Store {
  readonly accounts: Map<string, Account>
  nextUidValidity: number
}

export const DELIMITER = "/"

export const SYSTEM_FLAGS = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"] as const

export const make = (firstUidValidity: number): Store => ({ accounts: new Map(), nextUidValidity: firstUidValidity })

/** INBOX in any case is INBOX. */
export const canonical = (name: string): string => (name.toUpperCase() === "INBOX" ? "INBOX" : name)

export const account = (store: Store, name: string): Account => {
  const found = store.accounts.get(name)
  if (found !== undefined) return found
  const created: Account = { name, password: undefined, token: undefined, mailboxes: new Map() }
  store.accounts.set(name, created)
  createMailbox(store, created, "INBOX")
  return created
}

export const mailbox = (account: Account, name: string): Mailbox | undefined => account.mailboxes.get(canonical(name))

/** Why a name cannot be a mailbox name here. */
export const invalidName = (name: string): string | undefined => {
  if (name === "") return "Empty mailbox name."
  if (/[\x00-\x1f\x7f*%]/.test(name)) return "Invalid characters in mailbox name."
  if (name.startsWith(DELIMITER) || name.endsWith(DELIMITER) || name.includes(DELIMITER + DELIMITER)) {
    return "Invalid mailbox name."
  }
  return undefined
}

const newMailbox = (store: Store, name: string, specialUse: string | undefined): Mailbox => ({
  name,
  uidValidity: store.nextUidValidity++,
  uidNext: 1,
  highestModSeq: 1,
  messages: [],
  subscribed: false,
  specialUse,
  recent: new Set(),
  holders: new Set(),
  keywords: new Set(),
  version: 0,
  deleted: false,
  vanished: [],
  listeners: new Set()
})

/** Creates a mailbox and any missing parents (RFC 9051 §6.3.4); `undefined` if it exists. */
export const createMailbox = (
  store: Store,
  account: Account,
  name: string,
  specialUse?: string | undefined
): Mailbox | undefined => {
  const key = canonical(name)
  if (account.mailboxes.has(key)) return undefined
  const parts = key.split(DELIMITER)
  for (let i = 1; i < parts.length; i++) {
    const parent = canonical(parts.slice(0, i).join(DELIMITER))
    if (!account.mailboxes.has(parent)) account.mailboxes.set(parent, newMailbox(store, parent, undefined))
  }
  const created = newMailbox(store, key, specialUse)
  account.mailboxes.set(key, created)
  return created
}

export const children = (account: Account, name: string): ReadonlyArray<Mailbox> =>
  [...account.mailboxes.values()].filter((m) => m.name.startsWith(name + DELIMITER))

const changed = (mailbox: Mailbox): void => {
  mailbox.version++
  for (const listener of [...mailbox.listeners]) listener()
}

export const deleteMailbox = (account: Account, mailbox: Mailbox): void => {
  account.mailboxes.delete(mailbox.name)
  mailbox.deleted = true
  changed(mailbox)
}

/**
 * RFC 9051 §6.3.6: renames the mailbox and its children. Renaming INBOX moves its messages to a
 * new mailbox and leaves INBOX empty.
 */
export const renameMailbox = (store: Store, account: Account, from: Mailbox, to: string): void => {
  const target = canonical(to)
  if (from.name === "INBOX") {
    const moved = createMailbox(store, account, target)!
    for (const message of from.messages) {
      moved.messages.push({ ...message, uid: moved.uidNext++, flags: new Set(message.flags), modseq: ++moved.highestModSeq })
    }
    expunge(from, [...from.messages])
    return
  }
  const renames = [from, ...children(account, from.name)]
  const parts = target.split(DELIMITER)
  for (let i = 1; i < parts.length; i++) {
    const parent = parts.slice(0, i).join(DELIMITER)
    if (!account.mailboxes.has(parent)) account.mailboxes.set(parent, newMailbox(store, parent, undefined))
  }
  for (const box of renames) account.mailboxes.delete(box.name)
  for (const box of renames) {
    box.name = target + box.name.slice(from.name.length)
    account.mailboxes.set(box.name, box)
  }
}

/**
 * Adds a message; its UID is the mailbox's UIDNEXT. `by` is the \Recent set of the session adding
 * it, when that session has the mailbox selected read-write.
 */
export const append = (
  mailbox: Mailbox,
  bytes: Uint8Array,
  flags: Iterable<string>,
  internalDate: InternalDate,
  by?: Set<number> | undefined
): Message => {
  const message: Message = {
    uid: mailbox.uidNext++,
    bytes,
    internalDate,
    flags: new Set([...flags].filter((f) => f.toLowerCase() !== "\\recent")),
    modseq: ++mailbox.highestModSeq,
    expunged: false,
    structure: undefined
  }
  for (const flag of message.flags) if (!flag.startsWith("\\")) mailbox.keywords.add(flag)
  mailbox.messages.push(message)
  const holder = by !== undefined && mailbox.holders.has(by) ? by : mailbox.holders.values().next().value
  if (holder === undefined) mailbox.recent.add(message.uid)
  else holder.add(message.uid)
  changed(mailbox)
  return message
}

/** Replaces the flags; a real change gets a new mod-sequence. Returns whether anything changed. */
export const setFlags = (mailbox: Mailbox, message: Message, flags: ReadonlySet<string>): boolean => {
  const same = flags.size === message.flags.size && [...flags].every((f) => message.flags.has(f))
  if (same || message.expunged) return false
  message.flags = new Set(flags)
  for (const flag of flags) if (!flag.startsWith("\\")) mailbox.keywords.add(flag)
  message.modseq = ++mailbox.highestModSeq
  changed(mailbox)
  return true
}

export const expunge = (mailbox: Mailbox, messages: ReadonlyArray<Message>): void => {
  if (messages.length === 0) return
  const gone = new Set(messages)
  for (const message of messages) {
    message.expunged = true
    mailbox.recent.delete(message.uid)
    mailbox.vanished.push({ uid: message.uid, modseq: ++mailbox.highestModSeq })
  }
  mailbox.messages = mailbox.messages.filter((m) => !gone.has(m))
  changed(mailbox)
}

/** The parsed MIME structure, computed once. */
export const structure = (message: Message): Mime.Entity => {
  message.structure ??= Mime.parse(message.bytes)
  return message.structure
}

/** Flag names compare case-insensitively (RFC 9051 §2.3.2); stored in their canonical spelling. */
export const canonicalFlag = (flag: string): string => {
  const system = SYSTEM_FLAGS.find((f) => f.toLowerCase() === flag.toLowerCase())
  return system ?? flag
}

export const totalSize = (mailbox: Mailbox): number => mailbox.messages.reduce((n, m) => n + m.bytes.length, 0)
