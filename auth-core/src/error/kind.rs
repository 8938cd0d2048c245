//! [`ErrorKind`]: what went wrong, for code, with the hint each kind gives people.

/// What went wrong, for matching in code. New kinds may be added in minor releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The token endpoint answered `invalid_request` (RFC 6749 §5.2).
    InvalidRequest,
    /// The token endpoint answered `invalid_client`: the client id, secret or client
    /// authentication method was not accepted.
    InvalidClient,
    /// The token endpoint answered `invalid_grant`: the refresh token, code, or user credentials
    /// were rejected.
    InvalidGrant,
    /// The token endpoint answered `invalid_scope`.
    InvalidScope,
    /// The token endpoint answered `invalid_target` (RFC 8707 resource indicators).
    InvalidTarget,
    /// The token endpoint answered `unauthorized_client`.
    UnauthorizedClient,
    /// The token endpoint answered `unsupported_grant_type`.
    UnsupportedGrantType,
    /// The API answered 401 Unauthorized.
    Unauthorized,
    /// The API answered 403 Forbidden.
    Forbidden,
    /// The token endpoint failed in another way (5xx, unknown error code, refused redirect).
    TokenEndpoint,
    /// The request could not be sent or the response not read (connection refused, TLS, reset).
    Transport,
    /// An operation did not finish within its deadline.
    Timeout,
    /// A response could not be understood (not JSON, missing `access_token`, bad `expires_in`).
    MalformedResponse,
    /// The token endpoint issued a token of a type other than `Bearer` (`MAC`, `DPoP`, `N_A`, …)
    /// and no header prefix was configured, so there is no known way to send it.
    UnsupportedTokenType,
    /// The configuration is invalid (bad header name, empty secret, not a URL, …).
    Config,
    /// Reading or writing a [`TokenStore`](crate::TokenStore) failed.
    Store,
    /// Nobody signed in yet: the grant refreshes from a stored refresh token and the store
    /// holds none (the authorization code flow has not been run, or its provider returned no
    /// refresh token).
    NotSignedIn,
    /// A request could not be prepared (for example its URI could not take a query parameter).
    Request,
    /// A request reached a keyed token layer (one token per user or tenant) without the key
    /// that says whose token it needs; it is never sent with another key's token.
    NoTokenKey,
    /// The user (or the server on their behalf) refused the authorization request
    /// (`access_denied`, RFC 6749 §4.1.2.1, RFC 8628 §3.5).
    AccessDenied,
    /// The device code expired before the user approved it (`expired_token`, RFC 8628 §3.5).
    ExpiredToken,
}

impl ErrorKind {
    /// Whether retrying the same operation later can succeed without anyone changing anything.
    ///
    /// `invalid_client`, `invalid_grant` and configuration errors cannot heal by themselves, so a
    /// cache does not retry them in a loop.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::TokenEndpoint
                | ErrorKind::Transport
                | ErrorKind::Timeout
                | ErrorKind::MalformedResponse
                | ErrorKind::Store
        )
    }

    /// Maps an RFC 6749 §5.2 / RFC 8707 / RFC 8628 §3.5 error code to a kind; unknown codes become
    /// [`ErrorKind::TokenEndpoint`].
    pub fn from_oauth_code(code: &str) -> ErrorKind {
        match code {
            "invalid_request" => ErrorKind::InvalidRequest,
            "invalid_client" => ErrorKind::InvalidClient,
            "invalid_grant" => ErrorKind::InvalidGrant,
            "invalid_scope" => ErrorKind::InvalidScope,
            "invalid_target" => ErrorKind::InvalidTarget,
            "unauthorized_client" => ErrorKind::UnauthorizedClient,
            "unsupported_grant_type" => ErrorKind::UnsupportedGrantType,
            "access_denied" => ErrorKind::AccessDenied,
            "expired_token" => ErrorKind::ExpiredToken,
            _ => ErrorKind::TokenEndpoint,
        }
    }

    /// What to check, following the troubleshooting matrix of the design.
    pub fn hint(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => {
                "a required parameter is missing or repeated: check the grant's parameters \
                 (scope, audience, resource, redirect URI) against the provider's documentation"
            }
            ErrorKind::InvalidClient => {
                "check the client id and secret, and the client authentication method \
                 (Basic header vs request body; try `auto`)"
            }
            ErrorKind::InvalidGrant => {
                "the refresh token or authorization code may be expired, revoked or already used, \
                 the user credentials may be wrong, or the redirect URI may not match the one \
                 registered"
            }
            ErrorKind::InvalidScope => {
                "a requested scope is not allowed for this client, or the scopes use the wrong \
                 separator (space vs comma)"
            }
            ErrorKind::InvalidTarget => {
                "the requested resource/audience is unknown to the provider or not allowed for \
                 this client"
            }
            ErrorKind::UnauthorizedClient => {
                "this client is not allowed to use this grant type: enable it for the client at \
                 the provider"
            }
            ErrorKind::UnsupportedGrantType => {
                "the provider does not support this grant type at this endpoint: check the token \
                 URL and the grant"
            }
            ErrorKind::Unauthorized => {
                "the credential is wrong, expired or missing, or sent in the wrong place: check \
                 header vs query parameter, the header or parameter name, and the prefix"
            }
            ErrorKind::Forbidden => {
                "the credential was accepted but lacks permission: check the granted scopes and \
                 the account's roles"
            }
            ErrorKind::TokenEndpoint => {
                "the token endpoint failed; if this is intermittent, check token expiry, refresh \
                 token rotation and clock skew"
            }
            ErrorKind::Transport => {
                "check the URL, that the server is reachable, and TLS settings (CA roots, client \
                 certificate)"
            }
            ErrorKind::Timeout => {
                "the server did not answer in time: check it is reachable and raise the timeout \
                 if it is slow"
            }
            ErrorKind::MalformedResponse => {
                "the response is not a standard token response: check the token URL, or map the \
                 field names with `key_map`"
            }
            ErrorKind::UnsupportedTokenType => {
                "only Bearer tokens are supported: have the provider issue Bearer tokens to this \
                 client, or set an explicit header prefix (`header_prefix`) to send this token \
                 anyway"
            }
            ErrorKind::Config => "fix the configuration value named above",
            ErrorKind::Store => {
                "check the token store's path, its permissions (owner-only, 0600) and free space"
            }
            ErrorKind::Request => "check the request URI",
            ErrorKind::NoTokenKey => {
                "insert the key (user, tenant) into the request's extensions before it reaches \
                 the keyed token layer, e.g. in the middleware that reads the session"
            }
            ErrorKind::NotSignedIn => {
                "sign in first: run the authorization code flow (`tower-auth login NAME` for a \
                 configured connection) so a refresh token is stored, or give the grant an \
                 initial refresh token"
            }
            ErrorKind::AccessDenied => {
                "the sign-in was refused at the provider: sign in again and approve the request \
                 (check that the account may use this client)"
            }
            ErrorKind::ExpiredToken => {
                "the code expired before the sign-in was approved: start the sign-in again and \
                 approve it sooner"
            }
        }
    }

    /// A stable snake_case name (`invalid_client`, `timeout`, …), for metrics labels and
    /// machine-readable output.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::InvalidClient => "invalid_client",
            ErrorKind::InvalidGrant => "invalid_grant",
            ErrorKind::InvalidScope => "invalid_scope",
            ErrorKind::InvalidTarget => "invalid_target",
            ErrorKind::UnauthorizedClient => "unauthorized_client",
            ErrorKind::UnsupportedGrantType => "unsupported_grant_type",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::TokenEndpoint => "token_endpoint",
            ErrorKind::Transport => "transport",
            ErrorKind::Timeout => "timeout",
            ErrorKind::MalformedResponse => "malformed_response",
            ErrorKind::UnsupportedTokenType => "unsupported_token_type",
            ErrorKind::Config => "config",
            ErrorKind::Store => "store",
            ErrorKind::Request => "request",
            ErrorKind::NoTokenKey => "no_token_key",
            ErrorKind::NotSignedIn => "not_signed_in",
            ErrorKind::AccessDenied => "access_denied",
            ErrorKind::ExpiredToken => "expired_token",
        }
    }

    pub(super) fn summary(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "the token endpoint rejected the request as invalid",
            ErrorKind::InvalidClient => "the token endpoint did not accept the client credentials",
            ErrorKind::InvalidGrant => "the token endpoint rejected the grant",
            ErrorKind::InvalidScope => "the token endpoint rejected the requested scope",
            ErrorKind::InvalidTarget => "the token endpoint rejected the requested resource",
            ErrorKind::UnauthorizedClient => "the client is not authorized for this grant type",
            ErrorKind::UnsupportedGrantType => "the token endpoint does not support this grant",
            ErrorKind::Unauthorized => "the server answered 401 Unauthorized",
            ErrorKind::Forbidden => "the server answered 403 Forbidden",
            ErrorKind::TokenEndpoint => "the token endpoint failed",
            ErrorKind::Transport => "the request could not be completed",
            ErrorKind::Timeout => "the operation timed out",
            ErrorKind::MalformedResponse => "the response could not be understood",
            ErrorKind::UnsupportedTokenType => "unsupported token type",
            ErrorKind::Config => "invalid configuration",
            ErrorKind::Store => "the token store failed",
            ErrorKind::Request => "the request could not be prepared",
            ErrorKind::NoTokenKey => "the request names no token key",
            ErrorKind::NotSignedIn => "not signed in",
            ErrorKind::AccessDenied => "the authorization request was denied",
            ErrorKind::ExpiredToken => "the device code expired",
        }
    }
}
