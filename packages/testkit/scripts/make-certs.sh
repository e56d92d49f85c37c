#!/usr/bin/env bash
# Regenerates the test certificates in packages/testkit/fixtures/certs/ (committed; test-only material,
# the private keys are NOT secret).
#
#   ca.crt / ca.key                   test CA (EC P-256, self-signed, CA:TRUE, pathlen 0)
#   localhost.crt / .key              server leaf signed by the CA, SAN DNS:localhost, IP:127.0.0.1
#   self-signed.crt / .key            self-signed server leaf, SAN DNS:localhost, IP:127.0.0.1 (not from the CA)
#   wrong-name.crt / .key             server leaf signed by the CA, SAN DNS:mail.example.net only
#   expired.crt / .key                server leaf signed by the CA, SAN localhost, valid 2000-01-01..2001-01-01
#   client.crt / .key                 client leaf (extendedKeyUsage clientAuth) signed by the CA
#
# Every certificate is issued with `openssl ca` so that both notBefore and notAfter are explicit
# (OpenSSL 3.0's `x509 -req` cannot set notBefore). Valid certificates run from 2020-01-01 to
# 2120-01-01: a machine with a slightly wrong clock still accepts them and the committed files do
# not expire. All keys are EC P-256.
#
# Usage: packages/testkit/scripts/make-certs.sh   (needs the openssl CLI, >= 3.0)
set -euo pipefail

out="$(cd "$(dirname "$0")/.." && pwd)/fixtures/certs"
mkdir -p "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

valid_from=20200101000000Z
valid_to=21200101000000Z

mkdir -p "$tmp/db/newcerts"
: > "$tmp/db/index.txt"
echo 1000 > "$tmp/db/serial"
cat > "$tmp/ca.cnf" <<CNF
[ ca ]
default_ca = testkit
[ testkit ]
dir = $tmp/db
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
default_md = sha256
policy = any
copy_extensions = none
unique_subject = no
email_in_dn = no
[ any ]
organizationName = optional
commonName = supplied
[ ca_ext ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = \${ENV::SAN}
[ client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = email:user@example.com
CNF

localhost_san="DNS:localhost, IP:127.0.0.1"

# issue NAME CN EXTENSIONS SAN START END [selfsign]
issue() {
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/$1.key" 2>/dev/null
  openssl req -new -key "$out/$1.key" -subj "/O=starttls testkit/CN=$2" -out "$tmp/$1.csr"
  if [ "${7:-}" = selfsign ]; then
    signer=(-selfsign -keyfile "$out/$1.key")
  else
    signer=(-cert "$out/ca.crt" -keyfile "$out/ca.key")
  fi
  SAN="$4" openssl ca -batch -config "$tmp/ca.cnf" "${signer[@]}" -extensions "$3" -startdate "$5" -enddate "$6" \
    -notext -in "$tmp/$1.csr" -out "$out/$1.crt" 2>/dev/null
}

issue ca "starttls testkit CA" ca_ext "" "$valid_from" "$valid_to" selfsign
issue localhost localhost server "$localhost_san" "$valid_from" "$valid_to"
issue wrong-name mail.example.net server "DNS:mail.example.net" "$valid_from" "$valid_to"
issue expired localhost server "$localhost_san" 20000101000000Z 20010101000000Z
issue client "testkit client" client "" "$valid_from" "$valid_to"
issue self-signed localhost server "$localhost_san" "$valid_from" "$valid_to" selfsign

# --- check --------------------------------------------------------------------------------------
for name in localhost wrong-name client; do
  openssl verify -CAfile "$out/ca.crt" "$out/$name.crt" >/dev/null \
    || { echo "make-certs: $name.crt does not verify against the CA" >&2; exit 1; }
done
openssl verify -CAfile "$out/ca.crt" -no_check_time "$out/expired.crt" >/dev/null \
  || { echo "make-certs: expired.crt does not chain to the CA" >&2; exit 1; }
if openssl verify -CAfile "$out/ca.crt" "$out/expired.crt" >/dev/null 2>&1; then
  echo "make-certs: expired.crt is not expired" >&2; exit 1
fi
if openssl verify -CAfile "$out/ca.crt" "$out/self-signed.crt" >/dev/null 2>&1; then
  echo "make-certs: self-signed.crt verifies against the CA" >&2; exit 1
fi
chmod 644 "$out"/*.crt "$out"/*.key
echo "make-certs: wrote $(ls "$out" | wc -l) files to $out"
