// The official MCP TypeScript SDK's client, authorizing at oauth2d the way
// every MCP client does: its first request is refused (401), it follows
// the WWW-Authenticate resource_metadata to the server's RFC 9728
// metadata, from there to oauth2d's RFC 8414 metadata, sends the user to
// the authorization endpoint (code flow, PKCE S256, `resource` = the MCP
// server), exchanges the code, calls a tool, has its access token
// refused, refreshes it, and calls the tool again.
//
//   node client.mjs --server http://127.0.0.1:3000/mcp --client-id mcp-cli
//
// The client's identity, one of:
//   --client-id ID              a client registered beforehand (public, loopback
//                               redirect URI http://127.0.0.1/callback, any port)
//   --register                  none: the SDK registers one at the authorization
//                               server's registration_endpoint (RFC 7591)
//   --client-metadata-url URL   a client ID metadata document (https URL) that
//                               the authorization server fetches; its
//                               redirect_uris must list this client's
// Other flags:
//   --redirect-port N           port of the loopback redirect URI (default: any free one)
//   --timeout S                 give up after S seconds (default 60)
//
// The browser step is someone else's: the authorization URL is printed as
// one JSON line {"authorize": "<url>"} on stdout, and the code comes back
// to http://127.0.0.1:<port>/callback, where this script listens. Then it
// prints {"result": {...}} (or {"error": "..."}) and exits.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const { values: args } = parseArgs({
  options: {
    server: { type: 'string' },
    'client-id': { type: 'string' },
    register: { type: 'boolean', default: false },
    'client-metadata-url': { type: 'string' },
    'redirect-port': { type: 'string', default: '0' },
    timeout: { type: 'string', default: '60' },
  },
});
const identities = [args['client-id'] !== undefined, args.register, args['client-metadata-url'] !== undefined].filter(Boolean);
if (!args.server || identities.length !== 1) {
  console.error('usage: node client.mjs --server URL (--client-id ID | --register | --client-metadata-url URL) [--redirect-port N] [--timeout S]');
  process.exit(2);
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// Bounded: whatever hangs, the process ends.
setTimeout(() => {
  emit({ error: `timed out after ${args.timeout}s` });
  process.exit(1);
}, Number(args.timeout) * 1000).unref();

// The loopback redirect URI (RFC 8252 §7.3): the authorization server
// sends the browser here with the code.
let deliverCallback;
const callbackParams = new Promise((resolve) => { deliverCallback = resolve; });
const callbackServer = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (req.method !== 'GET' || url.pathname !== '/callback') {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end('<!doctype html><title>Signed in</title><p id="result">You can close this window.</p>');
  deliverCallback(url.searchParams);
});
callbackServer.listen(Number(args['redirect-port']), '127.0.0.1');
await once(callbackServer, 'listening');
const redirectUrl = `http://127.0.0.1:${callbackServer.address().port}/callback`;

// An OAuthClientProvider that keeps everything in memory for this run.
class Provider {
  constructor() {
    this.client = args['client-id'] !== undefined ? { client_id: args['client-id'] } : undefined;
    if (args['client-metadata-url'] !== undefined) this.clientMetadataUrl = args['client-metadata-url'];
    this.stored = undefined;
    this.verifier = undefined;
    this.discovery = undefined;
    this.expectedState = undefined;
    this.authorizationUrls = [];
    this.saved = []; // every token response, for the report
    this.registered = false; // a client_id came from dynamic registration
  }
  get redirectUrl() { return redirectUrl; }
  get clientMetadata() {
    return {
      client_name: 'oauth2d MCP interop client',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none', // public: a native app keeps no secret
    };
  }
  state() {
    this.expectedState = randomBytes(16).toString('base64url');
    return this.expectedState;
  }
  clientInformation() { return this.client; }
  saveClientInformation(info) {
    // Called after a dynamic registration, and to stamp the issuer on
    // what the client already had.
    if (this.client?.client_id !== info.client_id && info.client_id !== this.clientMetadataUrl) this.registered = true;
    this.client = info;
  }
  tokens() { return this.stored; }
  saveTokens(tokens) {
    this.stored = tokens;
    this.saved.push(tokens);
  }
  redirectToAuthorization(url) {
    requestRefreshToken(url.searchParams, this.discovery?.authorizationServerMetadata, this.clientMetadata);
    this.authorizationUrls.push(url.href);
    emit({ authorize: url.href });
  }
  saveCodeVerifier(v) { this.verifier = v; }
  codeVerifier() {
    if (!this.verifier) throw new Error('no code verifier saved');
    return this.verifier;
  }
  saveDiscoveryState(state) { this.discovery = state; }
  discoveryState() { return this.discovery; }
  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'client') this.client = args['client-id'] !== undefined ? { client_id: args['client-id'] } : undefined;
    if (scope === 'all' || scope === 'tokens') this.stored = undefined;
    if (scope === 'all' || scope === 'verifier') this.verifier = undefined;
    if (scope === 'all' || scope === 'discovery') this.discovery = undefined;
  }
}

// requestRefreshToken adds offline_access to a scope when the
// authorization server lists it and the client uses refresh tokens, as
// SEP-2207 (OIDC-flavored refresh token guidance) tells MCP clients to:
// an OIDC-style server such as oauth2d issues a refresh token only for
// it, and an MCP server does not name it (it is not the resource's).
// SDK 1.x does not do it yet (its 2.x line does), so this client does.
function requestRefreshToken(params, asMetadata, clientMetadata) {
  const scopes = (params.get('scope') ?? '').split(' ').filter(Boolean);
  if (!asMetadata?.scopes_supported?.includes('offline_access') || !clientMetadata.grant_types.includes('refresh_token') ||
      scopes.includes('offline_access')) {
    return;
  }
  params.set('scope', [...scopes, 'offline_access'].join(' '));
  params.set('prompt', 'consent'); // what the SDK sends with offline_access (OIDC Core §11)
}

// Dynamic registration asks for the scope the SDK chose; with
// offline_access added (above) the registered client must hold it too.
function registrationFetch(provider) {
  return async (url, init) => {
    const registration = provider.discovery?.authorizationServerMetadata?.registration_endpoint;
    if (registration && String(url) === registration && init?.method === 'POST' && typeof init.body === 'string') {
      const body = JSON.parse(init.body);
      const params = new URLSearchParams(body.scope ? { scope: body.scope } : {});
      requestRefreshToken(params, provider.discovery.authorizationServerMetadata, provider.clientMetadata);
      if (params.get('scope')) body.scope = params.get('scope');
      init = { ...init, body: JSON.stringify(body) };
    }
    return fetch(url, init);
  };
}

const provider = new Provider();
const serverUrl = new URL(args.server);
const transportOptions = { authProvider: provider, fetch: registrationFetch(provider) };
const steps = [];

async function callWhoami(client) {
  const res = await client.callTool({ name: 'whoami', arguments: {} });
  if (res.isError) throw new Error(`whoami: ${JSON.stringify(res.content)}`);
  return res.structuredContent ?? JSON.parse(res.content[0].text);
}

try {
  // 1. Unauthorized: the SDK discovers, registers if it must, and hands
  // the authorization URL to redirectToAuthorization.
  const first = new StreamableHTTPClientTransport(serverUrl, transportOptions);
  try {
    await new Client({ name: 'oauth2d-interop', version: '1.0.0' }).connect(first);
    throw new Error('the MCP server took a request without a token');
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
  }
  steps.push('unauthorized');

  // 2. The browser comes back with the code.
  const params = await callbackParams;
  callbackServer.close();
  if (params.get('error')) throw new Error(`authorization refused: ${params.get('error')} ${params.get('error_description') ?? ''}`);
  if (params.get('state') !== provider.expectedState) throw new Error('the callback state is not the one sent');
  const issuer = provider.discovery?.authorizationServerMetadata?.issuer;
  if (params.get('iss') !== null && params.get('iss') !== issuer) {
    throw new Error(`the callback iss ${params.get('iss')} is not ${issuer} (RFC 9207)`);
  }
  await first.finishAuth(params.get('code'));
  steps.push('code_exchanged');

  // 3. Authorized: connect again and call the tool.
  const client = new Client({ name: 'oauth2d-interop', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(serverUrl, transportOptions));
  const tools = (await client.listTools()).tools.map((t) => t.name).sort();
  const before = await callWhoami(client);
  steps.push('tool_called');

  // 4. The access token stops working (as it does when it expires); the
  // refresh token is kept. The next request is refused, and the SDK
  // refreshes and sends it again.
  const rejected = provider.stored.access_token;
  provider.stored = { ...provider.stored, access_token: `${rejected.slice(0, -4)}AAAA` };
  const after = await callWhoami(client);
  steps.push('refreshed_and_called');
  await client.close();

  // The identity asked for is the one used: the SDK falls back from a
  // metadata document to registration when the server does not take one.
  const clientId = provider.client?.client_id;
  const wanted = args['client-id'] ?? args['client-metadata-url'];
  if (wanted !== undefined ? clientId !== wanted : !provider.registered) {
    throw new Error(`signed in as client ${clientId}, not with the identity asked for`);
  }

  const [codeTokens, refreshedTokens] = [provider.saved[0], provider.saved.at(-1)];
  emit({
    result: {
      steps,
      tools,
      client_id: clientId,
      registered: provider.registered,
      authorization_url: provider.authorizationUrls[0],
      authorization_requests: provider.authorizationUrls.length,
      token_responses: provider.saved.length,
      before,
      after,
      code_tokens: codeTokens,
      refreshed_tokens: refreshedTokens,
    },
  });
  process.exit(0);
} catch (err) {
  emit({ error: String(err?.stack ?? err), steps });
  process.exit(1);
}
