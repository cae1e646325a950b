// The OpenWallet Foundation client's side of benches/side_by_side.rs: N
// pre-authorized issuances (offer by reference, tx_code) with the library's
// `Openid4vciClient`, against our reference issuer, timed one by one.
//
//   node tests/interop/bench-owf.mjs < plan.json
//
// stdin, one JSON object (the bench makes the offers in-process, so making
// them costs no injected latency and is not timed):
//
//   {"warmup": [[OFFER, OFFER, OFFER], ...], "samples": [[OFFER, OFFER, OFFER], ...]}
//
// where OFFER is {"offer_url": "...", "tx_code": "..."}. Each triple is one
// wallet state: the first offer is its fresh issuance (a new client and new
// callbacks, nothing known about the issuer), the second its warm issuance
// (the same client, the issuer metadata and the issuer's SD-JWT keys it
// resolved the first time reused: the library's API lets the caller keep
// them), the third its "again" issuance: the same client once more, as the
// library runs it on its own (it keeps no metadata or keys between
// issuances, so nothing the caller kept is given to it). The `warmup`
// triples run first and are not reported (the JIT and the module loading,
// as the SDK's side warms up too).
//
// Every issuance: resolve the offer (GET credential_offer_uri), resolve the
// issuer and authorization server metadata (not warm), token request with
// the pre-authorized code and tx_code, nonce request, a jwt proof signed with
// a new ES256 holder key, credential request, and the SD-JWT VC verified with
// @sd-jwt/sd-jwt-vc against the key at /.well-known/jwt-vc-issuer (not
// fetched warm), plus the `cnf.jwk` holder binding. No notification (the SDK's
// side sends none either).
//
// stdout, one JSON line:
//
//   {"fresh_ms": [..], "warm_ms": [..], "again_ms": [..], "fresh_cpu_ms": [..],
//    "warm_cpu_ms": [..], "again_cpu_ms": [..], "fresh_requests": [..],
//    "warm_requests": [..], "again_requests": [..], "fetch_paths_fresh": [..],
//    "fetch_paths_warm": [..], "fetch_paths_again": [..]}
//
// *_cpu_ms: the process's CPU time (user + system, process.cpuUsage) during
// each issuance; *_requests: the HTTP requests each issuance sent; fetch_paths_*: the paths of
// the first sample's (to see which round trips there are). Exit 1 with the
// reason on stderr when an issuance fails.

import { clientAuthenticationNone, preAuthorizedCodeGrantIdentifier } from '@openid4vc/oauth2'
import { Openid4vciClient, setGlobalConfig } from '@openid4vc/openid4vci'
import { ES256 } from '@sd-jwt/crypto-nodejs'
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc'
import * as jose from 'jose'
import { performance } from 'node:perf_hooks'
import { generateKey, makeCallbacks, sdJwtHasher } from './callbacks.mjs'

// Loopback http for tests only.
setGlobalConfig({ allowInsecureUrls: true })

const CLIENT_ID = 'owf-bench-wallet'

/** One wallet state: a client whose fetch counts requests, and its caches. */
function newWalletState() {
  const state = { requests: [], issuerMetadata: null, sdJwtKeys: new Map() }
  state.fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input.url ?? String(input)
    state.requests.push(`${init?.method ?? 'GET'} ${new URL(url).pathname}`)
    return fetch(input, init)
  }
  state.privateJwks = []
  const callbacks = {
    ...makeCallbacks({
      privateJwks: state.privateJwks,
      clientAuthentication: clientAuthenticationNone({ clientId: CLIENT_ID }),
    }),
    fetch: state.fetch,
  }
  state.client = new Openid4vciClient({ callbacks })
  return state
}

/** One issuance with `state`; the number of requests it sent. */
async function issue(state, { offer_url: offerUrl, tx_code: txCode }) {
  const before = state.requests.length
  const client = state.client
  const proofKey = await generateKey()
  state.privateJwks.push(proofKey.privateJwk)

  const offer = await client.resolveCredentialOffer(offerUrl)
  let issuerMetadata = state.issuerMetadata
  if (!issuerMetadata || issuerMetadata.credentialIssuer.credential_issuer !== offer.credential_issuer) {
    issuerMetadata = await client.resolveIssuerMetadata(offer.credential_issuer)
    state.issuerMetadata = issuerMetadata
  }
  const configurationId = offer.credential_configuration_ids[0]
  const grant = offer.grants?.[preAuthorizedCodeGrantIdentifier]
  if (!grant) throw new Error('the offer has no pre-authorized code grant')

  const { accessTokenResponse } = await client.retrievePreAuthorizedCodeAccessTokenFromOffer({
    credentialOffer: offer,
    issuerMetadata,
    txCode: grant.tx_code ? txCode : undefined,
  })
  let nonce = accessTokenResponse.c_nonce
  if (issuerMetadata.credentialIssuer.nonce_endpoint) {
    nonce = (await client.requestNonce({ issuerMetadata })).c_nonce
  }
  const { jwt: proof } = await client.createCredentialRequestJwtProof({
    credentialConfigurationId: configurationId,
    issuerMetadata,
    signer: { method: 'jwk', alg: 'ES256', publicJwk: proofKey.publicJwk },
    nonce,
  })
  const { credentialResponse } = await client.retrieveCredentials({
    issuerMetadata,
    accessToken: accessTokenResponse.access_token,
    credentialConfigurationId: configurationId,
    proofs: { jwt: [proof] },
  })
  const credential = credentialResponse.credentials?.[0]?.credential ?? credentialResponse.credential
  if (typeof credential !== 'string') {
    throw new Error(`no SD-JWT in the credential response: ${JSON.stringify(credentialResponse)}`)
  }
  const verified = await verifySdJwtVc(state, credential)
  const bound =
    (await jose.calculateJwkThumbprint(verified.payload.cnf?.jwk ?? {}).catch(() => null)) ===
    (await jose.calculateJwkThumbprint(proofKey.publicJwk))
  if (!bound) throw new Error('the credential is not bound to the proof key')
  return state.requests.length - before
}

// The issuer's signature with the key published in its JWT VC issuer metadata
// (SD-JWT VC section 5; cached per wallet state by `iss`), then the disclosures.
async function verifySdJwtVc(state, credential) {
  const issuerJwt = credential.split('~')[0]
  const { iss } = jose.decodeJwt(issuerJwt)
  const { kid } = jose.decodeProtectedHeader(issuerJwt)
  let jwks = state.sdJwtKeys.get(iss)
  if (!jwks) {
    const url = new URL(iss)
    const path = url.pathname === '/' ? '' : url.pathname
    const metadataUrl = `${url.origin}/.well-known/jwt-vc-issuer${path}`
    const response = await state.fetch(metadataUrl, { headers: { accept: 'application/json' } })
    if (!response.ok) throw new Error(`GET ${metadataUrl}: ${response.status}`)
    const metadata = await response.json()
    if (metadata.issuer !== iss) throw new Error(`jwt-vc-issuer metadata names ${metadata.issuer}, credential iss is ${iss}`)
    jwks = metadata.jwks
    if (!jwks && metadata.jwks_uri) jwks = await (await state.fetch(metadata.jwks_uri)).json()
    state.sdJwtKeys.set(iss, jwks)
  }
  const keys = (jwks?.keys ?? []).filter((k) => !kid || k.kid === kid)
  if (keys.length === 0) throw new Error(`no key ${kid ?? ''} in the jwt-vc-issuer metadata`)
  for (const key of keys) {
    const sdjwt = new SDJwtVcInstance({ hasher: sdJwtHasher, verifier: await ES256.getVerifier(key) })
    try {
      const result = await sdjwt.verify(credential)
      await sdjwt.getClaims(credential)
      return result
    } catch (error) {
      if (key === keys[keys.length - 1]) throw error
    }
  }
  throw new Error('unreachable')
}

async function readStdin() {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return JSON.parse(Buffer.concat(chunks).toString('utf8'))
}

async function main() {
  const plan = await readStdin()
  const out = {
    fresh_ms: [], warm_ms: [], again_ms: [],
    fresh_cpu_ms: [], warm_cpu_ms: [], again_cpu_ms: [],
    fresh_requests: [], warm_requests: [], again_requests: [],
  }
  for (const [index, pair] of [...(plan.warmup ?? []), ...plan.samples].entries()) {
    const report = index >= (plan.warmup ?? []).length
    const state = newWalletState()
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    const freshRequests = await issue(state, pair[0])
    const t1 = performance.now()
    const c1 = process.cpuUsage()
    const warmRequests = await issue(state, pair[1])
    const t2 = performance.now()
    const c2 = process.cpuUsage()
    // The library's own second issuance: nothing the caller kept.
    state.issuerMetadata = null
    state.sdJwtKeys = new Map()
    const c3 = process.cpuUsage()
    const againRequests = await issue(state, pair[2])
    const t3 = performance.now()
    const c4 = process.cpuUsage()
    if (!report) continue
    if (out.fresh_ms.length === 0) {
      out.fetch_paths_fresh = state.requests.slice(0, freshRequests)
      out.fetch_paths_warm = state.requests.slice(freshRequests, freshRequests + warmRequests)
      out.fetch_paths_again = state.requests.slice(freshRequests + warmRequests)
    }
    out.fresh_ms.push(t1 - t0)
    out.warm_ms.push(t2 - t1)
    out.again_ms.push(t3 - t2)
    const cpuMs = (from, to) => (to.user - from.user + to.system - from.system) / 1000
    out.fresh_cpu_ms.push(cpuMs(c0, c1))
    out.warm_cpu_ms.push(cpuMs(c1, c2))
    out.again_cpu_ms.push(cpuMs(c3, c4))
    out.fresh_requests.push(freshRequests)
    out.warm_requests.push(warmRequests)
    out.again_requests.push(againRequests)
  }
  console.log(JSON.stringify(out))
}

main().catch(async (error) => {
  let detail = ''
  if (error?.response && typeof error.response.clone === 'function') {
    detail = await error.response.clone().text().catch(() => '')
  } else if (error?.errorResponse) {
    detail = JSON.stringify(error.errorResponse)
  }
  console.error(`bench-owf.mjs: ${error?.stack ?? error}${detail ? `\nserver answered: ${detail}` : ''}`)
  process.exit(1)
})
