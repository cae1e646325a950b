// A third-party wallet: the OpenWallet Foundation `Openid4vciClient`
// (@openid4vc/openid4vci) receiving a credential from any OpenID4VCI issuer
// (our reference issuer, in tests/integration/interop.rs) with the pre-authorized code flow.
//
//   node tests/interop/wallet.mjs OFFER_URL [TX_CODE]
//
// Prints one JSON line on success: the credential, its claims (disclosures
// decoded by the @sd-jwt/sd-jwt-vc library after it verified the issuer's
// signature with the key from /.well-known/jwt-vc-issuer), whether `cnf.jwk` is
// the proof key, and what the client saw (detected version, nonce source).
// On failure: exit 1, with what went wrong (and the server's answer) on stderr.
//
// An `mso_mdoc` credential is verified with mdoc.mjs (@owf/mdoc) against the
// root certificate(s) in the environment variable MDOC_TRUST_ANCHOR_PEM
// (required for mdoc offers, e.g. issuer.mjs's `mdoc_trust_anchor_pem`); then
// `claims` is {namespace: {element: value}}, `header` is null, `holder_bound`
// says whether the MSO deviceKey is the proof key, and `mdoc` has the doctype
// and validity.

import { clientAuthenticationNone, preAuthorizedCodeGrantIdentifier } from '@openid4vc/oauth2'
import { Openid4vciClient, setGlobalConfig } from '@openid4vc/openid4vci'
import { ES256 } from '@sd-jwt/crypto-nodejs'
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc'
import * as jose from 'jose'
import { generateKey, makeCallbacks, sdJwtHasher } from './callbacks.mjs'

// Loopback http for tests only.
setGlobalConfig({ allowInsecureUrls: true })

const CLIENT_ID = 'owf-interop-wallet'

async function main() {
  const [offerUrl, txCode] = process.argv.slice(2)
  if (!offerUrl) throw new Error('usage: node wallet.mjs OFFER_URL [TX_CODE]')

  const proofKey = await generateKey()
  const callbacks = makeCallbacks({
    privateJwks: [proofKey.privateJwk],
    clientAuthentication: clientAuthenticationNone({ clientId: CLIENT_ID }),
  })
  const client = new Openid4vciClient({ callbacks })

  const offer = await client.resolveCredentialOffer(offerUrl)
  const issuerMetadata = await client.resolveIssuerMetadata(offer.credential_issuer)
  const configurationId = offer.credential_configuration_ids[0]
  const grant = offer.grants?.[preAuthorizedCodeGrantIdentifier]
  if (!grant) throw new Error('the offer has no pre-authorized code grant')
  if (grant.tx_code && !txCode) throw new Error('the offer asks for a tx_code; pass it as the second argument')

  const { accessTokenResponse } = await client.retrievePreAuthorizedCodeAccessTokenFromOffer({
    credentialOffer: offer,
    issuerMetadata,
    txCode: grant.tx_code ? txCode : undefined,
  })

  // 1.0: a fresh c_nonce from the nonce endpoint; draft 13: the token response's.
  let nonce = accessTokenResponse.c_nonce
  let nonceSource = nonce ? 'token_response' : 'none'
  if (issuerMetadata.credentialIssuer.nonce_endpoint) {
    nonce = (await client.requestNonce({ issuerMetadata })).c_nonce
    nonceSource = 'nonce_endpoint'
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
  const configuration = issuerMetadata.credentialIssuer.credential_configurations_supported[configurationId]
  const isMdoc = configuration.format === 'mso_mdoc'
  if (typeof credential !== 'string') {
    throw new Error(`no ${isMdoc ? 'mdoc' : 'SD-JWT'} in the credential response: ${JSON.stringify(credentialResponse)}`)
  }

  let verified
  let holderBound
  let mdoc
  if (isMdoc) {
    const trustAnchorPem = process.env.MDOC_TRUST_ANCHOR_PEM
    if (!trustAnchorPem) throw new Error('an mso_mdoc credential: set MDOC_TRUST_ANCHOR_PEM to the issuer root certificate')
    const { verifyMdoc } = await import('./mdoc.mjs')
    const result = await verifyMdoc({
      issuer_signed: credential,
      trust_anchor_pem: trustAnchorPem,
      doctype: configuration.doctype,
      device_jwk: proofKey.publicJwk,
    })
    if (!result.ok) throw new Error(`the mdoc does not verify: ${result.error}`)
    verified = { header: null, claims: result.claims }
    holderBound = result.device_key_matches
    mdoc = { doctype: result.doctype, valid_from: result.valid_from, valid_until: result.valid_until }
  } else {
    verified = await verifySdJwtVc(credential)
    holderBound =
      (await jose.calculateJwkThumbprint(verified.payload.cnf?.jwk ?? {}).catch(() => null)) ===
      (await jose.calculateJwkThumbprint(proofKey.publicJwk))
  }

  let notified = false
  if (credentialResponse.notification_id && issuerMetadata.credentialIssuer.notification_endpoint) {
    await client.sendNotification({
      issuerMetadata,
      accessToken: accessTokenResponse.access_token,
      notification: { notificationId: credentialResponse.notification_id, event: 'credential_accepted' },
    })
    notified = true
  }

  console.log(
    JSON.stringify({
      credential_issuer: offer.credential_issuer,
      credential_configuration_id: configurationId,
      detected_version: issuerMetadata.originalDraftVersion,
      nonce_source: nonceSource,
      format: configuration.format,
      credential,
      header: verified.header,
      claims: verified.claims,
      signature_verified: true,
      holder_bound: holderBound,
      notified,
      ...(mdoc ? { mdoc } : {}),
    })
  )
}

// Verifies the issuer's signature with the key published in the JWT VC issuer
// metadata (SD-JWT VC section 5), then decodes the disclosures.
async function verifySdJwtVc(credential) {
  const issuerJwt = credential.split('~')[0]
  const { iss } = jose.decodeJwt(issuerJwt)
  const { kid } = jose.decodeProtectedHeader(issuerJwt)
  const url = new URL(iss)
  const path = url.pathname === '/' ? '' : url.pathname
  const metadataUrl = `${url.origin}/.well-known/jwt-vc-issuer${path}`
  const response = await fetch(metadataUrl, { headers: { accept: 'application/json' } })
  if (!response.ok) throw new Error(`GET ${metadataUrl}: ${response.status}`)
  const metadata = await response.json()
  if (metadata.issuer !== iss) throw new Error(`jwt-vc-issuer metadata names ${metadata.issuer}, credential iss is ${iss}`)
  let jwks = metadata.jwks
  if (!jwks && metadata.jwks_uri) jwks = await (await fetch(metadata.jwks_uri)).json()
  const keys = (jwks?.keys ?? []).filter((k) => !kid || k.kid === kid)
  if (keys.length === 0) throw new Error(`no key ${kid ?? ''} in the jwt-vc-issuer metadata`)

  for (const key of keys) {
    const sdjwt = new SDJwtVcInstance({
      hasher: sdJwtHasher,
      verifier: await ES256.getVerifier(key),
    })
    try {
      const result = await sdjwt.verify(credential)
      const claims = await sdjwt.getClaims(credential)
      return { header: result.header, payload: result.payload, claims }
    } catch (error) {
      if (key === keys[keys.length - 1]) throw error
    }
  }
  throw new Error('unreachable')
}

main().catch(async (error) => {
  let detail = ''
  if (error?.response && typeof error.response.clone === 'function') {
    detail = await error.response.clone().text().catch(() => '')
  } else if (error?.responseText) {
    detail = error.responseText
  } else if (error?.errorResponse) {
    detail = JSON.stringify(error.errorResponse)
  }
  console.error(`wallet.mjs: ${error?.stack ?? error}${detail ? `\nserver answered: ${detail}` : ''}`)
  process.exit(1)
})
