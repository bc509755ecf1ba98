// acr.mjs is an OpenID relying party written with oauth4webapi that asks
// oauth2d for an authentication context class (acr_values, OIDC Core
// §3.1.2.1) and reports what the validated ID token says. The Go test
// (internal/web) drives the browser between its two halves:
//
//   node acr.mjs start <issuer>    prints {url, state, nonce, verifier}
//   node acr.mjs finish <issuer>   reads OAUTH2D_CALLBACK, OAUTH2D_STATE,
//                                  OAUTH2D_NONCE, OAUTH2D_CODE_VERIFIER
//                                  and prints the ID token's claims
//
// with OAUTH2D_CLIENT_ID, OAUTH2D_CLIENT_SECRET, OAUTH2D_REDIRECT_URI and
// OAUTH2D_ACR_VALUES set for both.
import * as oauth from 'oauth4webapi';

const [mode, issuer] = process.argv.slice(2);
const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`acr: ${name} is not set`);
  return v;
};
const insecure = { [oauth.allowInsecureRequests]: true };

async function main() {
  const issuerURL = new URL(issuer);
  const as = await oauth.processDiscoveryResponse(issuerURL,
    await oauth.discoveryRequest(issuerURL, { algorithm: 'oidc', ...insecure }));
  const client = { client_id: env('OAUTH2D_CLIENT_ID') };
  const wanted = env('OAUTH2D_ACR_VALUES').split(' ');
  if (mode === 'start') {
    const missing = wanted.filter((v) => !(as.acr_values_supported || []).includes(v));
    if (missing.length > 0) throw new Error(`acr: discovery does not list ${missing}`);
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    const url = new URL(as.authorization_endpoint);
    url.search = new URLSearchParams({
      response_type: 'code', client_id: client.client_id, redirect_uri: env('OAUTH2D_REDIRECT_URI'),
      scope: 'openid', state, nonce, acr_values: wanted.join(' '),
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    }).toString();
    return { url: url.href, state, nonce, verifier };
  }
  const params = oauth.validateAuthResponse(as, client, new URL(env('OAUTH2D_CALLBACK')), env('OAUTH2D_STATE'));
  const res = await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretBasic(env('OAUTH2D_CLIENT_SECRET')),
    params, env('OAUTH2D_REDIRECT_URI'), env('OAUTH2D_CODE_VERIFIER'), insecure);
  const tok = await oauth.processAuthorizationCodeResponse(as, client, res, {
    expectedNonce: env('OAUTH2D_NONCE'), requireIdToken: true,
  });
  const claims = oauth.getValidatedIdTokenClaims(tok);
  // The relying party's own check: the class it asked for, or better.
  return { claims, satisfied: wanted.includes(claims.acr) };
}

main().then(
  (out) => { process.stdout.write(JSON.stringify(out)); },
  (err) => { process.stdout.write(JSON.stringify({ error: `${err.name}: ${err.message}` })); process.exitCode = 1; },
);
