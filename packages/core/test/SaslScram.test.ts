import { assert, describe, it } from "@effect/vitest"
import * as Sasl from "@starttls/core/Sasl"
import * as Redacted from "effect/Redacted"
import { createHash, createHmac, pbkdf2Sync } from "node:crypto"
import { bytes, err, ok, password, stepText, text } from "./SaslFixtures.ts"

// RFC 5802 §5 (SCRAM-SHA-1) and RFC 7677 §3 (SCRAM-SHA-256): user "user", password "pencil".
const SHA1 = {
  nonce: "fyko+d2lbbFgONRv9qkxdawL",
  serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
  clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
  serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="
}
const SHA256 = {
  nonce: "rOprNGfwEbeRWgbNEkqO",
  serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
  clientFinal:
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
  serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
}

const pencil = password("user", "pencil")

const afterServerFirst = (name: "SCRAM-SHA-1" | "SCRAM-SHA-256", vector: typeof SHA1, serverFirst = vector.serverFirst) => {
  const initial = ok(Sasl.start(name, { credentials: pencil, nonce: vector.nonce }))
  return Sasl.step(initial.state, bytes(serverFirst))
}

describe("SCRAM RFC vectors", () => {
  for (const [name, vector] of [["SCRAM-SHA-1", SHA1], ["SCRAM-SHA-256", SHA256]] as const) {
    it(`${name}: signature as a last challenge`, () => {
      const initial = ok(Sasl.start(name, { credentials: pencil, nonce: vector.nonce }))
      assert.strictEqual(text(initial.response), `n,,n=user,r=${vector.nonce}`)
      const final = stepText(initial.state, vector.serverFirst)
      assert.strictEqual(final.text, vector.clientFinal)
      assert.isFalse(final.done)
      const verified = stepText(final.state, vector.serverFinal)
      assert.strictEqual(verified.text, "")
      assert.isTrue(verified.done)
      ok(Sasl.finish(verified.state))
    })

    it(`${name}: without an initial response (IMAP without SASL-IR)`, () => {
      const initial = ok(Sasl.start(name, { credentials: pencil, nonce: vector.nonce, initialResponse: false }))
      assert.isUndefined(initial.response)
      const first = stepText(initial.state, "")
      assert.strictEqual(first.text, `n,,n=user,r=${vector.nonce}`)
      assert.isFalse(first.done)
      assert.strictEqual(stepText(first.state, vector.serverFirst).text, vector.clientFinal)
    })

    it(`${name}: signature as additional data with success`, () => {
      const final = ok(afterServerFirst(name, vector))
      ok(Sasl.finish(final.state, bytes(vector.serverFinal)))
    })

    it(`${name}: a wrong server signature fails, as a challenge or with success`, () => {
      const final = ok(afterServerFirst(name, vector))
      // One character off, and a forged signature of the right length.
      const wrong = `v=${vector.serverFinal[2] === "A" ? "B" : "A"}${vector.serverFinal.slice(3)}`
      const forged = `v=${Buffer.alloc(name === "SCRAM-SHA-1" ? 20 : 32, 7).toString("base64")}`
      for (const bad of [wrong, forged, "v=AAAA"]) {
        assert.strictEqual(err(Sasl.step(final.state, bytes(bad))).reason, "ServerSignatureMismatch", bad)
        assert.strictEqual(err(Sasl.finish(final.state, bytes(bad))).reason, "ServerSignatureMismatch", bad)
      }
      assert.strictEqual(err(Sasl.finish(final.state, bytes("v=not base64"))).reason, "MalformedChallenge")
    })

    it(`${name}: success without a server signature fails`, () => {
      const final = ok(afterServerFirst(name, vector))
      assert.strictEqual(err(Sasl.finish(final.state)).reason, "ServerSignatureMismatch")
      assert.strictEqual(err(Sasl.finish(final.state, new Uint8Array(0))).reason, "ServerSignatureMismatch")
    })
  }
})

describe("SCRAM server-first checks", () => {
  const nonce = SHA256.nonce
  const server = (serverFirst: string) => afterServerFirst("SCRAM-SHA-256", SHA256, serverFirst)

  it("the server nonce must extend the client nonce", () => {
    for (const r of ["XOprNGfwEbeRWgbNEkqO%hvYDpW", "rOprNGfwEbeRWgbNEkq", nonce]) {
      const e = err(server(`r=${r},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`))
      assert.strictEqual(e.reason, "NonceMismatch", r)
    }
  })

  it("refuses an iteration count below 4096 or above the maximum", () => {
    assert.strictEqual(err(server(`r=${nonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095`)).reason, "IterationCountTooLow")
    assert.strictEqual(err(server(`r=${nonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000001`)).reason, "IterationCountTooHigh")
    assert.strictEqual(err(server(`r=${nonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=9999999999`)).reason, "IterationCountTooHigh")
    const lenient = ok(Sasl.start("SCRAM-SHA-1", { credentials: pencil, nonce, minIterations: 1 }))
    ok(Sasl.step(lenient.state, bytes(`r=${nonce}x,s=QSXCR+Q6sek8bf92,i=1`)))
  })

  it("reports a server error (e=) with its text as untrusted", () => {
    const e = err(server("e=unknown-user"))
    assert.strictEqual(e.reason, "ServerError")
    assert.strictEqual(e.untrustedServerText, "unknown-user")
    assert.strictEqual(e.detail, "the server reported unknown-user")
    const other = err(server("e=please send your password to evil.example"))
    assert.strictEqual(other.detail, "the server reported an error")
    assert.isFalse(other.message.includes("evil"))
    const final = ok(afterServerFirst("SCRAM-SHA-256", SHA256))
    assert.strictEqual(err(Sasl.step(final.state, bytes("e=invalid-proof"))).reason, "ServerError")
    assert.strictEqual(err(Sasl.finish(final.state, bytes("e=invalid-proof"))).reason, "ServerError")
  })

  it("rejects malformed server-first messages", () => {
    const cases = [
      "",
      "garbage",
      `m=ext,r=${nonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`,
      `s=W22ZaJ0SNY7soEsUEjb6gQ==,r=${nonce}x,i=4096`,
      `r=${nonce}x,s=not base64!,i=4096`,
      `r=${nonce}x,s=,i=4096`,
      `r=${nonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=04096`,
      `r=${nonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1`,
      `r=${nonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==`,
      `r=${nonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,`
    ]
    for (const c of cases) assert.strictEqual(err(server(c)).reason, "MalformedChallenge", c)
    const initial = ok(Sasl.start("SCRAM-SHA-256", { credentials: pencil, nonce }))
    assert.strictEqual(err(Sasl.step(initial.state, new Uint8Array([0xff, 0xfe]))).reason, "MalformedChallenge")
  })

  it("accepts extensions after the iteration count", () => {
    ok(server(`${SHA256.serverFirst},x=ext`))
  })

  it("fails a success that comes before the proof", () => {
    const initial = ok(Sasl.start("SCRAM-SHA-256", { credentials: pencil, nonce }))
    assert.strictEqual(err(Sasl.finish(initial.state)).reason, "UnexpectedSuccess")
  })
})

// An independent computation of the client proof and server signature (RFC 5802 §3).
const scramKeys = (hash: "sha1" | "sha256", secret: string, salt: Buffer, i: number, authMessage: string) => {
  const salted = pbkdf2Sync(secret, salt, i, hash === "sha1" ? 20 : 32, hash)
  const clientKey = createHmac(hash, salted).update("Client Key").digest()
  const signature = createHmac(hash, createHash(hash).update(clientKey).digest()).update(authMessage).digest()
  const proof = Buffer.from(clientKey.map((b, k) => b ^ signature[k]!))
  const server = createHmac(hash, createHmac(hash, salted).update("Server Key").digest()).update(authMessage).digest()
  return { proof: proof.toString("base64"), server: server.toString("base64") }
}

describe("SCRAM channel binding", () => {
  const cb = new Uint8Array(32).map((_, i) => i + 1)
  const nonce = "abcdefghijklmnop"
  const serverFirst = `r=${nonce}SERVER,s=QSXCR+Q6sek8bf92,i=4096`

  it("SCRAM-SHA-256-PLUS binds tls-exporter data (RFC 9266) and proves it", () => {
    const initial = ok(Sasl.start("SCRAM-SHA-256-PLUS", { credentials: pencil, nonce, channelBinding: cb }))
    assert.strictEqual(text(initial.response), `p=tls-exporter,,n=user,r=${nonce}`)
    const final = stepText(initial.state, serverFirst)
    const c = Buffer.concat([Buffer.from("p=tls-exporter,,"), cb]).toString("base64")
    const withoutProof = `c=${c},r=${nonce}SERVER`
    const keys = scramKeys(
      "sha256",
      "pencil",
      Buffer.from("QSXCR+Q6sek8bf92", "base64"),
      4096,
      `n=user,r=${nonce},${serverFirst},${withoutProof}`
    )
    assert.strictEqual(final.text, `${withoutProof},p=${keys.proof}`)
    ok(Sasl.finish(final.state, bytes(`v=${keys.server}`)))
  })

  it("-PLUS without channel binding data fails before anything is sent", () => {
    for (const channelBinding of [undefined, new Uint8Array(0)]) {
      const e = err(Sasl.start("SCRAM-SHA-256-PLUS", { credentials: pencil, nonce, channelBinding }))
      assert.strictEqual(e.reason, "ChannelBindingUnavailable")
    }
  })

  it("plain SCRAM says 'y' when it could bind but the server offers no -PLUS (RFC 5802 §6)", () => {
    const start = (offered: ReadonlyArray<string> | undefined, channelBinding: Uint8Array | undefined) =>
      text(ok(Sasl.start("SCRAM-SHA-256", { credentials: pencil, nonce, offered, channelBinding })).response)
    assert.strictEqual(start(["SCRAM-SHA-256"], cb), `y,,n=user,r=${nonce}`)
    assert.strictEqual(start(["SCRAM-SHA-256", "scram-sha-256-plus"], cb), `n,,n=user,r=${nonce}`)
    assert.strictEqual(start(["SCRAM-SHA-256"], undefined), `n,,n=user,r=${nonce}`)
    assert.strictEqual(start(undefined, cb), `n,,n=user,r=${nonce}`)
    // SCRAM-SHA-1-PLUS is not implemented, but its presence still means the server can bind.
    const sha1 = ok(
      Sasl.start("SCRAM-SHA-1", { credentials: pencil, nonce, offered: ["SCRAM-SHA-1-PLUS"], channelBinding: cb })
    )
    assert.strictEqual(text(sha1.response), `n,,n=user,r=${nonce}`)
    const y = ok(Sasl.start("SCRAM-SHA-256", { credentials: pencil, nonce, offered: [], channelBinding: cb }))
    // c= carries the GS2 header "y,," (base64 "eSws").
    assert.isTrue(stepText(y.state, serverFirst).text?.startsWith(`c=eSws,r=${nonce}SERVER,p=`))
  })
})

describe("SCRAM names", () => {
  it("escapes ',' and '=' in the username and authzid, after SASLprep", () => {
    const initial = ok(
      Sasl.start("SCRAM-SHA-256", { credentials: password("a,b=c\u00a0d", "pencil", "ad=min"), nonce: "n" })
    )
    assert.strictEqual(text(initial.response), "n,a=ad=3Dmin,n=a=2Cb=3Dc d,r=n")
    const final = stepText(initial.state, "r=nX,s=QSXCR+Q6sek8bf92,i=4096")
    // The authzid is in the GS2 header, so in c=.
    assert.isTrue(final.text?.startsWith(`c=${Buffer.from("n,a=ad=3Dmin,").toString("base64")},`))
  })

  it("applies SASLprep to the password (U+00AA → 'a', U+00AD removed)", () => {
    const serverFirst = "r=nX,s=QSXCR+Q6sek8bf92,i=4096"
    const proof = (secret: string) => {
      const initial = ok(Sasl.start("SCRAM-SHA-1", { credentials: password("user", secret), nonce: "n" }))
      return stepText(initial.state, serverFirst).text
    }
    assert.strictEqual(proof("\u00aapen\u00adcil"), proof("apencil"))
    assert.notStrictEqual(proof("apencil"), proof("pencil"))
  })

  it("refuses names and passwords SASLprep prohibits, and bad nonces", () => {
    assert.strictEqual(err(Sasl.start("SCRAM-SHA-256", { credentials: password("us\u0007er", "p") })).reason, "InvalidUsername")
    assert.strictEqual(err(Sasl.start("SCRAM-SHA-256", { credentials: password("\u00ad", "p") })).reason, "InvalidUsername")
    assert.strictEqual(err(Sasl.start("SCRAM-SHA-256", { credentials: password("u", "\u200b") })).reason, "InvalidSecret")
    assert.strictEqual(err(Sasl.start("SCRAM-SHA-256", { credentials: password("u", "p\ue000") })).reason, "InvalidSecret")
    for (const nonce of ["", "a,b", "a b", "é"]) {
      assert.strictEqual(err(Sasl.start("SCRAM-SHA-256", { credentials: pencil, nonce })).reason, "InvalidInput")
    }
  })

  it("makes a fresh printable nonce when none is given", () => {
    const a = ok(Sasl.start("SCRAM-SHA-256", { credentials: pencil }))
    const b = ok(Sasl.start("SCRAM-SHA-256", { credentials: pencil }))
    assert.match(text(a.response)!, /^n,,n=user,r=[A-Za-z0-9+/=]{32}$/)
    assert.notStrictEqual(text(a.response), text(b.response))
    assert.strictEqual(Sasl.makeNonce().length, 32)
  })

  it("keeps the password and keys redacted in its states", () => {
    const initial = ok(Sasl.start("SCRAM-SHA-256", { credentials: pencil, nonce: SHA256.nonce }))
    assert.strictEqual(initial.state._tag, "ScramFirst")
    assert.isFalse(JSON.stringify(initial.state).includes("pencil"))
    const final = ok(Sasl.step(initial.state, bytes(SHA256.serverFirst)))
    assert.strictEqual(final.state._tag, "ScramFinal")
    if (final.state._tag === "ScramFinal") {
      assert.strictEqual(
        Buffer.from(Redacted.value(final.state.serverSignature)).toString("base64"),
        SHA256.serverFinal.slice(2)
      )
      assert.strictEqual(String(final.state.serverSignature), "<redacted>")
    }
  })
})
