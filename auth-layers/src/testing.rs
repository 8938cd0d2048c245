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

/// Sends `request` through `layer` to a service that answers with the headers it received.
pub(crate) async fn received(layer: AddCredentialLayer, request: Request<()>) -> HeaderMap {
    let svc =
        ServiceBuilder::new()
            .layer(layer)
            .service(service_fn(|req: Request<()>| async move {
                Ok::<_, Infallible>(Response::new(req.headers().clone()))
            }));
    svc.oneshot(request).await.expect("infallible").into_body()
}
