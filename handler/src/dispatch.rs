//! Which invocation is which: a push run goes to push mode; any other event is checked
//! before lambda_http turns it into a request (see `event`), then goes through the proxy.
//! A scrape never enters push mode's code.

use std::sync::Arc;
use std::time::SystemTime;

use lambda_blackbox_push::PushMode;
use lambda_http::lambda_runtime::Diagnostic;
use lambda_http::request::LambdaRequest;
use lambda_http::{service_fn, Adapter, LambdaEvent, Request, Service};
use serde_json::Value;

use crate::error::HandlerError;
use crate::event::{self, InvocationResponse};
use crate::proxy::{upstream_timeout, Proxy};
use crate::push_event::push_run;

/// Serves invocations until the runtime stops.
pub async fn serve(proxy: Proxy, push: Option<PushMode>) -> Result<(), lambda_http::Error> {
    let proxy = Arc::new(proxy);
    let push = Arc::new(push);
    let adapter = {
        let proxy = proxy.clone();
        Adapter::from(service_fn(move |request: Request| {
            let proxy = proxy.clone();
            async move { Ok::<_, lambda_http::Error>(proxy.handle(request).await) }
        }))
    };
    lambda_http::lambda_runtime::run(service_fn(move |invocation: LambdaEvent<Value>| {
        // A service_fn is always ready, so the adapter needs no poll_ready.
        let mut adapter = adapter.clone();
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
            if let Err(malformed) = event::check(&request) {
                tracing::info!(status = 400, "refused: {malformed}");
                let origin = request.request_origin();
                return Ok(InvocationResponse::Malformed(Box::new(
                    malformed.response(&origin),
                )));
            }
            adapter
                .call(LambdaEvent::new(request, context))
                .await
                .map(InvocationResponse::Converted)
                .map_err(Diagnostic::from)
        }
    }))
    .await
}
