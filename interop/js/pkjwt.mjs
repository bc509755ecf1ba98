// pkjwt.mjs: private_key_jwt client authentication (RFC 7523 §2.2) as
// oauth4webapi does it: the library signs every client assertion itself
// (its iss, sub, aud, exp, iat, jti and header) with a key the Go test
// generated and registered for the client. Usage:
//
//   node pkjwt.mjs <issuer>
//
// Inputs: OAUTH2D_PK_CLIENT_ID, OAUTH2D_PK_PRIVATE_JWK (a private JWK with
// its kid and alg), OAUTH2D_PK_SCOPE. Prints one JSON object, steps as in
// check.mjs; exits 1 when a step failed.
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';

const issuer = process.argv[2];
const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`pkjwt: ${name} is not set`);
  return v;
};
const insecure = { [oauth.allowInsecureRequests]: true };
const result = { issuer, steps: {} };

async function step(name, fn) {
  try {
    result.steps[name] = { ok: true, ...(await fn()) };
  } catch (err) {
    result.steps[name] = { ok: false, error: `${err.name}: ${err.message}`, code: err.code, cause: err.cause?.error_description };
  }
  return result.steps[name];
}

async function main() {
  const issuerURL = new URL(issuer);
  const res = await oauth.discoveryRequest(issuerURL, { algorithm: 'oauth2', ...insecure });
  const as = await oauth.processDiscoveryResponse(issuerURL, res);
  const jwk = JSON.parse(env('OAUTH2D_PK_PRIVATE_JWK'));
  const key = await jose.importJWK(jwk, jwk.alg, { extractable: false });
  const client = { client_id: env('OAUTH2D_PK_CLIENT_ID') };
  // The assertion as sent, for the Go test to look at.
  let sent;
  const auth = oauth.PrivateKeyJwt({ key, kid: jwk.kid }, {
    [oauth.modifyAssertion]: (header, payload) => { sent = { header: { ...header }, payload: { ...payload } }; },
  });

  await step('discovery', async () => ({
    token_endpoint_auth_methods_supported: as.token_endpoint_auth_methods_supported,
    token_endpoint_auth_signing_alg_values_supported: as.token_endpoint_auth_signing_alg_values_supported,
  }));

  const cc = await step('client_credentials', async () => {
    const r = await oauth.clientCredentialsGrantRequest(as, client, auth,
      new URLSearchParams({ scope: env('OAUTH2D_PK_SCOPE') }), insecure);
    const tok = await oauth.processClientCredentialsResponse(as, client, r);
    return { access_token: tok.access_token, token_type: tok.token_type, scope: tok.scope, assertion: sent };
  });

  await step('introspection', async () => {
    const r = await oauth.introspectionRequest(as, client, auth, cc.access_token, insecure);
    const answer = await oauth.processIntrospectionResponse(as, client, r);
    return { active: answer.active, client_id: answer.client_id };
  });

  await step('revocation', async () => {
    const r = await oauth.revocationRequest(as, client, auth, cc.access_token, insecure);
    await oauth.processRevocationResponse(r);
    return {};
  });

  // A key the client did not register: the library's assertion is
  // well formed, the server must refuse it.
  await step('unregistered_key', async () => {
    const { privateKey } = await jose.generateKeyPair(jwk.alg);
    const other = oauth.PrivateKeyJwt({ key: privateKey, kid: jwk.kid });
    const r = await oauth.clientCredentialsGrantRequest(as, client, other, new URLSearchParams(), insecure);
    return { status: r.status, body: await r.json() };
  });
}

main()
  .catch((err) => { result.error = `${err.name}: ${err.message}`; })
  .finally(() => {
    process.stdout.write(JSON.stringify(result));
    const failed = result.error || Object.values(result.steps).some((s) => !s.ok);
    process.exitCode = failed ? 1 : 0;
  });
