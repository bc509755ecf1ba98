// An MCP server (Streamable HTTP transport) protected by oauth2d.
//
// It is a resource server in OAuth terms: it publishes RFC 9728 protected
// resource metadata naming oauth2d as its authorization server, takes only
// Bearer tokens that oauth2d issued for ITS OWN resource identifier (the
// `aud`), and answers 401 with `WWW-Authenticate: Bearer ...
// resource_metadata="..."` otherwise, which is how an MCP client finds
// where to sign in (MCP authorization, 2025-06-18 and later).
//
//   node server.mjs --issuer http://127.0.0.1:8080 --resource http://127.0.0.1:3000/mcp
//
// --issuer    oauth2d's issuer; its RFC 8414 metadata names the JWKS
// --resource  this server's public URL of the MCP endpoint: its resource
//             identifier, registered at oauth2d as a resource with scope mcp:tools
// --listen    host:port to listen on (default: the --resource URL's)
//
// Prints one JSON line {"listening": "<url>"} on stdout once it serves.
import { parseArgs } from 'node:util';
import { createRemoteJWKSet, jwtVerify, errors as joseErrors } from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { mcpAuthMetadataRouter, getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { InvalidTokenError, ServerError } from '@modelcontextprotocol/sdk/server/auth/errors.js';

// The scope this resource defines; a tool call needs it.
const TOOLS_SCOPE = 'mcp:tools';

const { values: args } = parseArgs({
  options: {
    issuer: { type: 'string' },
    resource: { type: 'string' },
    listen: { type: 'string' },
  },
});
if (!args.issuer || !args.resource) {
  console.error('usage: node server.mjs --issuer URL --resource URL [--listen host:port]');
  process.exit(2);
}
const issuer = args.issuer;
const resource = new URL(args.resource);
const listen = new URL(`http://${args.listen ?? resource.host}`);

// oauth2d's RFC 8414 metadata: where its keys are, and what the SDK's
// metadata router repeats. Bounded: a server that does not answer in
// 10 s is a failed start, not a hang.
async function fetchJSON(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000), redirect: 'error' });
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return res.json();
}
const asMetadata = await fetchJSON(new URL('/.well-known/oauth-authorization-server', issuer));
if (asMetadata.issuer !== issuer) {
  throw new Error(`metadata issuer ${asMetadata.issuer} is not ${issuer} (RFC 8414 §3.3)`);
}
// jose caches the keys and fetches them again, at most every 30 s, for
// a token that names an unknown kid (key rotation).
const jwks = createRemoteJWKSet(new URL(asMetadata.jwks_uri), { timeoutDuration: 5_000 });

// verifyAccessToken does every check of docs/resource-servers.md for
// this server's own audience, and returns the SDK's AuthInfo. Any
// failure of the token itself is an InvalidTokenError (401
// invalid_token); only a failure to reach the keys is a ServerError.
async function verifyAccessToken(token) {
  let payload;
  try {
    ({ payload } = await jwtVerify(token, jwks, {
      issuer,
      audience: resource.href, // a token for another resource (another aud) is refused
      typ: 'at+jwt', // refuses ID tokens, signed with the same keys
      algorithms: ['ES256', 'RS256', 'PS256', 'EdDSA'],
      requiredClaims: ['sub', 'client_id', 'jti', 'iat', 'exp'],
      clockTolerance: 30,
    }));
  } catch (err) {
    if (err instanceof joseErrors.JWKSTimeout || (err instanceof Error && !(err instanceof joseErrors.JOSEError))) {
      throw new ServerError('the authorization server keys could not be fetched');
    }
    throw new InvalidTokenError('the access token is not valid for this server');
  }
  if (payload.cnf !== undefined) {
    // A DPoP-bound token (RFC 9449) is useless without its proof; this
    // server takes Bearer tokens only, so it refuses one.
    throw new InvalidTokenError('a DPoP-bound token cannot be used as a Bearer token');
  }
  return {
    token,
    clientId: payload.client_id,
    scopes: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [],
    expiresAt: payload.exp,
    // jose checked that aud names this server; requireBearerAuth's
    // expectedResource checks it again from here.
    resource: [payload.aud].flat().includes(resource.href) ? resource : undefined,
    extra: { sub: payload.sub, aud: payload.aud },
  };
}

// One MCP server per request: the stateless form of the Streamable HTTP
// transport, so nothing is kept between requests.
function newMcpServer() {
  const server = new McpServer({ name: 'oauth2d-mcp-example', version: '1.0.0' });
  server.registerTool('whoami', {
    title: 'Who am I',
    description: 'The user and scope of the access token this call came with',
  }, async (extra) => {
    const auth = extra.authInfo;
    const who = { sub: auth.extra.sub, client_id: auth.clientId, scope: auth.scopes.join(' '), aud: auth.extra.aud };
    return { content: [{ type: 'text', text: JSON.stringify(who) }], structuredContent: who };
  });
  server.registerTool('time', {
    title: 'Server time',
    description: 'The server clock, in RFC 3339',
  }, async () => ({ content: [{ type: 'text', text: new Date().toISOString() }] }));
  return server;
}

const app = createMcpExpressApp({ host: listen.hostname });
// RFC 9728 metadata at /.well-known/oauth-protected-resource/<path>.
app.use(mcpAuthMetadataRouter({
  oauthMetadata: asMetadata,
  resourceServerUrl: resource,
  scopesSupported: [TOOLS_SCOPE], // not offline_access: it is the authorization server's (SEP-2207)
  resourceName: 'oauth2d MCP example',
}));
const bearer = requireBearerAuth({
  verifier: { verifyAccessToken },
  requiredScopes: [TOOLS_SCOPE],
  resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(resource),
  expectedResource: resource,
});
app.all(resource.pathname, bearer, async (req, res) => {
  if (req.method !== 'POST') {
    // Stateless: no server-to-client stream (GET) and no session (DELETE).
    res.set('Allow', 'POST').status(405).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed' }, id: null });
    return;
  }
  const server = newMcpServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on('close', () => {
    transport.close();
    server.close();
  });
  try {
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  } catch (err) {
    console.error('mcp request:', err);
    if (!res.headersSent) {
      res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal error' }, id: null });
    }
  }
});

const httpServer = app.listen(Number(listen.port), listen.hostname, () => {
  console.log(JSON.stringify({ listening: `http://${listen.host}` }));
});
httpServer.requestTimeout = 30_000;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => httpServer.close(() => process.exit(0)));
}
