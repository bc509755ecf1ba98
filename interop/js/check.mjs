// check.mjs drives a running oauth2d with two libraries written elsewhere
// (oauth4webapi and jose, both by panva) and prints one JSON object: for
// every step, ok plus what the Go test checks. Usage:
//
//   node check.mjs <issuer>
//
// with the inputs in the environment (see README.md). It exits 1 when any
// step failed, but always prints the JSON first so a caller can tell which.
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';
import { checkDPoP } from './dpop.mjs';

const issuer = process.argv[2] || process.env.OAUTH2D_ISSUER;
const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`check: ${name} is not set`);
  return v;
};

// The test server listens on http://127.0.0.1: oauth4webapi refuses plain
// http unless told, and this flag says nothing else.
const insecure = { [oauth.allowInsecureRequests]: true };

const result = { issuer, steps: {} };

// step runs fn, records its output (or its error) under name, and returns
// the output so later steps can use it; a step whose input failed is
// recorded as skipped rather than run.
async function step(name, fn) {
  try {
    const out = await fn();
    result.steps[name] = { ok: true, ...out };
    return out;
  } catch (err) {
    result.steps[name] = { ok: false, error: `${err.name}: ${err.message}`, code: err.code };
    return undefined;
  }
}

function skipped(name, why) {
  result.steps[name] = { ok: false, error: `skipped: ${why}` };
}

// rejects reports the error code jose gives for a token that must fail.
async function rejects(fn) {
  try {
    await fn();
  } catch (err) {
    return { rejected: true, code: err.code, claim: err.claim, reason: err.reason };
  }
  return { rejected: false };
}

async function main() {
  if (!issuer) throw new Error('check: usage: node check.mjs <issuer>');
  const issuerURL = new URL(issuer);

  let as;
  await step('discovery', async () => {
    const res = await oauth.discoveryRequest(issuerURL, { algorithm: 'oidc', ...insecure });
    as = await oauth.processDiscoveryResponse(issuerURL, res);
    return {
      token_endpoint: as.token_endpoint, jwks_uri: as.jwks_uri,
      dpop_signing_alg_values_supported: as.dpop_signing_alg_values_supported,
    };
  });
  // The DPoP checks run alone, against a server with the protected API,
  // when their inputs are set (see dpop.mjs).
  if (process.env.OAUTH2D_DPOP_CODE || process.env.OAUTH2D_PAR_PUSH) {
    if (!as) {
      skipped('dpop', 'no discovery');
      return;
    }
    await checkDPoP(as, { issuer, env, step, skipped, insecure });
    return;
  }
  if (!as) {
    for (const s of ['client_credentials', 'authorization_code', 'refresh', 'introspection', 'jose']) skipped(s, 'no discovery');
    return;
  }

  const cc = await step('client_credentials', async () => {
    const client = { client_id: env('OAUTH2D_CC_CLIENT_ID') };
    const auth = oauth.ClientSecretBasic(env('OAUTH2D_CC_CLIENT_SECRET'));
    const params = new URLSearchParams({ scope: env('OAUTH2D_CC_SCOPE') });
    const res = await oauth.clientCredentialsGrantRequest(as, client, auth, params, insecure);
    const tok = await oauth.processClientCredentialsResponse(as, client, res);
    return { access_token: tok.access_token, token_type: tok.token_type, scope: tok.scope, expires_in: tok.expires_in };
  });

  const code = await step('authorization_code', async () => {
    const client = { client_id: env('OAUTH2D_CODE_CLIENT_ID') };
    const auth = oauth.ClientSecretBasic(env('OAUTH2D_CODE_CLIENT_SECRET'));
    const redirectURI = env('OAUTH2D_REDIRECT_URI');
    // The callback as oauth2d's authorize endpoint would send it: code and
    // iss (RFC 9207), no state because the request carried none.
    const callback = new URL(redirectURI);
    callback.searchParams.set('code', env('OAUTH2D_CODE'));
    callback.searchParams.set('iss', issuer);
    const params = oauth.validateAuthResponse(as, client, callback, oauth.expectNoState);
    const res = await oauth.authorizationCodeGrantRequest(as, client, auth, params, redirectURI,
      env('OAUTH2D_CODE_VERIFIER'), insecure);
    const tok = await oauth.processAuthorizationCodeResponse(as, client, res, {
      expectedNonce: env('OAUTH2D_NONCE'), requireIdToken: true,
    });
    const claims = oauth.getValidatedIdTokenClaims(tok);
    return {
      access_token: tok.access_token, refresh_token: tok.refresh_token, id_token: tok.id_token,
      token_type: tok.token_type, scope: tok.scope, id_token_sub: claims.sub, id_token_nonce: claims.nonce,
      id_token_aud: claims.aud,
    };
  });

  if (code) {
    await step('refresh', async () => {
      const client = { client_id: env('OAUTH2D_CODE_CLIENT_ID') };
      const auth = oauth.ClientSecretBasic(env('OAUTH2D_CODE_CLIENT_SECRET'));
      const res = await oauth.refreshTokenGrantRequest(as, client, auth, code.refresh_token, insecure);
      const tok = await oauth.processRefreshTokenResponse(as, client, res);
      return { access_token: tok.access_token, refresh_token: tok.refresh_token, scope: tok.scope };
    });
  } else {
    skipped('refresh', 'no authorization code response');
  }

  if (cc) {
    // RFC 9701: oauth4webapi checks the signed answer's typ, alg (the
    // metadata's), iss, aud (our client id) and iat, then its signature
    // against the published keys.
    await step('introspection', async () => {
      const client = { client_id: env('OAUTH2D_CC_CLIENT_ID') };
      const auth = oauth.ClientSecretBasic(env('OAUTH2D_CC_CLIENT_SECRET'));
      const ask = async (token, requestJwtResponse) => {
        const res = await oauth.introspectionRequest(as, client, auth, token, { requestJwtResponse, ...insecure });
        const contentType = res.headers.get('content-type');
        const answer = await oauth.processIntrospectionResponse(as, client, res);
        if (requestJwtResponse) await oauth.validateApplicationLevelSignature(as, res, insecure);
        return { content_type: contentType, answer };
      };
      return {
        plain: await ask(cc.access_token, false),
        signed: await ask(cc.access_token, true),
        signed_inactive: await ask('not-a-token', true),
      };
    });
  } else {
    skipped('introspection', 'no token to introspect');
  }

  if (!cc || !code) {
    skipped('jose', 'no tokens to verify');
    return;
  }
  await step('jose', async () => {
    const jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri));
    const atOptions = { issuer, audience: issuer + '/api', typ: 'at+jwt', algorithms: ['ES256'] };
    const verified = {};
    for (const [name, tok] of [['client_credentials', cc.access_token], ['authorization_code', code.access_token]]) {
      const { payload, protectedHeader } = await jose.jwtVerify(tok, jwks, atOptions);
      verified[name] = { payload, header: protectedHeader };
    }
    // oauth4webapi does not check an id_token's signature when it comes
    // straight from the token endpoint; jose does, with the published keys.
    const idt = await jose.jwtVerify(code.id_token, jwks, { issuer, audience: env('OAUTH2D_CODE_CLIENT_ID') });
    verified.id_token = { payload: idt.payload, header: idt.protectedHeader };

    // RFC 9068 §4: an id_token must never pass as an access token. Ours is
    // signed with another algorithm, which alone refuses it; allowing that
    // algorithm too shows the typ header refuses it as well.
    const idAsAccess = await rejects(() => jose.jwtVerify(code.id_token, jwks, atOptions));
    const anyAlg = { ...atOptions, algorithms: [...atOptions.algorithms, verified.id_token.header.alg] };
    const idAsAccessAnyAlg = await rejects(() => jose.jwtVerify(code.id_token, jwks, anyAlg));
    // A payload that grants itself admin, under the original signature,
    // must fail the signature check.
    const [h, , sig] = code.access_token.split('.');
    const forged = { ...jose.decodeJwt(code.access_token), scope: 'openid admin' };
    const body = jose.base64url.encode(JSON.stringify(forged));
    const tampered = await rejects(() => jose.jwtVerify([h, body, sig].join('.'), jwks, atOptions));
    return { verified, id_token_as_access_token: idAsAccess, id_token_as_access_token_any_alg: idAsAccessAnyAlg, tampered };
  });
}

try {
  await main();
} catch (err) {
  result.error = `${err.name}: ${err.message}`;
}
const failed = result.error || Object.values(result.steps).some((s) => !s.ok);
process.stdout.write(JSON.stringify(result) + '\n');
process.exitCode = failed ? 1 : 0;
