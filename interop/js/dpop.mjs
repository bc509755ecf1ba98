// dpop.mjs: the RFC 9449 and RFC 9126 steps of check.mjs. oauth4webapi
// makes every proof (typ dpop+jwt, htm, htu, iat, jti, ath) with a key the
// Go test generated, so that both runs (push, then redeem) use one key.
//
// Inputs: OAUTH2D_PAR_PUSH=1 for the push run, else OAUTH2D_DPOP_CODE;
// OAUTH2D_DPOP_CLIENT_ID (a public client),
// OAUTH2D_DPOP_CODE_VERIFIER, OAUTH2D_DPOP_NONCE, OAUTH2D_REDIRECT_URI,
// OAUTH2D_DPOP_PRIVATE_JWK (the key, a JWK), OAUTH2D_DPOP_API (a URL of the
// protected API that needs scope profile).
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';

export async function checkDPoP(as, { issuer, env, step, skipped, insecure }) {
  const client = { client_id: env('OAUTH2D_DPOP_CLIENT_ID') };
  const api = new URL(env('OAUTH2D_DPOP_API'));
  const jwk = JSON.parse(env('OAUTH2D_DPOP_PRIVATE_JWK'));
  const { d, ...publicJWK } = jwk;
  const keyPair = {
    privateKey: await jose.importJWK(jwk, 'ES256', { extractable: false }),
    publicKey: await jose.importJWK(publicJWK, 'ES256', { extractable: true }),
  };
  const DPoP = oauth.DPoP(client, keyPair);

  // First run: push the authorization request (RFC 9126) with a DPoP
  // proof, which binds the code to the key (RFC 9449 §10.1); the Go test
  // then sends the browser to the authorization endpoint with the
  // request_uri, and runs this script again with the code.
  if (process.env.OAUTH2D_PAR_PUSH) {
    await step('par_push', async () => {
      const params = new URLSearchParams({
        response_type: 'code', redirect_uri: env('OAUTH2D_REDIRECT_URI'), scope: 'openid profile offline_access',
        nonce: env('OAUTH2D_DPOP_NONCE'), code_challenge_method: 'S256',
        code_challenge: await oauth.calculatePKCECodeChallenge(env('OAUTH2D_DPOP_CODE_VERIFIER')),
      });
      const res = await oauth.pushedAuthorizationRequest(as, client, oauth.None(), params, { DPoP, ...insecure });
      const par = await oauth.processPushedAuthorizationResponse(as, client, res);
      return { request_uri: par.request_uri, expires_in: par.expires_in, endpoint: as.pushed_authorization_request_endpoint };
    });
    return;
  }

  const code = await step('dpop_code', async () => {
    const callback = new URL(env('OAUTH2D_REDIRECT_URI'));
    callback.searchParams.set('code', env('OAUTH2D_DPOP_CODE'));
    callback.searchParams.set('iss', issuer);
    const params = oauth.validateAuthResponse(as, client, callback, oauth.expectNoState);
    const res = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), params,
      env('OAUTH2D_REDIRECT_URI'), env('OAUTH2D_DPOP_CODE_VERIFIER'), { DPoP, ...insecure });
    const tok = await oauth.processAuthorizationCodeResponse(as, client, res, {
      expectedNonce: env('OAUTH2D_DPOP_NONCE'), requireIdToken: true,
    });
    return {
      thumbprint: await DPoP.calculateThumbprint(), token_type: tok.token_type,
      access_token: tok.access_token, refresh_token: tok.refresh_token,
    };
  });
  if (!code) {
    for (const s of ['dpop_api', 'dpop_refresh', 'dpop_refused']) skipped(s, 'no DPoP-bound token');
    return;
  }

  const call = async (accessToken) => {
    const res = await oauth.protectedResourceRequest(accessToken, 'GET', api, undefined, undefined, { DPoP, ...insecure });
    return { status: res.status, body: await res.json() };
  };
  await step('dpop_api', () => call(code.access_token));

  await step('dpop_refresh', async () => {
    const res = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), code.refresh_token, { DPoP, ...insecure });
    const tok = await oauth.processRefreshTokenResponse(as, client, res);
    const after = await call(tok.access_token);
    return { token_type: tok.token_type, refresh_token: tok.refresh_token, api_status: after.status };
  });

  // The same token without its key: as a bearer token, and with the DPoP
  // scheme but no proof. Plain fetch: these are what a thief would send.
  await step('dpop_refused', async () => {
    const out = {};
    for (const [name, scheme] of [['as_bearer', 'Bearer'], ['without_proof', 'DPoP']]) {
      const res = await fetch(api, { headers: { authorization: `${scheme} ${code.access_token}` } });
      out[name] = { status: res.status, www_authenticate: res.headers.get('www-authenticate'), body: await res.json() };
    }
    return out;
  });
}
