// resource.mjs puts oauth2d's access tokens in front of resource servers
// written elsewhere: one express app per audience on 127.0.0.1, each
// protected by express-oauth2-jwt-bearer (Auth0's RFC 9068 middleware),
// and sends every token to every app. It prints one JSON object with
// each app's answer to each token; the Go test (TestRSInteropExpress)
// decides which must pass. Usage:
//
//   node resource.mjs <issuer>
//
// with OAUTH2D_RS_AUDIENCES (the audiences, space-separated, one app
// each) and OAUTH2D_RS_TOKENS (a JSON object: name → token).
import express from 'express';
import { auth } from 'express-oauth2-jwt-bearer';

const issuer = process.argv[2] || process.env.OAUTH2D_ISSUER;
const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`resource: ${name} is not set`);
  return v;
};

// app serves GET /whoami behind the middleware configured by options
// and resolves to its base URL once it listens.
function app(options) {
  const a = express();
  a.get('/whoami', auth(options), (req, res) => {
    res.json({ sub: req.auth.payload.sub, aud: req.auth.payload.aud, typ: req.auth.header.typ });
  });
  // The middleware's errors carry the RFC 6750 status and challenge.
  a.use((err, req, res, _next) => {
    for (const [k, v] of Object.entries(err.headers || {})) res.set(k, v);
    res.status(err.status || 500).json({ error: err.code, message: err.message });
  });
  return new Promise((resolve, reject) => {
    const server = a.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` }));
    server.on('error', reject);
  });
}

async function ask(url, token) {
  const res = await fetch(`${url}/whoami`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, www_authenticate: res.headers.get('www-authenticate'), body: await res.json() };
}

async function main() {
  if (!issuer) throw new Error('resource: usage: node resource.mjs <issuer>');
  const audiences = env('OAUTH2D_RS_AUDIENCES').split(' ');
  const tokens = JSON.parse(env('OAUTH2D_RS_TOKENS'));
  // The configuration an operator of an oauth2d resource server writes:
  // the issuer and its JWKS (no discovery), one audience, the access-token
  // algorithm, and strict RFC 9068 checks (typ at+jwt, sub, client_id,
  // iat, jti). Plain http is accepted as it is: nothing to switch off.
  const configs = audiences.map((audience) => ({
    mode: 'jwks_uri',
    audience,
    options: { issuer, jwksUri: `${issuer}/.well-known/jwks.json`, audience, tokenSigningAlg: 'ES256', strict: true },
  }));
  // With issuerBaseURL the middleware reads discovery and takes the
  // allowed algorithms from id_token_signing_alg_values_supported: the ID
  // token's, not the access token's. README: this refuses ES256 access
  // tokens while ID tokens are RS256 (oauth2d's defaults).
  configs.push({
    mode: 'issuer_base_url',
    audience: audiences[0],
    options: { issuerBaseURL: issuer, audience: audiences[0], tokenSigningAlg: 'ES256', strict: true },
  });
  const apps = [];
  for (const c of configs) {
    const { server, url } = await app(c.options);
    try {
      const answers = {};
      for (const [name, token] of Object.entries(tokens)) answers[name] = await ask(url, token);
      apps.push({ mode: c.mode, audience: c.audience, answers });
    } finally {
      server.close();
      server.closeAllConnections(); // fetch keeps them alive otherwise
    }
  }
  return { issuer, apps };
}

main().then(
  (out) => console.log(JSON.stringify(out)),
  (err) => {
    console.log(JSON.stringify({ issuer, error: `${err.name}: ${err.message}` }));
    process.exitCode = 1;
  },
);
