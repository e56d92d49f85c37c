/**
 * SEARCH criteria as typed values (RFC 9051 §6.4.4 `search-key`, RFC 3501 §6.4.4 for the IMAP4rev1
 * keys NEW, OLD, RECENT, RFC 7162 §3.1.5 MODSEQ, RFC 5032 YOUNGER / OLDER).
 *
 * A criterion is a `_tag`ged plain object; `And` of several criteria is what a SEARCH command with
 * several keys means. The encoder (`ImapCommand.encode` of a `Search`) writes the keys, with each
 * string as an atom, quoted string or literal, and `CHARSET UTF-8` when a string is not ASCII and
 * UTF-8 is not already the session's charset (UTF8=ACCEPT enabled, IMAP4rev2).
 *
 * Dates are the UTC calendar day of a `Date` (IMAP dates have no time or zone; RFC 9051 §6.4.4
 * compares them in the server's time zone).
 *
 * @since 0.1.0
 */
import type * as SequenceSet from "./SequenceSet.ts"

/**
 * Keys without an argument.
 *
 * @category models
 * @since 0.1.0
 */
export interface Simple {
  readonly _tag:
    | "All"
    | "Answered"
    | "Deleted"
    | "Draft"
    | "Flagged"
    | "Seen"
    | "Unanswered"
    | "Undeleted"
    | "Undraft"
    | "Unflagged"
    | "Unseen"
    | "New"
    | "Old"
    | "Recent"
}

/**
 * KEYWORD / UNKEYWORD `flag-keyword` (an atom).
 *
 * @category models
 * @since 0.1.0
 */
export interface Keyword {
  readonly _tag: "Keyword" | "Unkeyword"
  readonly keyword: string
}

/**
 * Date keys: internal date (BEFORE, ON, SINCE) or Date: header (SENT*), by UTC calendar day.
 *
 * @category models
 * @since 0.1.0
 */
export interface DateKey {
  readonly _tag: "Before" | "On" | "Since" | "SentBefore" | "SentOn" | "SentSince"
  readonly date: Date
}

/**
 * LARGER / SMALLER than `size` octets (RFC822.SIZE).
 *
 * @category models
 * @since 0.1.0
 */
export interface Size {
  readonly _tag: "Larger" | "Smaller"
  readonly size: number
}

/**
 * Substring search in a header field, the body, the whole text or an address / subject header.
 *
 * @category models
 * @since 0.1.0
 */
export interface Text {
  readonly _tag: "Body" | "Text" | "From" | "To" | "Cc" | "Bcc" | "Subject"
  readonly value: string
}

/**
 * HEADER `field` `value`: the field exists and contains `value` (an empty value matches any).
 *
 * @category models
 * @since 0.1.0
 */
export interface Header {
  readonly _tag: "Header"
  readonly field: string
  readonly value: string
}

/**
 * UID `set`, or a bare sequence set of message numbers (`_tag: "Sequence"`).
 *
 * @category models
 * @since 0.1.0
 */
export interface Numbers {
  readonly _tag: "Uid" | "Sequence"
  readonly set: SequenceSet.SequenceSet
}

/**
 * MODSEQ (RFC 7162 §3.1.5): messages whose mod-sequence is at least `modSeq`, optionally only
 * counting changes to one flag's metadata entry.
 *
 * @category models
 * @since 0.1.0
 */
export interface ModSeq {
  readonly _tag: "ModSeq"
  readonly modSeq: number | bigint
  readonly entry?: { readonly flag: string; readonly type: "priv" | "shared" | "all" } | undefined
}

/**
 * YOUNGER / OLDER than `seconds` (RFC 5032 WITHIN).
 *
 * @category models
 * @since 0.1.0
 */
export interface Within {
  readonly _tag: "Younger" | "Older"
  readonly seconds: number
}

/**
 * NOT `criterion`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Not {
  readonly _tag: "Not"
  readonly criterion: Criterion
}

/**
 * OR `left` `right`.
 *
 * @category models
 * @since 0.1.0
 */
export interface Or {
  readonly _tag: "Or"
  readonly left: Criterion
  readonly right: Criterion
}

/**
 * All of `criteria` (at least one): several keys at the top level, a parenthesized list inside.
 *
 * @category models
 * @since 0.1.0
 */
export interface And {
  readonly _tag: "And"
  readonly criteria: ReadonlyArray<Criterion>
}

/**
 * A search criterion.
 *
 * @category models
 * @since 0.1.0
 */
export type Criterion = Simple | Keyword | DateKey | Size | Text | Header | Numbers | ModSeq | Within | Not | Or | And

const simple = (tag: Simple["_tag"]): Simple => ({ _tag: tag })

/**
 * ALL.
 * @category constructors
 * @since 0.1.0
 */
export const all: Criterion = simple("All")
/**
 * ANSWERED.
 * @category constructors
 * @since 0.1.0
 */
export const answered: Criterion = simple("Answered")
/**
 * DELETED.
 * @category constructors
 * @since 0.1.0
 */
export const deleted: Criterion = simple("Deleted")
/**
 * DRAFT.
 * @category constructors
 * @since 0.1.0
 */
export const draft: Criterion = simple("Draft")
/**
 * FLAGGED.
 * @category constructors
 * @since 0.1.0
 */
export const flagged: Criterion = simple("Flagged")
/**
 * SEEN.
 * @category constructors
 * @since 0.1.0
 */
export const seen: Criterion = simple("Seen")
/**
 * UNANSWERED.
 * @category constructors
 * @since 0.1.0
 */
export const unanswered: Criterion = simple("Unanswered")
/**
 * UNDELETED.
 * @category constructors
 * @since 0.1.0
 */
export const undeleted: Criterion = simple("Undeleted")
/**
 * UNDRAFT.
 * @category constructors
 * @since 0.1.0
 */
export const undraft: Criterion = simple("Undraft")
/**
 * UNFLAGGED.
 * @category constructors
 * @since 0.1.0
 */
export const unflagged: Criterion = simple("Unflagged")
/**
 * UNSEEN.
 * @category constructors
 * @since 0.1.0
 */
export const unseen: Criterion = simple("Unseen")
/**
 * NEW (IMAP4rev1 only: RECENT and UNSEEN).
 * @category constructors
 * @since 0.1.0
 */
export const new_: Criterion = simple("New")
/**
 * OLD (IMAP4rev1 only: not RECENT).
 * @category constructors
 * @since 0.1.0
 */
export const old: Criterion = simple("Old")
/**
 * RECENT (IMAP4rev1 only).
 * @category constructors
 * @since 0.1.0
 */
export const recent: Criterion = simple("Recent")

/**
 * KEYWORD `keyword`.
 * @category constructors
 * @since 0.1.0
 */
export const keyword = (keyword: string): Criterion => ({ _tag: "Keyword", keyword })
/**
 * UNKEYWORD `keyword`.
 * @category constructors
 * @since 0.1.0
 */
export const unkeyword = (keyword: string): Criterion => ({ _tag: "Unkeyword", keyword })

/**
 * A date key (`_tag` BEFORE, ON, SINCE, SENTBEFORE, SENTON, SENTSINCE) for the UTC day of `date`.
 * @category constructors
 * @since 0.1.0
 */
export const date = (tag: DateKey["_tag"], date: Date): Criterion => ({ _tag: tag, date })
/**
 * LARGER `size`.
 * @category constructors
 * @since 0.1.0
 */
export const larger = (size: number): Criterion => ({ _tag: "Larger", size })
/**
 * SMALLER `size`.
 * @category constructors
 * @since 0.1.0
 */
export const smaller = (size: number): Criterion => ({ _tag: "Smaller", size })
/**
 * A substring key (BODY, TEXT, FROM, TO, CC, BCC, SUBJECT).
 * @category constructors
 * @since 0.1.0
 */
export const text = (tag: Text["_tag"], value: string): Criterion => ({ _tag: tag, value })
/**
 * HEADER `field` `value`.
 * @category constructors
 * @since 0.1.0
 */
export const header = (field: string, value: string): Criterion => ({ _tag: "Header", field, value })
/**
 * UID `set`.
 * @category constructors
 * @since 0.1.0
 */
export const uid = (set: SequenceSet.SequenceSet): Criterion => ({ _tag: "Uid", set })
/**
 * Message sequence numbers `set`.
 * @category constructors
 * @since 0.1.0
 */
export const sequence = (set: SequenceSet.SequenceSet): Criterion => ({ _tag: "Sequence", set })
/**
 * MODSEQ `modSeq` (RFC 7162).
 * @category constructors
 * @since 0.1.0
 */
export const modSeq = (modSeq: number | bigint, entry?: ModSeq["entry"]): Criterion => ({
  _tag: "ModSeq",
  modSeq,
  entry
})
/**
 * YOUNGER `seconds` (RFC 5032).
 * @category constructors
 * @since 0.1.0
 */
export const younger = (seconds: number): Criterion => ({ _tag: "Younger", seconds })
/**
 * OLDER `seconds` (RFC 5032).
 * @category constructors
 * @since 0.1.0
 */
export const older = (seconds: number): Criterion => ({ _tag: "Older", seconds })
/**
 * NOT `criterion`.
 * @category constructors
 * @since 0.1.0
 */
export const not = (criterion: Criterion): Criterion => ({ _tag: "Not", criterion })
/**
 * OR `left` `right`.
 * @category constructors
 * @since 0.1.0
 */
export const or = (left: Criterion, right: Criterion): Criterion => ({ _tag: "Or", left, right })
/**
 * All of `criteria`.
 * @category constructors
 * @since 0.1.0
 */
export const and = (...criteria: ReadonlyArray<Criterion>): Criterion => ({ _tag: "And", criteria })

const isAscii = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false
  return true
}

/**
 * Whether any string argument is not US-ASCII (so the SEARCH needs `CHARSET UTF-8` unless UTF-8 is
 * the session's charset).
 *
 * @category guards
 * @since 0.1.0
 */
export const needsUtf8 = (criterion: Criterion): boolean =>
  some(criterion, (c) => {
    switch (c._tag) {
      case "Body":
      case "Text":
      case "From":
      case "To":
      case "Cc":
      case "Bcc":
      case "Subject":
        return !isAscii(c.value)
      case "Header":
        return !isAscii(c.field) || !isAscii(c.value)
      default:
        return false
    }
  })

/**
 * Whether `predicate` holds for a key anywhere in the criterion (under NOT, OR and AND).
 *
 * @category predicates
 * @since 0.1.0
 */
export const some = (criterion: Criterion, predicate: (key: Criterion) => boolean): boolean => {
  switch (criterion._tag) {
    case "Not":
      return some(criterion.criterion, predicate)
    case "Or":
      return some(criterion.left, predicate) || some(criterion.right, predicate)
    case "And":
      return criterion.criteria.some((c) => some(c, predicate))
    default:
      return predicate(criterion)
  }
}
