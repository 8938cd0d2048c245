//! What the static-credential layers' tests share.

use std::convert::Infallible;

use auth_core::AuthError;
use http::{HeaderMap, Request, Response, StatusCode};
use tower::{ServiceBuilder, ServiceExt, service_fn};

use crate::AddCredentialLayer;

/// Sends `request` through `layer` to an API that answers 401; the error the layer attached.
pub(crate) async fn error_on_401(
    layer: AddCredentialLayer,
    request: Request<()>,
) -> Option<AuthError> {
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service(service_fn(|_req: Request<()>| async {
            let mut response = Response::new(());
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            Ok::<_, Infallible>(response)
        }));
    let response = svc.oneshot(request).await.expect("infallible");
    response.extensions().get::<AuthError>().cloned()
}

/// The inner service of [`received`]: answers with the headers the request arrived with.
type Echo = tower::util::ServiceFn<
    fn(Request<()>) -> std::future::Ready<Result<Response<HeaderMap>, Infallible>>,
>;

fn echo(request: Request<()>) -> std::future::Ready<Result<Response<HeaderMap>, Infallible>> {
    std::future::ready(Ok(Response::new(request.headers().clone())))
}

/// Sends `request` through `layer` to a service that answers with the headers it received.
pub(crate) async fn received<L>(layer: L, request: Request<()>) -> HeaderMap
where
    L: tower::Layer<Echo>,
    L::Service: tower::Service<Request<()>, Response = Response<HeaderMap>>,
    <L::Service as tower::Service<Request<()>>>::Error: std::fmt::Debug,
{
    let inner: Echo = service_fn(echo as fn(_) -> _);
    let svc = ServiceBuilder::new().layer(layer).service(inner);
    svc.oneshot(request)
        .await
        .expect("the echo never fails")
        .into_body()
}
