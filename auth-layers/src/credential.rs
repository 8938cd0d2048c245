//! The credential of an [`AddCredential`](crate::AddCredential) service: nothing, a pre-built
//! header value, or a pre-encoded query parameter, with what to say about each on a 401/403.

use std::{fmt, sync::Arc};

use auth_core::{ExposeSecret, SecretString};
use http::{HeaderValue, Request, Uri};

use crate::{
    adapter::OutgoingRequest,
    placement::{HeaderSlot, QueryParam, Rejection},
    response::Detail,
};

/// A fixed credential and what a request carrying it is described as.
#[derive(Clone)]
pub(crate) struct Credential {
    kind: Kind,
    keep_existing: bool,
    /// What a request with the credential carried.
    sent: Detail,
    /// What a request that kept its own credential carried (`keep_existing`).
    kept: Detail,
}

#[derive(Clone)]
enum Kind {
    None,
    Header {
        slot: HeaderSlot,
        prefix: Arc<str>,
        /// Sensitive, with its prefix.
        value: HeaderValue,
    },
    Query(Arc<QueryCredential>),
}

/// A credential sent as a query parameter.
struct QueryCredential {
    param: QueryParam,
    prefix: String,
    /// `name=value`, percent-encoded, ready to append.
    pair: SecretString,
    /// "cannot add the API key query parameter `…` to the request URI".
    unusable_uri: Detail,
}

impl Credential {
    /// No credential at all; `sent` says so.
    pub(crate) fn none(sent: &'static str) -> Self {
        Self {
            kind: Kind::None,
            keep_existing: false,
            sent: Detail::fixed(sent),
            kept: Detail::fixed(sent),
        }
    }

    /// `value` (sensitive, prefix included) in the header of `slot`; `sent` describes it.
    pub(crate) fn header(slot: HeaderSlot, prefix: &str, value: HeaderValue, sent: String) -> Self {
        debug_assert!(value.is_sensitive());
        let kept = format!(
            "the request already carried a `{}` header, which was kept (keep_existing), so the \
             configured credential was not sent",
            slot.display_name()
        );
        Self {
            kind: Kind::Header {
                slot,
                prefix: prefix.into(),
                value,
            },
            keep_existing: false,
            sent: Detail::new(sent),
            kept: Detail::new(kept),
        }
    }

    /// `pair` (`name=value`, percent-encoded) in the query parameter `param`.
    pub(crate) fn query(
        param: QueryParam,
        prefix: String,
        pair: SecretString,
        sent: String,
    ) -> Self {
        let kept = format!(
            "the request already carried a query parameter `{}`, which was kept \
             (keep_existing), so the configured API key was not sent",
            param.name()
        );
        Self {
            kind: Kind::Query(Arc::new(QueryCredential {
                unusable_uri: Detail::new(param.unusable_uri()),
                param,
                prefix,
                pair,
            })),
            keep_existing: false,
            sent: Detail::new(sent),
            kept: Detail::new(kept),
        }
    }

    /// Switches to leaving a credential the request already carries.
    pub(crate) fn keep_existing(&mut self) {
        self.keep_existing = true;
    }

    /// Puts the credential into `request`, replacing any of the same name unless
    /// `keep_existing` was asked for and one is there; returns what the request now carries.
    /// Fails only for a query parameter and a URI that takes none.
    #[inline]
    pub(crate) fn apply<B>(&self, request: &mut Request<B>) -> Result<Detail, Rejection> {
        match &self.kind {
            Kind::Header { slot, value, .. } => {
                if self.keep_existing && request.headers().contains_key(slot.name()) {
                    return Ok(self.kept);
                }
                slot.insert(request.headers_mut(), value.clone());
            }
            Kind::Query(query) => return self.apply_query(query, request.uri_mut()),
            Kind::None => {}
        }
        Ok(self.sent)
    }

    /// [`apply`](Self::apply) for a request an adapter describes (`auth-reqwest`).
    pub(crate) fn apply_to<R: OutgoingRequest + ?Sized>(
        &self,
        request: &mut R,
    ) -> Result<Detail, Rejection> {
        match &self.kind {
            Kind::Header { slot, value, .. } => {
                if self.keep_existing && request.headers().contains_key(slot.name()) {
                    return Ok(self.kept);
                }
                slot.insert(request.headers_mut(), value.clone());
            }
            Kind::Query(query) => {
                let current = request.query().unwrap_or("");
                if self.keep_existing && query.param.carried_in(current) {
                    return Ok(self.kept);
                }
                let new = query.param.replaced_in(current, query.pair.expose_secret());
                request.set_query(&new);
            }
            Kind::None => {}
        }
        Ok(self.sent)
    }

    /// Out of line, so the header path above stays small enough to inline.
    #[inline(never)]
    fn apply_query(&self, query: &QueryCredential, uri: &mut Uri) -> Result<Detail, Rejection> {
        if self.keep_existing && query.param.carried_by(uri) {
            return Ok(self.kept);
        }
        query
            .param
            .try_set(uri, query.pair.expose_secret())
            .map_err(|why| Rejection::new(query.unusable_uri, why))?;
        Ok(self.sent)
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Credential");
        match &self.kind {
            Kind::None => s.field("method", &"none"),
            Kind::Header { slot, prefix, .. } => {
                s.field("header_name", slot).field("prefix", prefix)
            }
            Kind::Query(query) => s
                .field("query_name", &query.param)
                .field("prefix", &query.prefix),
        };
        s.field("keep_existing", &self.keep_existing)
            .finish_non_exhaustive()
    }
}
