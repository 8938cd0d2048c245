// Starts panva's `oidc-provider` (OpenID Certified; pinned in the repository's package.json;
// install with `npm ci`) for the modern-OAuth interop tests: DPoP (RFC 9449) with nonces, the
// device authorization grant (RFC 8628), token exchange (RFC 8693, registered below as an
// extension grant), revocation (RFC 7009) and introspection (RFC 7662).
//
// Run by `auth_test_support::oidc_provider::OidcProvider::start`. Arguments: one JSON object,
//   {"dpop_nonce": false|true|"userinfo", // require a server-provided DPoP nonce (everywhere, or
//                               // at userinfo only, so a resource server's challenge is seen)
//    "access_token_ttl": secs,  // lifetime of issued access tokens (default 3600)
//    "device_code_ttl": secs,   // lifetime of device codes (default 600)
//    "device_interval": secs}   // adds `interval` to device authorization responses (the
//                               // provider sends none, so clients poll every 5 s, RFC 8628 §3.2)
//
// - Listens on 127.0.0.1 with an ephemeral port; the issuer is http://127.0.0.1:PORT. Prints one
//   JSON line {"event":"listening","port":N} once it serves.
// - Prints one JSON line per token endpoint request it decided, {"event":"grant", "ok": bool,
//   "grant_type", "client_id", "dpop": bool (a DPoP proof came with it), "params": {...},
//   "error"?}, and {"event":"exchange","subject":…,"actor":…} for each token exchange, so the
//   Rust tests check what a real server understood.
// - Exits when its stdin closes, so it never outlives the test that started it.
//
// The provider's own interaction pages (devInteractions: a login form where any account id
// signs in, then a consent form) are used as they are; the Rust side drives them over plain
// HTTP as a browser would.
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

const options = JSON.parse(process.argv[2] ?? '{}');
const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

// The clients the Rust tests use (auth_test_support::oidc_provider names them).
const clients = [
  {
    // A confidential client for client credentials, token exchange and revocation.
    client_id: 'tower-auth-confidential',
    client_secret: 'confidential-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials', 'refresh_token', DEVICE_CODE, TOKEN_EXCHANGE],
    response_types: [],
    redirect_uris: [],
    scope: 'openid offline_access profile email api:read api:write',
  },
  {
    // The same, with client_secret_post (body credentials).
    client_id: 'tower-auth-post',
    client_secret: 'post-secret',
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['client_credentials', 'refresh_token', DEVICE_CODE, TOKEN_EXCHANGE],
    response_types: [],
    redirect_uris: [],
    scope: 'openid offline_access profile email api:read api:write',
  },
  {
    // A public client of the device flow (a CLI, a TV): no client secret.
    client_id: 'tower-auth-device',
    token_endpoint_auth_method: 'none',
    grant_types: ['refresh_token', DEVICE_CODE],
    response_types: [],
    redirect_uris: [],
    scope: 'openid offline_access profile email api:read',
  },
  {
    // A confidential client whose access tokens must be DPoP-bound (RFC 9449 §5.2): a token
    // request without a proof is refused.
    client_id: 'tower-auth-dpop',
    client_secret: 'dpop-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    dpop_bound_access_tokens: true,
    grant_types: ['client_credentials', 'refresh_token', DEVICE_CODE, TOKEN_EXCHANGE],
    response_types: [],
    redirect_uris: [],
    scope: 'openid offline_access profile email api:read',
  },
];

const provider = new Provider(issuer, {
  clients,
  // Any account id signs in; its claims are its id and a derived e-mail.
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@example.test`, email_verified: true };
      },
    };
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: [] },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'api:read', 'api:write'],
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: true },
    revocation: { enabled: true, allowedPolicy: async () => true },
    introspection: { enabled: true, allowedPolicy: async () => true },
    userinfo: { enabled: true },
    dPoP: {
      enabled: true,
      nonceSecret: randomBytes(32),
      requireNonce: (ctx) => options.dpop_nonce === true
        || (options.dpop_nonce === 'userinfo' && ctx.oidc?.route === 'userinfo'),
    },
  },
  // RS256 too (the provider's default list is ES256 and EdDSA), for RSA keys from PEM.
  enabledJWA: { dPoPSigningAlgValues: ['ES256', 'EdDSA', 'Ed25519', 'RS256', 'PS256'] },
  // Refresh tokens for every grant of a client allowed to refresh, offline_access or not.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  // Confidential clients' refresh tokens rotate too, so a spent one is refused.
  rotateRefreshToken: () => true,
  ttl: {
    AccessToken: options.access_token_ttl ?? 3600,
    ClientCredentials: options.access_token_ttl ?? 3600,
    DeviceCode: options.device_code_ttl ?? 600,
    Grant: 3600,
    IdToken: 3600,
    Interaction: 600,
    RefreshToken: 86400,
    Session: 3600,
  },
  // The provider's own pages and errors are enough; no HTML rendering customised.
  renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
});

// Token exchange (RFC 8693) as an extension grant: the subject (and actor) token must be an
// access token this provider issued and still considers valid; the issued token is a new
// access token for the requesting client whose introspection names the subject.
async function findAccessToken(value) {
  return (await provider.AccessToken.find(value)) ?? (await provider.ClientCredentials.find(value));
}

provider.registerGrantType(
  TOKEN_EXCHANGE,
  async (ctx) => {
    const { params, client } = ctx.oidc;
    if (!params.subject_token) throw new errors.InvalidRequest('missing subject_token');
    if (params.subject_token_type !== ACCESS_TOKEN_TYPE) {
      throw new errors.InvalidRequest(`unsupported subject_token_type ${params.subject_token_type}`);
    }
    if (params.requested_token_type && params.requested_token_type !== ACCESS_TOKEN_TYPE) {
      throw new errors.InvalidRequest(`unsupported requested_token_type ${params.requested_token_type}`);
    }
    const subject = await findAccessToken(params.subject_token);
    if (!subject || subject.isExpired) throw new errors.InvalidGrant('subject_token is not an active token');
    let actor;
    if (params.actor_token) {
      if (params.actor_token_type !== ACCESS_TOKEN_TYPE) {
        throw new errors.InvalidRequest('actor_token needs actor_token_type ' + ACCESS_TOKEN_TYPE);
      }
      actor = await findAccessToken(params.actor_token);
      if (!actor || actor.isExpired) throw new errors.InvalidGrant('actor_token is not an active token');
    } else if (params.actor_token_type) {
      throw new errors.InvalidRequest('actor_token_type without actor_token');
    }
    const subjectId = subject.accountId ?? subject.clientId;
    const actorId = actor ? (actor.accountId ?? actor.clientId) : undefined;
    const token = new provider.ClientCredentials({
      client,
      scope: params.scope || undefined,
      extra: { subject: subjectId, ...(actorId ? { act: { sub: actorId } } : {}) },
    });
    ctx.oidc.entity('ClientCredentials', token);
    const value = await token.save();
    print({
      event: 'exchange',
      client_id: client.clientId,
      subject: subjectId,
      actor: actorId ?? null,
      audience: params.audience ?? null,
      resource: params.resource ?? null,
      scope: params.scope ?? null,
    });
    ctx.body = {
      access_token: value,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: token.expiration,
      ...(token.scope ? { scope: token.scope } : {}),
    };
  },
  [
    'subject_token', 'subject_token_type', 'actor_token', 'actor_token_type',
    'requested_token_type', 'audience', 'resource', 'scope',
  ],
);

if (options.device_interval) {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/device/auth' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      ctx.body.interval = options.device_interval;
    }
  });
}

// With nonces required at userinfo only, the token endpoint does not hand nonces out either
// (the provider would otherwise send one with every DPoP answer): the client first meets the
// nonce at the resource server, as with an API that has its own nonce policy.
if (options.dpop_nonce === 'userinfo') {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/token') ctx.remove('dpop-nonce');
  });
}

function grantEvent(ctx, ok, err) {
  const { params, client } = ctx.oidc ?? {};
  const dPoP = ctx.get('DPoP');
  print({
    event: 'grant',
    ok,
    grant_type: params?.grant_type ?? null,
    client_id: client?.clientId ?? null,
    dpop: Boolean(dPoP),
    params: params ? Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)) : {},
    ...(err ? { error: err.error ?? String(err), error_description: err.error_description ?? null } : {}),
  });
}
provider.on('grant.success', (ctx) => grantEvent(ctx, true));
provider.on('grant.error', (ctx, err) => grantEvent(ctx, false, err));
provider.on('revocation.error', (_ctx, err) => print({ event: 'revocation_error', error: err.error ?? String(err) }));
provider.on('server_error', (_ctx, err) => print({ event: 'server_error', error: String(err?.stack ?? err) }));

server.on('request', provider.callback());
print({ event: 'listening', port });

process.stdin.resume();
process.stdin.on('end', () => {
  server.close();
  process.exit(0);
});
