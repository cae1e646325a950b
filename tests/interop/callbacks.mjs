// The crypto callbacks the OpenWallet Foundation oid4vc-ts packages ask their
// user for (they bring no crypto of their own), built on node:crypto and jose.
// Shared by issuer.mjs and wallet.mjs.

import crypto from 'node:crypto'
import { calculateJwkThumbprint, HashAlgorithm } from '@openid4vc/oauth2'
import * as jose from 'jose'

const hash = (data, alg) => crypto.createHash(alg.replace('-', '').toLowerCase()).update(data).digest()

/** A fresh P-256 key pair as JWKs. */
export async function generateKey() {
  const { publicKey, privateKey } = await jose.generateKeyPair('ES256', { extractable: true })
  const publicJwk = await jose.exportJWK(publicKey)
  const privateJwk = await jose.exportJWK(privateKey)
  return { publicJwk, privateJwk }
}

const thumbprint = (jwk) =>
  calculateJwkThumbprint({ jwk, hashAlgorithm: HashAlgorithm.Sha256, hashCallback: hash })

/**
 * Callbacks for Openid4vciIssuer / Openid4vciClient / Oauth2* classes.
 * `privateJwks` are the keys the signJwt callback may sign with (found by the
 * thumbprint of the signer's public JWK).
 */
export function makeCallbacks({ privateJwks, clientAuthentication }) {
  return {
    fetch,
    hash,
    generateRandom: (bytes) => crypto.randomBytes(bytes),
    clientAuthentication,
    signJwt: async (signer, { header, payload }) => {
      if (signer.method !== 'jwk') throw new Error(`signer method ${signer.method} is not supported here`)
      const wanted = await thumbprint(signer.publicJwk)
      let privateJwk
      for (const candidate of privateJwks) {
        if ((await thumbprint(candidate)) === wanted) privateJwk = candidate
      }
      if (!privateJwk) throw new Error('no private key for the requested signer')
      const key = await jose.importJWK(privateJwk, signer.alg)
      const jwt = await new jose.SignJWT(payload).setProtectedHeader(header).sign(key)
      return { jwt, signerJwk: signer.publicJwk }
    },
    verifyJwt: async (signer, { compact }) => {
      if (signer.method !== 'jwk') return { verified: false }
      try {
        const key = await jose.importJWK(signer.publicJwk, signer.alg)
        await jose.compactVerify(compact, key)
        return { verified: true, signerJwk: signer.publicJwk }
      } catch {
        return { verified: false }
      }
    },
    decryptJwe: () => {
      throw new Error('JWE is not used in these interop tests')
    },
    encryptJwe: () => {
      throw new Error('JWE is not used in these interop tests')
    },
  }
}

/** SHA-256 for the SD-JWT library (digests of disclosures). */
export const sdJwtHasher = (data, alg) => {
  if (alg && alg.toLowerCase() !== 'sha-256') throw new Error(`unsupported _sd_alg ${alg}`)
  return new Uint8Array(crypto.createHash('sha256').update(data).digest())
}

/** A random salt for disclosures (128 bits, base64url). */
export const sdJwtSalt = (length) => crypto.randomBytes(length).toString('base64url')
