import { assert, describe, it } from "@effect/vitest"
import { createPrivateKey, X509Certificate } from "node:crypto"
import * as Certificates from "../src/Certificates.ts"

const YEAR_MS = 365.25 * 24 * 3600 * 1000
const x509 = (pair: Certificates.KeyPair) => new X509Certificate(pair.cert)
const ca = x509(Certificates.ca)

const assertValidForDecade = (cert: X509Certificate) => {
  const now = Date.now()
  assert.isTrue(Date.parse(cert.validFrom) < now, `not yet valid: ${cert.validFrom}`)
  assert.isTrue(Date.parse(cert.validTo) - now > 10 * YEAR_MS, `expires too soon: ${cert.validTo}`)
}

describe("Certificates", () => {
  it("the CA is a self-signed CA certificate valid for more than ten years", () => {
    assert.isTrue(ca.ca)
    assert.isTrue(ca.checkIssued(ca))
    assert.isTrue(ca.verify(ca.publicKey))
    assert.strictEqual(ca.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1")
    assertValidForDecade(ca)
  })

  it("localhost is signed by the CA for DNS:localhost and IP:127.0.0.1", () => {
    const cert = x509(Certificates.localhost)
    assert.isFalse(cert.ca)
    assert.isTrue(cert.checkIssued(ca))
    assert.isTrue(cert.verify(ca.publicKey))
    assert.strictEqual(cert.subjectAltName, "DNS:localhost, IP Address:127.0.0.1")
    assert.strictEqual(cert.checkHost("localhost"), "localhost")
    assert.strictEqual(cert.checkIP("127.0.0.1"), "127.0.0.1")
    assertValidForDecade(cert)
  })

  it("self-signed names localhost but is not issued by the CA", () => {
    const cert = x509(Certificates.selfSigned)
    assert.isFalse(cert.checkIssued(ca))
    assert.isFalse(cert.verify(ca.publicKey))
    assert.isTrue(cert.verify(cert.publicKey))
    assert.strictEqual(cert.checkHost("localhost"), "localhost")
    assertValidForDecade(cert)
  })

  it("wrong-name is signed by the CA for mail.example.net only", () => {
    const cert = x509(Certificates.wrongName)
    assert.isTrue(cert.verify(ca.publicKey))
    assert.strictEqual(cert.subjectAltName, "DNS:mail.example.net")
    assert.isUndefined(cert.checkHost("localhost"))
    assert.isUndefined(cert.checkIP("127.0.0.1"))
    assertValidForDecade(cert)
  })

  it("expired is signed by the CA for localhost and is expired now", () => {
    const cert = x509(Certificates.expired)
    assert.isTrue(cert.verify(ca.publicKey))
    assert.strictEqual(cert.checkHost("localhost"), "localhost")
    assert.isTrue(Date.parse(cert.validTo) < Date.now())
    assert.isTrue(Date.parse(cert.validFrom) < Date.parse(cert.validTo))
  })

  it("client is a clientAuth certificate signed by the CA", () => {
    const cert = x509(Certificates.client)
    assert.isTrue(cert.verify(ca.publicKey))
    assert.deepStrictEqual(cert.keyUsage, ["1.3.6.1.5.5.7.3.2"])
    assert.strictEqual(cert.checkEmail("user@example.com"), "user@example.com")
    assertValidForDecade(cert)
  })

  it("every key matches its certificate", () => {
    for (const pair of [Certificates.ca, Certificates.localhost, Certificates.selfSigned, Certificates.wrongName,
      Certificates.expired, Certificates.client]) {
      assert.isTrue(x509(pair).checkPrivateKey(createPrivateKey(pair.key)))
    }
  })

  it("forProfile maps transcript profiles to the fixtures", () => {
    assert.strictEqual(Certificates.forProfile("localhost"), Certificates.localhost)
    assert.strictEqual(Certificates.forProfile("self-signed"), Certificates.selfSigned)
    assert.strictEqual(Certificates.forProfile("wrong-name"), Certificates.wrongName)
    assert.strictEqual(Certificates.forProfile("expired"), Certificates.expired)
  })
})
