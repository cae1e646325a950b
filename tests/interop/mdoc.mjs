// A third-party ISO/IEC 18013-5 mdoc implementation for the interop tests:
// the OpenWallet Foundation `@owf/mdoc` library (issuer and IssuerSigned
// verifier), with `@peculiar/x509` for the certificates. The library brings
// no crypto of its own: the context below gives it SHA-2 and ECDSA
// (node:crypto) and X.509 parsing and chain validation (@peculiar/x509).
//
//   node tests/interop/mdoc.mjs verify < {"issuer_signed", "trust_anchor_pem", "doctype", "device_jwk"?}
//   node tests/interop/mdoc.mjs issue  < {"doctype", "namespaces", "device_jwk", "fault"?}
//
// Each reads one JSON object on stdin and prints one JSON line on stdout.
// `verify` exits 0 whether or not the credential verifies (see "ok"); both
// exit 2 on usage errors (unknown subcommand, input that is not JSON or lacks
// a required field). README.md has the full contract.
//
// issuer.mjs, wallet.mjs (for mso_mdoc) and mdoc-selftest.mjs import the
// functions exported here.

import crypto from 'node:crypto'
import { pathToFileURL } from 'node:url'
import {
  cborDecode,
  cborEncode,
  DataItem,
  DateOnly,
  DeviceKey,
  Holder,
  IssuerSigned,
  IssuerSignedItem,
  Issuer,
  SignatureAlgorithm,
} from '@owf/mdoc'
import * as x509 from '@peculiar/x509'

x509.cryptoProvider.set(crypto.webcrypto)

export const MDL_DOCTYPE = 'org.iso.18013.5.1.mDL'
export const MDL_NAMESPACE = 'org.iso.18013.5.1'
/** Extended key usage of an mdoc document signer certificate (ISO 18013-5 Annex B). */
export const DS_EKU = '1.0.18013.5.1.2'

const HASHES = { ES256: 'sha256', ES384: 'sha384', ES512: 'sha512' }
const CURVES = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }

/** Only the public (and private, if present) EC coordinates of a JWK. */
function ecJwk(jwk, { withPrivate = false } = {}) {
  if (!jwk || jwk.kty !== 'EC' || typeof jwk.x !== 'string' || typeof jwk.y !== 'string') {
    throw new Error('expected an EC JWK with x and y')
  }
  const out = { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y }
  if (withPrivate) {
    if (typeof jwk.d !== 'string') throw new Error('expected a private EC JWK (d)')
    out.d = jwk.d
  }
  return out
}

const toDer = (bytes) => new Uint8Array(bytes instanceof ArrayBuffer ? bytes : bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))

/**
 * Chain validation for the library's `x509.verifyCertificateChain` callback:
 * every certificate of x5chain (leaf first) must be valid at `now` and signed
 * by the next one; the last one must be a trusted certificate or be signed by
 * one (matching issuer/subject names). Issuing certificates must be CAs when
 * they carry basicConstraints.
 */
async function verifyChain({ trustedCertificates, x5chain, now = new Date() }) {
  if (!x5chain?.length) throw new Error('x5chain is empty')
  const chain = x5chain.map((der) => new x509.X509Certificate(der))
  const anchors = trustedCertificates.map((der) => new x509.X509Certificate(der))
  const validAt = (cert, what) => {
    if (now < cert.notBefore || now > cert.notAfter) {
      throw new Error(`${what} (${cert.subject}) is not valid at ${now.toISOString()} (${cert.notBefore.toISOString()} .. ${cert.notAfter.toISOString()})`)
    }
  }
  const mustBeCa = (cert, what) => {
    const bc = cert.getExtension(x509.BasicConstraintsExtension)
    if (bc && !bc.ca) throw new Error(`${what} (${cert.subject}) is not a CA`)
  }
  for (let i = 0; i < chain.length; i++) {
    validAt(chain[i], i === 0 ? 'the document signer certificate' : `chain certificate ${i}`)
    const next = chain[i + 1]
    if (next) {
      mustBeCa(next, `chain certificate ${i + 1}`)
      if (!(await chain[i].verify({ publicKey: next.publicKey, signatureOnly: true }))) {
        throw new Error(`chain certificate ${i} is not signed by chain certificate ${i + 1}`)
      }
    }
  }
  const last = chain[chain.length - 1]
  const lastDer = Buffer.from(last.rawData)
  for (const anchor of anchors) {
    if (Buffer.from(anchor.rawData).equals(lastDer)) return
  }
  for (const anchor of anchors) {
    if (anchor.subject !== last.issuer) continue
    if (!(await last.verify({ publicKey: anchor.publicKey, signatureOnly: true }))) continue
    validAt(anchor, 'the trust anchor')
    mustBeCa(anchor, 'the trust anchor')
    return
  }
  throw new Error(`the chain does not lead to a trusted certificate (last issuer: ${last.issuer})`)
}

/** The MdocContext @owf/mdoc asks its user for. */
export const mdocContext = {
  crypto: {
    random: (length) => new Uint8Array(crypto.randomBytes(length)),
    digest: ({ digestAlgorithm, bytes }) =>
      new Uint8Array(crypto.createHash(digestAlgorithm.replace('-', '').toLowerCase()).update(bytes).digest()),
    calculateEphemeralMacKey: () => {
      throw new Error('device MAC keys are not used here (no presentation)')
    },
  },
  cose: {
    sign1: {
      sign: ({ toBeSigned, key, algorithm }) => {
        const alg = SignatureAlgorithm[algorithm]
        if (!HASHES[alg]) throw new Error(`unsupported signing algorithm ${algorithm}`)
        const privateKey = crypto.createPrivateKey({ key: ecJwk(key.jwk, { withPrivate: true }), format: 'jwk' })
        return new Uint8Array(crypto.sign(HASHES[alg], toBeSigned, { key: privateKey, dsaEncoding: 'ieee-p1363' }))
      },
      verify: ({ sign1, key }) => {
        const alg = sign1.signatureAlgorithmName
        if (!HASHES[alg]) throw new Error(`unsupported COSE algorithm ${alg}`)
        const jwk = ecJwk(key.jwk)
        if (jwk.crv !== CURVES[alg]) throw new Error(`${alg} needs a ${CURVES[alg]} key, the certificate has ${jwk.crv}`)
        const publicKey = crypto.createPublicKey({ key: jwk, format: 'jwk' })
        return crypto.verify(HASHES[alg], sign1.toBeSigned, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sign1.signature)
      },
    },
    mac0: {
      sign: () => {
        throw new Error('COSE_Mac0 is not used here')
      },
      verify: () => {
        throw new Error('COSE_Mac0 is not used here')
      },
    },
  },
  x509: {
    getIssuerNameField: ({ certificate, field }) => new x509.X509Certificate(certificate).issuerName.getField(field),
    getPublicKey: async ({ certificate }) => {
      const cert = new x509.X509Certificate(certificate)
      const jwk = crypto.createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' }).export({ format: 'jwk' })
      return DeviceKey.fromJwk(ecJwk(jwk))
    },
    verifyCertificateChain: verifyChain,
    getCertificateData: async ({ certificate }) => {
      const cert = new x509.X509Certificate(certificate)
      return {
        issuerName: cert.issuer,
        subjectName: cert.subject,
        serialNumber: cert.serialNumber,
        thumbprint: Buffer.from(await cert.getThumbprint('SHA-256')).toString('hex'),
        notBefore: cert.notBefore,
        notAfter: cert.notAfter,
        pem: cert.toString('pem'),
      }
    },
  },
}

// ---------------------------------------------------------------------------
// Certificates

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' }
const SHA256_ECDSA = { name: 'ECDSA', hash: 'SHA-256' }
const serial = () => `01${crypto.randomBytes(15).toString('hex')}`
const HOUR = 3600 * 1000
const DAY = 24 * HOUR

// Distinguished names: countryName (and stateOrProvinceName) are what the
// library compares issuing_country (issuing_jurisdiction) against.
function dn({ country = 'US', state, cn }) {
  const name = [{ C: [country] }]
  if (state) name.push({ ST: [state] })
  name.push({ O: ['OWF mdoc interop'] }, { CN: [cn] })
  return name
}

/** A fresh self-signed P-256 root (IACA-like) certificate and its keys. */
export async function generateRootCa({ country = 'US', state, cn = 'OWF mdoc interop IACA' } = {}) {
  const keys = await crypto.webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])
  const now = Date.now()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: dn({ country, state, cn }),
    notBefore: new Date(now - HOUR),
    notAfter: new Date(now + 3 * 365 * DAY),
    keys,
    signingAlgorithm: SHA256_ECDSA,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  })
  return { cert, keys, pem: cert.toString('pem'), country, state }
}

/**
 * A document signer certificate issued by `root` (keyUsage digitalSignature,
 * extendedKeyUsage 1.0.18013.5.1.2), with its private key as a JWK.
 */
export async function generateDocumentSigner(root, { cn = 'OWF mdoc interop DS' } = {}) {
  const keys = await crypto.webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify'])
  const now = Date.now()
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: dn({ country: root.country, state: root.state, cn }),
    issuer: root.cert.subjectName,
    notBefore: new Date(now - HOUR),
    notAfter: new Date(now + 2 * 365 * DAY),
    publicKey: keys.publicKey,
    signingKey: root.keys.privateKey,
    signingAlgorithm: SHA256_ECDSA,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([DS_EKU], true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(root.keys.publicKey),
    ],
  })
  const privateJwk = await crypto.webcrypto.subtle.exportKey('jwk', keys.privateKey)
  return { cert, der: toDer(cert.rawData), privateJwk: ecJwk(privateJwk, { withPrivate: true }), root }
}

/** A root and a document signer under it; country/state follow issuing_country/issuing_jurisdiction. */
export async function generateIssuerPki({ country, state } = {}) {
  const root = await generateRootCa({ country, state })
  return generateDocumentSigner(root)
}

// ---------------------------------------------------------------------------
// Issuing

const FULL_DATE = /^\d{4}-\d{2}-\d{2}$/
const TDATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/
// Elements typed as full-date (tag 1004) or tdate (tag 0) when given as text
// in the mDL namespace, also inside driving_privileges entries.
const MDL_DATE_ELEMENTS = new Set(['birth_date', 'issue_date', 'expiry_date', 'portrait_capture_date'])

function typedDate(text, element) {
  if (FULL_DATE.test(text)) return new DateOnly(text)
  if (TDATE.test(text)) return new Date(text)
  throw new Error(`${element}: expected "YYYY-MM-DD" or an RFC 3339 date-time, got ${JSON.stringify(text)}`)
}

/**
 * A JSON value as a CBOR-ready value. Explicit wrappers anywhere:
 * {"bytes_b64url": "..."} -> byte string, {"full_date": "YYYY-MM-DD"} ->
 * tag 1004, {"tdate": "..."} -> tag 0. Objects become maps (order kept).
 */
function toCborValue(value, { mdlDates = false, element = '' } = {}) {
  if (Array.isArray(value)) return value.map((v) => toCborValue(v, { mdlDates, element }))
  if (value && typeof value === 'object') {
    const keys = Object.keys(value)
    if (keys.length === 1 && keys[0] === 'bytes_b64url') return new Uint8Array(Buffer.from(value.bytes_b64url, 'base64url'))
    if (keys.length === 1 && keys[0] === 'full_date') return typedDate(value.full_date, element)
    if (keys.length === 1 && keys[0] === 'tdate') {
      if (!TDATE.test(value.tdate)) throw new Error(`${element}: tdate must be an RFC 3339 date-time, got ${JSON.stringify(value.tdate)}`)
      return new Date(value.tdate)
    }
    return new Map(
      keys.map((k) => [k, mdlDates && MDL_DATE_ELEMENTS.has(k) && typeof value[k] === 'string' ? typedDate(value[k], k) : toCborValue(value[k], { mdlDates, element: k })])
    )
  }
  return value
}

function typedElements(namespace, elements) {
  const mdl = namespace === MDL_NAMESPACE
  return new Map(
    Object.entries(elements).map(([element, value]) => {
      if (mdl && MDL_DATE_ELEMENTS.has(element) && typeof value === 'string') return [element, typedDate(value, element)]
      return [element, toCborValue(value, { mdlDates: mdl && element === 'driving_privileges', element })]
    })
  )
}

/**
 * Signs an mdoc with the library's issuer API (ES256, SHA-256 digests,
 * validity now-1min .. now+1 year) bound to `deviceJwk`, signed by
 * `signer` (from generateDocumentSigner). `fault: "wrong-digest"` tampers one
 * element value after signing. Returns the library's IssuerSigned.
 */
export async function issueMdoc({ doctype, namespaces, deviceJwk, signer, fault = null, now = new Date() }) {
  if (fault !== null && fault !== undefined && fault !== 'wrong-digest') throw new Error(`unknown fault ${fault}`)
  const issuer = new Issuer(doctype, mdocContext)
  for (const [namespace, elements] of Object.entries(namespaces)) {
    issuer.addIssuerNamespace(namespace, typedElements(namespace, elements))
  }
  const issuerSigned = await issuer.sign({
    signingKey: signer.privateJwk,
    algorithm: SignatureAlgorithm.ES256,
    digestAlgorithm: 'SHA-256',
    validityInfo: {
      signed: now,
      validFrom: new Date(now.getTime() - 60 * 1000),
      validUntil: new Date(now.getTime() + 365 * DAY),
    },
    deviceKeyInfo: { deviceKey: DeviceKey.fromJwk(ecJwk(deviceJwk)) },
    certificates: [signer.der],
  })
  if (fault === 'wrong-digest') tamperOneElement(issuerSigned)
  return issuerSigned
}

// Replaces one element's value (family_name if there is one) keeping its
// digestID and random, so its IssuerSignedItemBytes no longer match the MSO.
function tamperOneElement(issuerSigned) {
  const namespaces = issuerSigned.issuerNamespaces.issuerNamespaces
  let target
  for (const [namespace, items] of namespaces) {
    const index = items.findIndex((item) => item.elementIdentifier === 'family_name')
    if (index >= 0) target = { namespace, items, index }
  }
  if (!target) {
    const [namespace, items] = [...namespaces].find(([, items]) => items.length > 0) ?? []
    if (!items) throw new Error('wrong-digest: the mdoc has no element to tamper with')
    target = { namespace, items, index: 0 }
  }
  const original = target.items[target.index]
  const value = original.elementValue
  const items = [...target.items]
  items[target.index] = IssuerSignedItem.fromOptions({
    digestId: original.digestId,
    random: original.random,
    elementIdentifier: original.elementIdentifier,
    elementValue: typeof value === 'string' ? `${value}-tampered` : 'tampered',
  })
  issuerSigned.issuerNamespaces.setIssuerNamespace(target.namespace, items)
}

/** An IssuerSigned as an OID4VCI mso_mdoc credential (base64url, no padding). */
export const encodeForOid4vci = (issuerSigned) => Buffer.from(issuerSigned.encode()).toString('base64url')

// ---------------------------------------------------------------------------
// Verifying

const b64u = (bytes) => Buffer.from(bytes).toString('base64url')

/** tdate text as ISO 18013-5 writes it: no fraction (unless there is one), UTC. */
function tdateText(date) {
  const iso = date.toISOString()
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso
}

/** A decoded CBOR element value as JSON. */
export function toJson(value) {
  if (value === undefined || value === null) return null
  if (value instanceof DateOnly) return value.toISOString()
  if (value instanceof Date) return tdateText(value)
  if (value instanceof Uint8Array) return b64u(value)
  if (value instanceof DataItem) return { tag: 24, value: b64u(value.buffer) }
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString()
  if (Array.isArray(value)) return value.map(toJson)
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), toJson(v)]))
  if (typeof value === 'object') {
    // cbor-x's Tag for tags nobody registered.
    if ('tag' in value && 'value' in value) return { tag: value.tag, value: toJson(value.value) }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]))
  }
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value)
  return value
}

/** The DER certificates of one or more PEM blocks. */
function parseTrustAnchors(pem) {
  const blocks = String(pem).match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []
  if (blocks.length === 0) throw new Error('trust_anchor_pem holds no PEM certificate')
  return blocks.map((block) => {
    try {
      return toDer(new x509.X509Certificate(block).rawData)
    } catch (error) {
      throw new Error(`trust_anchor_pem: not a certificate: ${error?.message ?? error}`)
    }
  })
}

const sameKey = (a, b) => a.crv === b.crv && a.x === b.x && a.y === b.y

/**
 * Verifies an IssuerSigned (base64url) alone: the library's
 * Holder.verifyIssuerSigned (issuerAuth signature, x5chain to the trust
 * anchor, MSO validity and signed-within-certificate, every item's digest,
 * issuing_country/jurisdiction against the certificate), plus checks of our
 * own (see README.md): docType, digests over the received bytes, MSO version,
 * certificate profile (warnings only).
 */
export async function verifyMdoc({ issuer_signed, trust_anchor_pem, doctype, device_jwk, now = new Date() }) {
  const result = { ok: false, error: null, doctype: null, claims: {}, device_key_matches: null, valid_until: null, valid_from: null, signed: null, checks: [] }
  const checks = result.checks
  const failed = () => checks.filter((c) => c.status === 'FAILED')
  try {
    const raw = new Uint8Array(Buffer.from(issuer_signed, 'base64url'))
    let issuerSigned
    try {
      issuerSigned = IssuerSigned.decode(raw)
    } catch (error) {
      throw new Error(`issuer_signed is not a base64url CBOR IssuerSigned: ${error?.message ?? error}`)
    }
    const mso = issuerSigned.issuerAuth.mobileSecurityObject

    result.doctype = mso.docType
    result.valid_until = tdateText(mso.validityInfo.validUntil)
    result.valid_from = tdateText(mso.validityInfo.validFrom)
    result.signed = tdateText(mso.validityInfo.signed)
    for (const [namespace, items] of issuerSigned.issuerNamespaces.issuerNamespaces) {
      result.claims[namespace] = Object.fromEntries(items.map((item) => [item.elementIdentifier, toJson(item.elementValue)]))
    }
    const deviceJwk = mso.deviceKeyInfo.deviceKey.jwk
    result.device_key = { kty: deviceJwk.kty, crv: deviceJwk.crv, x: deviceJwk.x, y: deviceJwk.y }
    if (device_jwk) result.device_key_matches = sameKey(result.device_key, device_jwk)

    // The library's verifier, collecting every assessment instead of
    // stopping at the first failure.
    const anchors = parseTrustAnchors(trust_anchor_pem)
    try {
      await Holder.verifyIssuerSigned(
        {
          issuerSigned,
          trustedCertificates: anchors,
          now,
          verificationCallback: (assessment) => checks.push({ by: '@owf/mdoc', ...assessment }),
        },
        mdocContext
      )
    } catch (error) {
      checks.push({ by: '@owf/mdoc', status: 'FAILED', category: 'ISSUER_AUTH', check: 'verification threw', reason: error?.message ?? String(error) })
    }

    // Ours: what the library does not check for an IssuerSigned alone.
    const own = (status, check, reason) => checks.push({ by: 'mdoc.mjs', status, check, ...(reason ? { reason } : {}) })
    if (doctype !== undefined && doctype !== null) {
      own(mso.docType === doctype ? 'PASSED' : 'FAILED', 'The MSO docType must be the expected one', `MSO docType ${mso.docType}, expected ${doctype}`)
    }
    own(mso.version === '1.0' ? 'PASSED' : 'FAILED', 'The MSO version must be 1.0')
    // The library re-encodes each decoded item before hashing; hash the
    // IssuerSignedItemBytes exactly as received as well.
    const rawNamespaces = cborDecode(raw).get('nameSpaces') ?? new Map()
    const digestAlg = mso.digestAlgorithm.replace('-', '').toLowerCase()
    for (const [namespace, dataItems] of rawNamespaces) {
      const expected = mso.valueDigests.valueDigests.get(namespace)
      const seen = new Set()
      for (const dataItem of dataItems) {
        if (!(dataItem instanceof DataItem)) {
          own('FAILED', `${namespace}: every IssuerSignedItem must be a tag-24 byte string`)
          continue
        }
        const item = cborDecode(dataItem.buffer)
        const id = item.get('digestID')
        const element = item.get('elementIdentifier')
        if (seen.has(id)) own('FAILED', `${namespace}: digestIDs must be unique`, `digestID ${id} repeats`)
        seen.add(id)
        const digest = crypto.createHash(digestAlg).update(cborEncode(DataItem.fromBuffer(dataItem.buffer))).digest()
        const match = expected?.get(id) && Buffer.from(expected.get(id)).equals(digest)
        own(match ? 'PASSED' : 'FAILED', `The digest of the received bytes of ${namespace}/${element} must match the MSO valueDigests`)
      }
    }
    // Document signer certificate profile (ISO 18013-5 Annex B): warnings.
    const ds = new x509.X509Certificate(issuerSigned.issuerAuth.certificate)
    const ku = ds.getExtension(x509.KeyUsagesExtension)
    own(ku && ku.usages & x509.KeyUsageFlags.digitalSignature ? 'PASSED' : 'WARNING', 'The document signer certificate should have keyUsage digitalSignature')
    const eku = ds.getExtension(x509.ExtendedKeyUsageExtension)
    own(eku?.usages.includes(DS_EKU) ? 'PASSED' : 'WARNING', `The document signer certificate should have extendedKeyUsage ${DS_EKU}`)

    const failures = failed()
    result.ok = failures.length === 0
    result.error = result.ok ? null : failures.map((c) => `${c.check}${c.reason ? ` (${c.reason})` : ''}`).join('; ')
  } catch (error) {
    result.ok = false
    result.error = error?.message ?? String(error)
  }
  return result
}

// ---------------------------------------------------------------------------
// CLI

function usage(message) {
  console.error(`mdoc.mjs: ${message}\nusage: node mdoc.mjs verify|issue < input.json (see README.md)`)
  process.exit(2)
}

async function readStdinJson() {
  let text = ''
  process.stdin.setEncoding('utf8')
  for await (const chunk of process.stdin) text += chunk
  try {
    const value = JSON.parse(text)
    if (!value || typeof value !== 'object' || Array.isArray(value)) usage('stdin must be one JSON object')
    return value
  } catch {
    usage('stdin is not JSON')
  }
}

async function main() {
  const command = process.argv[2]
  if (command !== 'verify' && command !== 'issue') usage(`unknown subcommand ${command ?? '(none)'}`)
  const input = await readStdinJson()
  if (command === 'verify') {
    if (typeof input.issuer_signed !== 'string') usage('verify: "issuer_signed" (string) is required')
    if (typeof input.trust_anchor_pem !== 'string') usage('verify: "trust_anchor_pem" (string) is required')
    const { checks, ...result } = await verifyMdoc(input)
    console.log(JSON.stringify({ ...result, checks }))
    return
  }
  if (typeof input.doctype !== 'string') usage('issue: "doctype" (string) is required')
  if (!input.namespaces || typeof input.namespaces !== 'object') usage('issue: "namespaces" (object) is required')
  if (!input.device_jwk || typeof input.device_jwk !== 'object') usage('issue: "device_jwk" (P-256 JWK) is required')
  if (input.fault != null && input.fault !== 'wrong-digest') usage(`issue: unknown fault ${JSON.stringify(input.fault)}`)
  const mdl = input.namespaces[MDL_NAMESPACE] ?? {}
  const signer = await generateIssuerPki({
    country: typeof mdl.issuing_country === 'string' ? mdl.issuing_country : undefined,
    state: typeof mdl.issuing_jurisdiction === 'string' ? mdl.issuing_jurisdiction : undefined,
  })
  const issuerSigned = await issueMdoc({
    doctype: input.doctype,
    namespaces: input.namespaces,
    deviceJwk: input.device_jwk,
    signer,
    fault: input.fault ?? null,
  })
  console.log(JSON.stringify({ issuer_signed: encodeForOid4vci(issuerSigned), trust_anchor_pem: signer.root.pem }))
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    console.error(`mdoc.mjs: ${error?.stack ?? error}`)
    process.exit(1)
  })
}
