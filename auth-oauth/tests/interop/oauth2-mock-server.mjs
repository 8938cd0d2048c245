// Starts the third-party OAuth 2.0 server `oauth2-mock-server` (pinned in the repository's
// package.json; install with `npm ci`) for auth-oauth's interop tests (tests/interop.rs).
//
// - Listens on 127.0.0.1 with an ephemeral port and prints one JSON line:
//   {"event":"listening","port":N}
// - Prints one JSON line per token request it received ({"event":"token_request",...}: the
//   form fields as the server's own (express) parser decoded them, and the Basic credentials),
//   so the Rust test can check what a real server understood.
// - Makes refresh tokens single-use (rotation): the mock accepts any string by itself; here
//   each refresh token it issued can be spent once, and a spent or unknown one gets
//   `invalid_grant`.
// - Exits when its stdin closes, so it never outlives the test that started it.
import { OAuth2Server } from 'oauth2-mock-server';

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');

const validRefreshTokens = new Set();

// The Basic credentials, Base64-decoded but not form-decoded (RFC 6749 §2.3.1 encoding is the
// client's job; the Rust test checks it).
function basicCredentials(req) {
  const header = req.headers.authorization ?? '';
  if (!header.startsWith('Basic ')) return null;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : { name: decoded.slice(0, colon), pass: decoded.slice(colon + 1) };
}
const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

server.service.on('beforeResponse', (response, req) => {
  print({ event: 'token_request', form: req.body, basic: basicCredentials(req) });
  if (req.body.grant_type === 'refresh_token') {
    if (!validRefreshTokens.delete(req.body.refresh_token)) {
      response.statusCode = 400;
      response.body = { error: 'invalid_grant', error_description: 'refresh token spent or unknown' };
      return;
    }
  }
  if (response.statusCode === 200 && typeof response.body.refresh_token === 'string') {
    validRefreshTokens.add(response.body.refresh_token);
  }
});

await server.start(0, '127.0.0.1');
print({ event: 'listening', port: server.address().port });

process.stdin.resume();
process.stdin.on('end', async () => {
  await server.stop();
  process.exit(0);
});
