// Self-test of mdoc.mjs: issues mdocs through its CLI (`issue`) and checks
// that `verify` accepts the good one and rejects a tampered element, a
// foreign trust anchor, a wrong doctype, an expired one and garbage.
//
//   node tests/interop/mdoc-selftest.mjs
//
// Prints one line per case and "N passed, N failed"; exits 1 on a failure.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKey } from './callbacks.mjs'
import { MDL_DOCTYPE, MDL_NAMESPACE, verifyMdoc } from './mdoc.mjs'

const script = join(dirname(fileURLToPath(import.meta.url)), 'mdoc.mjs')

function run(command, input) {
  const child = spawnSync(process.execPath, [script, command], {
    input: typeof input === 'string' ? input : JSON.stringify(input),
    encoding: 'utf8',
  })
  return { status: child.status, stderr: child.stderr, out: child.status === 0 ? JSON.parse(child.stdout.trim().split('\n').pop()) : null }
}

function cli(command, input) {
  const { status, stderr, out } = run(command, input)
  assert.equal(status, 0, `mdoc.mjs ${command} exited ${status}: ${stderr}`)
  return out
}

const device = await generateKey()
const other = await generateKey()
const namespaces = {
  [MDL_NAMESPACE]: {
    family_name: 'Doe',
    given_name: 'Jane',
    birth_date: '1990-02-03',
    issue_date: '2024-01-01',
    expiry_date: '2034-01-01',
    issuing_country: 'US',
    issuing_authority: 'OWF Interop DMV',
    document_number: 'D1234567',
    portrait: { bytes_b64url: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]).toString('base64url') },
    age_over_18: true,
    driving_privileges: [{ vehicle_category_code: 'B', issue_date: '2024-01-01', expiry_date: '2034-01-01' }],
  },
}
const good = cli('issue', { doctype: MDL_DOCTYPE, namespaces, device_jwk: device.publicJwk, fault: null })
const tampered = cli('issue', { doctype: MDL_DOCTYPE, namespaces, device_jwk: device.publicJwk, fault: 'wrong-digest' })
const verifyInput = (issued, extra = {}) => ({
  issuer_signed: issued.issuer_signed,
  trust_anchor_pem: issued.trust_anchor_pem,
  doctype: MDL_DOCTYPE,
  device_jwk: device.publicJwk,
  ...extra,
})

const cases = {
  'issue prints base64url (no padding) and a PEM root': () => {
    assert.match(good.issuer_signed, /^[A-Za-z0-9_-]+$/)
    assert.match(good.trust_anchor_pem, /^-----BEGIN CERTIFICATE-----/)
  },
  'verify accepts a freshly issued mdoc, with typed claims': () => {
    const out = cli('verify', verifyInput(good))
    assert.equal(out.ok, true, out.error)
    assert.equal(out.error, null)
    assert.equal(out.doctype, MDL_DOCTYPE)
    assert.equal(out.device_key_matches, true)
    const claims = out.claims[MDL_NAMESPACE]
    assert.equal(claims.family_name, 'Doe')
    assert.equal(claims.birth_date, '1990-02-03')
    assert.equal(claims.portrait, namespaces[MDL_NAMESPACE].portrait.bytes_b64url)
    assert.equal(claims.age_over_18, true)
    assert.deepEqual(claims.driving_privileges, namespaces[MDL_NAMESPACE].driving_privileges)
    const validUntil = new Date(out.valid_until).getTime()
    assert.ok(Math.abs(validUntil - (Date.now() + 365 * 24 * 3600 * 1000)) < 10 * 60 * 1000, out.valid_until)
    assert.ok(out.checks.some((c) => c.by === '@owf/mdoc' && c.check.startsWith('Issuer auth signature') && c.status === 'PASSED'))
  },
  'verify reports another device key as not matching': () => {
    const out = cli('verify', verifyInput(good, { device_jwk: other.publicJwk }))
    assert.equal(out.ok, true, out.error)
    assert.equal(out.device_key_matches, false)
  },
  'verify without device_jwk gives device_key_matches null': () => {
    const { device_jwk, ...input } = verifyInput(good)
    const out = cli('verify', input)
    assert.equal(out.ok, true, out.error)
    assert.equal(out.device_key_matches, null)
  },
  'verify rejects a tampered element (wrong-digest)': () => {
    const out = cli('verify', verifyInput(tampered))
    assert.equal(out.ok, false)
    assert.match(out.error, /family_name/)
    assert.equal(out.claims[MDL_NAMESPACE].family_name, 'Doe-tampered')
    const failed = out.checks.filter((c) => c.status === 'FAILED')
    assert.ok(failed.some((c) => c.by === '@owf/mdoc'), 'the library itself flags the digest')
    assert.ok(failed.some((c) => c.by === 'mdoc.mjs'), 'the byte-exact digest check flags it too')
    assert.equal(failed.length, 2, JSON.stringify(failed))
  },
  'verify rejects a broken issuerAuth signature': () => {
    // issuerAuth is the last entry of IssuerSigned, its signature the last 64 bytes.
    const bytes = Buffer.from(good.issuer_signed, 'base64url')
    bytes[bytes.length - 1] ^= 0x01
    const out = cli('verify', verifyInput({ ...good, issuer_signed: bytes.toString('base64url') }))
    assert.equal(out.ok, false)
    assert.match(out.error, /Issuer auth signature/)
  },
  'verify rejects another trust anchor': () => {
    const out = cli('verify', verifyInput(good, { trust_anchor_pem: tampered.trust_anchor_pem }))
    assert.equal(out.ok, false)
    assert.match(out.error, /Issuer certificate must be valid/)
  },
  'verify rejects a wrong doctype': () => {
    const out = cli('verify', verifyInput(good, { doctype: 'eu.europa.ec.eudi.pid.1' }))
    assert.equal(out.ok, false)
    assert.match(out.error, /docType/)
  },
  'verify rejects an mdoc past its validUntil': async () => {
    const out = await verifyMdoc({ ...verifyInput(good), now: new Date(Date.now() + 400 * 24 * 3600 * 1000) })
    assert.equal(out.ok, false)
    assert.match(out.error, /MSO must be valid/)
  },
  'verify answers ok:false (exit 0) for garbage': () => {
    const out = cli('verify', verifyInput({ issuer_signed: 'AAAA', trust_anchor_pem: good.trust_anchor_pem }))
    assert.equal(out.ok, false)
    assert.ok(out.error)
  },
  'usage errors exit 2': () => {
    assert.equal(run('frobnicate', {}).status, 2)
    assert.equal(run('verify', 'not json').status, 2)
    assert.equal(run('verify', { trust_anchor_pem: good.trust_anchor_pem }).status, 2)
    assert.equal(run('issue', { doctype: MDL_DOCTYPE, namespaces, device_jwk: device.publicJwk, fault: 'nope' }).status, 2)
  },
}

let passed = 0
let failed = 0
for (const [name, test] of Object.entries(cases)) {
  try {
    await test()
    passed++
    console.log(`ok - ${name}`)
  } catch (error) {
    failed++
    console.log(`not ok - ${name}\n  ${String(error?.stack ?? error).split('\n').join('\n  ')}`)
  }
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
