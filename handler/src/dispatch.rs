//! Which invocation is which: a push run goes to push mode; any other event is checked
//! before lambda_http turns it into a request (see `event`), goes through the proxy, and
//! is answered in its origin's shape (`response`). A scrape never enters push mode's code.

use std::sync::Arc;
use std::time::SystemTime;

use lambda_blackbox_push::PushMode;
use lambda_http::lambda_runtime::Diagnostic;
use lambda_http::request::LambdaRequest;
use lambda_http::{service_fn, LambdaEvent, Request, RequestExt};
use serde_json::Value;

use crate::error::HandlerError;
use crate::event;
use crate::proxy::{upstream_timeout, Proxy};
use crate::push_event::push_run;
use crate::response::{InvocationResponse, OriginResponse};

/// Serves invocations until the runtime stops.
pub async fn serve(proxy: Proxy, push: Option<PushMode>) -> Result<(), lambda_http::Error> {
    let proxy = Arc::new(proxy);
    let push = Arc::new(push);
    lambda_http::lambda_runtime::run(service_fn(move |invocation: LambdaEvent<Value>| {
        let proxy = proxy.clone();
        let push = push.clone();
        async move {
            let LambdaEvent { payload, context } = invocation;
            if let Some(run) = push_run(&payload) {
                let left = upstream_timeout(None, Some(context.deadline()), SystemTime::now());
                return lambda_blackbox_push::run(
                    &proxy.settings().probe,
                    proxy.blackbox(),
                    (*push).as_ref(),
                    run,
                    left,
                )
                .await
                .map(|summary| InvocationResponse::Push(Box::new(summary)))
                .map_err(|error| {
                    let error = HandlerError::from(error);
                    tracing::error!(error_type = error.error_type(), "{error}");
                    Diagnostic::from(error)
                });
            }
            let request: LambdaRequest = serde_json::from_value(payload)
                .map_err(|e| Diagnostic::from(HandlerError::UnknownEvent(e.to_string())))?;
            let origin = request.request_origin();
            let response = match event::check(&request) {
                Err(malformed) => {
                    tracing::info!(status = 400, "refused: {malformed}");
                    malformed.response()
                }
                Ok(()) => {
                    // lambda_http's Adapter also set X-Amzn-Trace-Id from the context; no
                    // header but Accept and User-Agent reaches blackbox, so it is left out.
                    let request = Request::from(request).with_lambda_context(context);
                    proxy.handle(request).await
                }
            };
            Ok(InvocationResponse::Http(Box::new(OriginResponse::new(
                &origin, response,
            ))))
        }
    }))
    .await
}
