// A third-party credential issuer and authorization server built on the
// OpenWallet Foundation packages @openid4vc/openid4vci and @openid4vc/oauth2
// (metadata, offers, token and credential request parsing and checks, access
// tokens, proof verification, responses) and @sd-jwt/sd-jwt-vc (the
// credential), over node:http. tests/integration/interop.rs runs our SDK against it.
//
//   node tests/interop/issuer.mjs [--mode 1.0|draft13|draft11]
//
// Listens on 127.0.0.1 (a free port) and prints one JSON line when ready:
//   {"ready": BASE, "credential_issuer": ID, "mode": "1.0"|"draft13"|"draft11",
//    "mdoc_trust_anchor_pem": PEM|null}
// (the root, generated at startup, of the document signer certificate of the
// mdl_mdoc credentials; null in the draft modes, which have no mdoc).
// The issuer identifier has a path (`/oid4vci`, `/draft13` or `/draft11`), so
// the 1.0 path-inserted and the draft appended well-known URLs differ.
//
// Test-only endpoints:
//   POST /test/offers {"tx_code": bool, "by_reference": bool, "configuration_id": ID}
//        -> {"offer_url", "tx_code", "pre_authorized_code"}
//        (configuration_id defaults to the PID; 1.0 mode also knows mdl_mdoc)
//   GET  /test/requests -> ["GET /.well-known/...", ...] (every request seen)
//   GET  /test/bodies -> [{"route": "POST /draft11/token", "body": {...}}, ...]
//        (the token and credential request bodies seen, token forms as objects)
//
// Mode 1.0: metadata at /.well-known/openid-credential-issuer/oid4vci with
// `credential_metadata`, `dc+sd-jwt`, a nonce endpoint, `credential_configuration_id`
// + `proofs` requests, `credentials` array responses. Mode 1.0 also offers
// `mdl_mdoc`: an `mso_mdoc` mDL (ISO 18013-5) made with @owf/mdoc (see
// mdoc.mjs), bound to the proof key (deviceKey) and signed by a document
// signer certificate under the root printed in the ready line.
// Mode draft13: metadata only at /draft13/.well-known/openid-credential-issuer
// (the 1.0 URL is 404) with `vc+sd-jwt`, top-level `display`, nested-map
// `claims`; no nonce endpoint (`c_nonce` in the token and credential
// responses); requests must carry `format` + `vct` and a singular `proof`;
// the response has a singular `credential`.
// Mode draft11: the library's own draft-11 support. The metadata (at
// /draft11/.well-known/openid-credential-issuer only) is
// `Openid4vciIssuer.getCredentialIssuerMetadataDraft11` of the draft-13
// metadata: a `credentials_supported` array (`id`, `vc+sd-jwt`, `vct`,
// `cryptographic_suites_supported`, `display`; the library drops `claims`,
// `scope` and `proof_types_supported`). The library returns it next to
// `credential_configurations_supported`; this script serves only the
// draft-11 half as the library makes it. Offers come from `createCredentialOffer` with
// `originalDraftVersion: Draft11`, which adds `credentials` and
// `user_pin_required: true`; this script drops the newer
// `credential_configuration_ids` and `tx_code` it also keeps. The token
// endpoint takes the PIN as `user_pin` (`parseAccessTokenRequest` maps it to
// tx_code) and returns `c_nonce`; requests must carry `format` `vc+sd-jwt` +
// `vct` and a singular `proof`; the response has a singular `credential` (and
// `format`, `c_nonce`). No notification endpoint (draft 11 has none), no mdoc.

import crypto from 'node:crypto'
import http from 'node:http'
import {
  clientAuthenticationAnonymous,
  Oauth2AuthorizationServer,
  Oauth2ErrorCodes,
  Oauth2ResourceServer,
  Oauth2ResourceUnauthorizedError,
  Oauth2ServerErrorResponseError,
  preAuthorizedCodeGrantIdentifier,
  SupportedAuthenticationScheme,
} from '@openid4vc/oauth2'
import { Openid4vciIssuer, Openid4vciVersion, setGlobalConfig } from '@openid4vc/openid4vci'
import { ES256 } from '@sd-jwt/crypto-nodejs'
import { SDJwtVcInstance } from '@sd-jwt/sd-jwt-vc'
import * as jose from 'jose'
import { generateKey, makeCallbacks, sdJwtHasher, sdJwtSalt } from './callbacks.mjs'
import { encodeForOid4vci, generateIssuerPki, issueMdoc, MDL_DOCTYPE, MDL_NAMESPACE } from './mdoc.mjs'

// Loopback http for tests only.
setGlobalConfig({ allowInsecureUrls: true })

const modeArg = process.argv.indexOf('--mode')
const MODE = modeArg > 0 ? process.argv[modeArg + 1] : '1.0'
if (MODE !== '1.0' && MODE !== 'draft13' && MODE !== 'draft11') {
  console.error(`issuer.mjs: unknown mode ${MODE} (1.0, draft13 or draft11)`)
  process.exit(2)
}
const DRAFT11 = MODE === 'draft11'
// Draft 13 and draft 11 share most of the pre-1.0 behaviour (no nonce
// endpoint, `format` + `vct` requests, one `proof`, a singular `credential`).
const DRAFT13 = MODE === 'draft13' || DRAFT11
const TENANT = DRAFT11 ? '/draft11' : DRAFT13 ? '/draft13' : '/oid4vci'
const CONFIGURATION_ID = 'eu.europa.ec.eudi.pid_vc_sd_jwt'
const MDL_CONFIGURATION_ID = 'mdl_mdoc'
const VCT = 'urn:eudi:pid:1'
const C_NONCE_LIFETIME = 300

// Keys: one for access tokens (published at jwks_uri), one for credentials
// (published in the JWT VC issuer metadata).
const accessTokenKey = await generateKey()
accessTokenKey.publicJwk.kid = 'at-1'
const credentialKey = await generateKey()
credentialKey.publicJwk.kid = 'credential-key-1'
credentialKey.publicJwk.alg = 'ES256'
credentialKey.publicJwk.use = 'sig'

const callbacks = makeCallbacks({
  privateJwks: [accessTokenKey.privateJwk],
  clientAuthentication: clientAuthenticationAnonymous(),
})
const issuer = new Openid4vciIssuer({ callbacks })
const authorizationServer = new Oauth2AuthorizationServer({ callbacks })
const resourceServer = new Oauth2ResourceServer({ callbacks })

// The mdoc's document signer certificate (C=DE, as issuing_country) and
// its root, the trust anchor a verifier needs. 1.0 mode only.
const mdocSigner = DRAFT13 ? null : await generateIssuerPki({ country: 'DE' })

// The credential: an SD-JWT VC signed with the credential key.
const sdJwtVc = new SDJwtVcInstance({
  hasher: sdJwtHasher,
  saltGenerator: sdJwtSalt,
  signer: await ES256.getSigner(credentialKey.privateJwk),
  signAlg: 'ES256',
})

const server = http.createServer((req, res) => {
  handle(req, res).catch((error) => {
    console.error(`issuer.mjs: ${req.method} ${req.url}: ${error?.stack ?? error}`)
    if (!res.headersSent) send(res, 500, { error: 'server_error', error_description: 'internal error' })
  })
})
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
const BASE = `http://127.0.0.1:${server.address().port}`
const ID = `${BASE}${TENANT}`

const asMetadata = authorizationServer.createAuthorizationServerMetadata({
  issuer: ID,
  token_endpoint: `${ID}/token`,
  jwks_uri: `${ID}/jwks`,
  grant_types_supported: [preAuthorizedCodeGrantIdentifier],
  'pre-authorized_grant_anonymous_access_supported': true,
  token_endpoint_auth_methods_supported: ['none'],
})

const display = [
  { name: 'OWF Interop Issuer', locale: 'en-US' },
  { name: 'Émetteur d’interopérabilité OWF', locale: 'fr-FR' },
]
const claimLabels = {
  given_name: [
    { name: 'Given name', locale: 'en-US' },
    { name: 'Prénom', locale: 'fr-FR' },
  ],
  family_name: [
    { name: 'Family name', locale: 'en-US' },
    { name: 'Nom de famille', locale: 'fr-FR' },
  ],
  birthdate: [
    { name: 'Date of birth', locale: 'en-US' },
    { name: 'Date de naissance', locale: 'fr-FR' },
  ],
  nationalities: [
    { name: 'Nationalities', locale: 'en-US' },
    { name: 'Nationalités', locale: 'fr-FR' },
  ],
}
const addressLabels = {
  locality: [
    { name: 'City', locale: 'en-US' },
    { name: 'Ville', locale: 'fr-FR' },
  ],
  country: [
    { name: 'Country', locale: 'en-US' },
    { name: 'Pays', locale: 'fr-FR' },
  ],
}
const credentialDisplay = [
  { name: 'Personal ID', locale: 'en-US', background_color: '#12107c', text_color: '#FFFFFF' },
  { name: 'Pièce d’identité', locale: 'fr-FR', background_color: '#12107c', text_color: '#FFFFFF' },
]

const common = {
  scope: 'pid',
  vct: VCT,
  cryptographic_binding_methods_supported: ['jwk'],
  credential_signing_alg_values_supported: ['ES256'],
  proof_types_supported: { jwt: { proof_signing_alg_values_supported: ['ES256'] } },
}
const configuration = DRAFT13
  ? {
      ...common,
      format: 'vc+sd-jwt',
      display: credentialDisplay,
      // Draft 13: claims as a nested map.
      claims: {
        ...Object.fromEntries(Object.entries(claimLabels).map(([k, d]) => [k, { display: d }])),
        address: Object.fromEntries(Object.entries(addressLabels).map(([k, d]) => [k, { display: d }])),
      },
    }
  : {
      ...common,
      format: 'dc+sd-jwt',
      credential_metadata: {
        display: credentialDisplay,
        claims: [
          ...Object.entries(claimLabels).map(([k, d]) => ({ path: [k], display: d })),
          ...Object.entries(addressLabels).map(([k, d]) => ({ path: ['address', k], display: d })),
        ],
      },
    }

// The mDL elements the mdl_mdoc credential carries, with English labels.
const mdlClaimLabels = {
  family_name: 'Family name',
  given_name: 'Given name',
  birth_date: 'Date of birth',
  issue_date: 'Date of issue',
  expiry_date: 'Date of expiry',
  issuing_country: 'Issuing country',
  issuing_authority: 'Issuing authority',
  document_number: 'Licence number',
  portrait: 'Portrait',
  driving_privileges: 'Driving privileges',
  un_distinguishing_sign: 'UN distinguishing sign',
  age_over_18: 'Over 18',
}
const mdlConfiguration = {
  format: 'mso_mdoc',
  scope: 'mdl',
  doctype: MDL_DOCTYPE,
  cryptographic_binding_methods_supported: ['cose_key'],
  credential_signing_alg_values_supported: [-7], // ES256 (COSE)
  proof_types_supported: { jwt: { proof_signing_alg_values_supported: ['ES256'] } },
  credential_metadata: {
    display: [{ name: 'Mobile driving licence', locale: 'en-US', background_color: '#0b5d1e', text_color: '#FFFFFF' }],
    claims: Object.entries(mdlClaimLabels).map(([element, name]) => ({
      path: [MDL_NAMESPACE, element],
      display: [{ name, locale: 'en-US' }],
    })),
  },
}
// A tiny JPEG-looking portrait (SOI, APP0 marker, EOI): the bytes matter, not the picture.
const PORTRAIT = Buffer.from('ffd8ffe000104a46494600010100000100010000ffd9', 'hex').toString('base64url')
const mdlElements = () => ({
  family_name: 'Mustermann',
  given_name: 'Erika',
  birth_date: '1964-08-12',
  issue_date: '2024-01-15',
  expiry_date: '2034-01-14',
  issuing_country: 'DE',
  issuing_authority: 'OWF Interop Licensing Authority',
  document_number: 'B072RRE2I55',
  portrait: { bytes_b64url: PORTRAIT },
  driving_privileges: [{ vehicle_category_code: 'B', issue_date: '2024-01-15', expiry_date: '2034-01-14' }],
  un_distinguishing_sign: 'D',
  age_over_18: true,
})

const credentialConfigurations = DRAFT13
  ? { [CONFIGURATION_ID]: configuration }
  : { [CONFIGURATION_ID]: configuration, [MDL_CONFIGURATION_ID]: mdlConfiguration }

const credentialIssuerMetadata = issuer.createCredentialIssuerMetadata({
  credential_issuer: ID,
  credential_endpoint: `${ID}/credential`,
  ...(DRAFT13 ? {} : { nonce_endpoint: `${ID}/nonce` }),
  ...(DRAFT11 ? {} : { notification_endpoint: `${ID}/notification` }),
  display,
  credential_configurations_supported: credentialConfigurations,
})
// What GET on the metadata URL returns. Draft 11: the library's draft-11
// view, without the `credential_configurations_supported` it keeps beside
// `credentials_supported` (a draft-11 issuer has only the latter). The
// library's conversion drops `proof_types_supported` (optional in draft 11):
// the entries keep only `cryptographic_binding_methods_supported`, from
// which the wallet must infer the `jwt` proof.
const servedIssuerMetadata = DRAFT11
  ? (({ credential_configurations_supported, ...draft11 }) => draft11)(
      issuer.getCredentialIssuerMetadataDraft11(credentialIssuerMetadata),
    )
  : credentialIssuerMetadata
const issuerMetadata = {
  credentialIssuer: credentialIssuerMetadata,
  authorizationServers: [asMetadata],
  originalDraftVersion: DRAFT11 ? Openid4vciVersion.Draft11 : DRAFT13 ? Openid4vciVersion.Draft14 : Openid4vciVersion.V1,
  knownCredentialConfigurations: issuer.getKnownCredentialConfigurationsSupported(credentialIssuerMetadata),
}

// State, all in memory.
const offers = new Map() // pre-authorized code -> { txCode, used, configurationId }
const offersByReference = new Map() // id -> offer object
const nonces = new Map() // c_nonce -> expiry (ms)
const notifications = new Set()
const requests = []
const bodies = [] // token and credential request bodies

function freshNonce() {
  const nonce = crypto.randomBytes(16).toString('base64url')
  nonces.set(nonce, Date.now() + C_NONCE_LIFETIME * 1000)
  return nonce
}

function takeNonce(nonce) {
  const expiry = nonce && nonces.get(nonce)
  nonces.delete(nonce)
  return Boolean(expiry && expiry > Date.now())
}

async function handle(req, res) {
  const url = new URL(req.url, BASE)
  const path = url.pathname
  requests.push(`${req.method} ${path}`)
  const route = `${req.method} ${path}`

  // Discovery.
  const issuerMetadataPath = DRAFT13
    ? `${TENANT}/.well-known/openid-credential-issuer`
    : `/.well-known/openid-credential-issuer${TENANT}`
  if (route === `GET ${issuerMetadataPath}`) return send(res, 200, servedIssuerMetadata)
  if (route === `GET /.well-known/oauth-authorization-server${TENANT}`) return send(res, 200, asMetadata)
  if (route === `GET ${TENANT}/jwks`) return send(res, 200, { keys: [accessTokenKey.publicJwk] }, 'application/jwk-set+json')
  if (route === `GET /.well-known/jwt-vc-issuer${TENANT}`) {
    return send(res, 200, { issuer: ID, jwks: { keys: [credentialKey.publicJwk] } })
  }
  if (req.method === 'GET' && path.startsWith(`${TENANT}/offers/`)) {
    const offer = offersByReference.get(path.slice(`${TENANT}/offers/`.length))
    return offer ? send(res, 200, offer) : send(res, 404, { error: 'not_found' })
  }

  // Protocol endpoints.
  if (route === `POST ${TENANT}/token`) return token(req, res, url)
  if (route === `POST ${TENANT}/nonce` && !DRAFT13) {
    return send(res, 200, issuer.createNonceResponse({ cNonce: freshNonce(), cNonceExpiresIn: C_NONCE_LIFETIME }), undefined, {
      'cache-control': 'no-store',
    })
  }
  if (route === `POST ${TENANT}/credential`) return credential(req, res, url)
  if (route === `POST ${TENANT}/notification` && !DRAFT11) return notification(req, res, url)

  // Test endpoints.
  if (route === 'POST /test/offers') return createOffer(req, res)
  if (route === 'GET /test/requests') return send(res, 200, requests)
  if (route === 'GET /test/bodies') return send(res, 200, bodies)
  return send(res, 404, { error: 'not_found', error_description: `no route for ${route}` })
}

async function createOffer(req, res) {
  const options = JSON.parse((await body(req)) || '{}')
  const configurationId = options.configuration_id ?? CONFIGURATION_ID
  if (!Object.hasOwn(credentialConfigurations, configurationId)) {
    return send(res, 400, {
      error: 'invalid_request',
      error_description: `unknown configuration_id ${configurationId}; known: ${Object.keys(credentialConfigurations).join(', ')}`,
    })
  }
  const txCode = options.tx_code === false ? undefined : String(crypto.randomInt(0, 1000000)).padStart(6, '0')
  const preAuthorizedCode = crypto.randomBytes(24).toString('base64url')
  const referenceId = crypto.randomBytes(12).toString('base64url')
  const { credentialOffer, credentialOfferObject } = await issuer.createCredentialOffer({
    issuerMetadata,
    credentialConfigurationIds: [configurationId],
    grants: {
      [preAuthorizedCodeGrantIdentifier]: {
        'pre-authorized_code': preAuthorizedCode,
        ...(txCode ? { tx_code: { input_mode: 'numeric', length: 6, description: 'Code sent by e-mail' } } : {}),
      },
    },
    credentialOfferScheme: 'openid-credential-offer://',
    credentialOfferUri: options.by_reference ? `${ID}/offers/${referenceId}` : undefined,
  })
  let offerObject = credentialOfferObject
  let offerUrl = credentialOffer
  if (DRAFT11) {
    // The library's draft-11 offer carries `credentials` and
    // `user_pin_required` next to the newer members; keep the draft-11 ones.
    const { credential_configuration_ids, grants, ...rest } = credentialOfferObject
    const { tx_code, ...preAuthorized } = grants[preAuthorizedCodeGrantIdentifier]
    offerObject = { ...rest, grants: { ...grants, [preAuthorizedCodeGrantIdentifier]: preAuthorized } }
    if (!options.by_reference) {
      offerUrl = `openid-credential-offer://?${new URLSearchParams({ credential_offer: JSON.stringify(offerObject) })}`
    }
  }
  if (options.by_reference) offersByReference.set(referenceId, offerObject)
  offers.set(preAuthorizedCode, { txCode, used: false, configurationId })
  return send(res, 201, { offer_url: offerUrl, tx_code: txCode ?? null, pre_authorized_code: preAuthorizedCode })
}

async function token(req, res, url) {
  try {
    const accessTokenRequest = Object.fromEntries(new URLSearchParams(await body(req)))
    bodies.push({ route: `${req.method} ${url.pathname}`, body: accessTokenRequest })
    const request = requestLike(req, url)
    const parsed = authorizationServer.parseAccessTokenRequest({ accessTokenRequest, request })
    if (parsed.grant.grantType !== preAuthorizedCodeGrantIdentifier) {
      throw new Oauth2ServerErrorResponseError({
        error: Oauth2ErrorCodes.UnsupportedGrantType,
        error_description: 'only the pre-authorized code grant is supported',
      })
    }
    const offer = offers.get(parsed.grant.preAuthorizedCode)
    if (!offer || offer.used) {
      throw new Oauth2ServerErrorResponseError({
        error: Oauth2ErrorCodes.InvalidGrant,
        error_description: 'unknown or used pre-authorized code',
      })
    }
    await authorizationServer.verifyPreAuthorizedCodeAccessTokenRequest({
      authorizationServerMetadata: asMetadata,
      grant: parsed.grant,
      accessTokenRequest: parsed.accessTokenRequest,
      request,
      expectedPreAuthorizedCode: parsed.grant.preAuthorizedCode,
      expectedTxCode: offer.txCode,
    })
    offer.used = true
    const response = await authorizationServer.createAccessTokenResponse({
      audience: ID,
      authorizationServer: ID,
      signer: { method: 'jwk', alg: 'ES256', publicJwk: accessTokenKey.publicJwk },
      subject: parsed.grant.preAuthorizedCode,
      expiresInSeconds: 600,
      scope: 'pid',
      ...(DRAFT13 ? { cNonce: freshNonce(), cNonceExpiresIn: C_NONCE_LIFETIME } : {}),
    })
    return send(res, 200, response, undefined, { 'cache-control': 'no-store' })
  } catch (error) {
    return sendError(res, error)
  }
}

async function credential(req, res, url) {
  try {
    const { tokenPayload } = await resourceServer.verifyResourceRequest({
      authorizationServers: [asMetadata],
      request: requestLike(req, url),
      resourceServer: ID,
      allowedAuthenticationSchemes: [SupportedAuthenticationScheme.Bearer],
    })
    // The access token's subject is the pre-authorized code of its offer.
    const offered = offers.get(tokenPayload.sub)?.configurationId ?? CONFIGURATION_ID
    const credentialRequest = JSON.parse(await body(req))
    bodies.push({ route: `${req.method} ${url.pathname}`, body: credentialRequest })
    const parsed = issuer.parseCredentialRequest({ issuerMetadata, credentialRequest })
    if (DRAFT13) {
      // A draft-13 (or draft-11) issuer knows `format` + type parameters (or
      // a credential identifier), not `credential_configuration_id`.
      if (parsed.format?.format !== 'vc+sd-jwt' || parsed.format.vct !== VCT) {
        throw new Oauth2ServerErrorResponseError({
          error: 'unsupported_credential_format',
          error_description: `${MODE}: send format vc+sd-jwt and vct ${VCT}`,
        })
      }
      if (DRAFT11 && (credentialRequest.proofs !== undefined || credentialRequest.proof === undefined)) {
        throw new Oauth2ServerErrorResponseError({
          error: Oauth2ErrorCodes.InvalidProof,
          error_description: 'draft 11: send one `proof`, not `proofs`',
        })
      }
    } else if (parsed.credentialConfigurationId !== offered) {
      throw new Oauth2ServerErrorResponseError({
        error: 'unknown_credential_configuration',
        error_description: `send credential_configuration_id ${offered}`,
      })
    }
    const jwts = parsed.proofs?.jwt
    if (!jwts || jwts.length !== 1) {
      throw new Oauth2ServerErrorResponseError({
        error: Oauth2ErrorCodes.InvalidProof,
        error_description: 'exactly one jwt proof is expected',
      })
    }
    const proofNonce = jose.decodeJwt(jwts[0]).nonce
    if (!takeNonce(proofNonce)) {
      throw new Oauth2ServerErrorResponseError({
        error: DRAFT13 ? Oauth2ErrorCodes.InvalidProof : 'invalid_nonce',
        error_description: 'the proof nonce is missing, unknown, used or expired',
        ...(DRAFT13 ? { c_nonce: freshNonce(), c_nonce_expires_in: C_NONCE_LIFETIME } : {}),
      })
    }
    const proof = await issuer.verifyCredentialRequestJwtProof({
      issuerMetadata,
      jwt: jwts[0],
      expectedNonce: proofNonce,
    })
    const holderJwk = proof.signer.publicJwk

    if (!DRAFT13 && parsed.credentialConfigurationId === MDL_CONFIGURATION_ID) {
      // An mdoc whose deviceKey is the proof key (cose_key binding).
      if (holderJwk?.kty !== 'EC' || holderJwk.crv !== 'P-256') {
        throw new Oauth2ServerErrorResponseError({
          error: Oauth2ErrorCodes.InvalidProof,
          error_description: 'the proof key must be a P-256 jwk',
        })
      }
      const issuerSigned = await issueMdoc({
        doctype: MDL_DOCTYPE,
        namespaces: { [MDL_NAMESPACE]: mdlElements() },
        deviceJwk: holderJwk,
        signer: mdocSigner,
      })
      const notificationId = crypto.randomBytes(12).toString('base64url')
      notifications.add(notificationId)
      const response = issuer.createCredentialResponse({
        credentialRequest: parsed,
        credentials: [{ credential: encodeForOid4vci(issuerSigned) }],
        notificationId,
      })
      return send(res, 200, response, undefined, { 'cache-control': 'no-store' })
    }

    const now = Math.floor(Date.now() / 1000)
    const sdJwt = await sdJwtVc.issue(
      {
        iss: ID,
        iat: now,
        exp: now + 365 * 24 * 3600,
        vct: VCT,
        cnf: { jwk: holderJwk },
        given_name: 'Erika',
        family_name: 'Mustermann',
        birthdate: '1964-08-12',
        nationalities: ['DE', 'FR'],
        address: { locality: 'Berlin', country: 'DE' },
      },
      {
        _sd: ['given_name', 'family_name', 'birthdate', 'nationalities', 'address'],
        _sd_decoy: 2,
        nationalities: { _sd: [0, 1] },
        address: { _sd: ['locality', 'country'] },
      },
      { header: { kid: credentialKey.publicJwk.kid, typ: DRAFT13 ? 'vc+sd-jwt' : 'dc+sd-jwt' } }
    )
    // Draft 11 has no notifications.
    const notificationId = DRAFT11 ? undefined : crypto.randomBytes(12).toString('base64url')
    if (notificationId) notifications.add(notificationId)
    const response = issuer.createCredentialResponse({
      credentialRequest: parsed,
      ...(DRAFT13
        ? { credential: sdJwt, cNonce: freshNonce(), cNonceExpiresInSeconds: C_NONCE_LIFETIME }
        : { credentials: [{ credential: sdJwt }] }),
      notificationId,
    })
    return send(res, 200, response, undefined, { 'cache-control': 'no-store' })
  } catch (error) {
    return sendError(res, error)
  }
}

async function notification(req, res, url) {
  try {
    await resourceServer.verifyResourceRequest({
      authorizationServers: [asMetadata],
      request: requestLike(req, url),
      resourceServer: ID,
      allowedAuthenticationSchemes: [SupportedAuthenticationScheme.Bearer],
    })
    const { notification_id: id, event } = JSON.parse(await body(req))
    if (!notifications.has(id)) {
      throw new Oauth2ServerErrorResponseError({ error: 'invalid_notification_id' })
    }
    if (!['credential_accepted', 'credential_failure', 'credential_deleted'].includes(event)) {
      throw new Oauth2ServerErrorResponseError({ error: 'invalid_notification_request' })
    }
    res.writeHead(204).end()
  } catch (error) {
    return sendError(res, error)
  }
}

function requestLike(req, url) {
  const headers = new Headers()
  for (const [name, value] of Object.entries(req.headers)) {
    headers.set(name, Array.isArray(value) ? value.join(', ') : value)
  }
  return { method: req.method, url: url.toString(), headers }
}

function body(req) {
  return new Promise((resolve, reject) => {
    let data = ''
    req.setEncoding('utf8')
    req.on('data', (chunk) => {
      data += chunk
      if (data.length > 1 << 20) reject(new Error('request body too large'))
    })
    req.on('end', () => resolve(data))
    req.on('error', reject)
  })
}

function send(res, status, json, contentType = 'application/json', headers = {}) {
  res.writeHead(status, { 'content-type': contentType, ...headers })
  res.end(JSON.stringify(json))
}

function sendError(res, error) {
  if (error instanceof Oauth2ServerErrorResponseError) {
    return send(res, error.status, error.errorResponse, undefined, { 'cache-control': 'no-store' })
  }
  if (error instanceof Oauth2ResourceUnauthorizedError) {
    return send(res, 401, { error: 'invalid_token' }, undefined, { 'www-authenticate': error.toHeaderValue() })
  }
  if (error instanceof SyntaxError) {
    return send(res, 400, { error: 'invalid_request', error_description: 'body is not JSON' })
  }
  throw error
}

console.log(
  JSON.stringify({ ready: BASE, credential_issuer: ID, mode: MODE, mdoc_trust_anchor_pem: mdocSigner?.root.pem ?? null })
)
