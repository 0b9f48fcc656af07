//! What the function returns for an invocation: an HTTP answer in the shape the event's
//! origin expects (Function URL and HTTP API, REST API, ALB), or a push run's summary.
//!
//! lambda_http's own conversion is private to its `Adapter`, which also decodes text bodies
//! by their charset; the proxy hands blackbox's bytes back as they came, so the shape is
//! built here, field for field as lambda_http 1.3 builds it.

use lambda_blackbox_push::RunSummary;
use lambda_http::aws_lambda_events::alb::AlbTargetGroupResponse;
use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use lambda_http::http::header::SET_COOKIE;
use lambda_http::http::HeaderMap;
use lambda_http::request::RequestOrigin;
use lambda_http::{Body, Response};
use serde::Serialize;

/// The invocation's result, as Lambda hands it to the caller.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum InvocationResponse {
    Http(Box<OriginResponse>),
    Push(Box<RunSummary>),
}

/// An HTTP answer in the shape its event's origin expects.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum OriginResponse {
    ApiGatewayV1(ApiGatewayProxyResponse),
    ApiGatewayV2(ApiGatewayV2httpResponse),
    Alb(AlbTargetGroupResponse),
}

impl OriginResponse {
    pub fn new(origin: &RequestOrigin, response: Response<Body>) -> Self {
        let (parts, body) = response.into_parts();
        let (is_base64_encoded, body) = match body {
            Body::Text(text) => (false, Some(Body::Text(text))),
            Body::Binary(bytes) => (true, Some(Body::Binary(bytes))),
            _ => (false, None),
        };
        let status_code = i64::from(parts.status.as_u16());
        let headers = parts.headers;
        match origin {
            // REST APIs merge `headers` into `multiValueHeaders`: only the latter is set.
            RequestOrigin::ApiGatewayV1 => {
                let mut response = ApiGatewayProxyResponse::default();
                response.status_code = status_code;
                response.is_base64_encoded = is_base64_encoded;
                response.multi_value_headers = headers;
                response.body = body;
                OriginResponse::ApiGatewayV1(response)
            }
            // A target group reads either field, as it is configured: both are set.
            RequestOrigin::Alb => {
                let mut response = AlbTargetGroupResponse::default();
                response.status_code = status_code;
                response.status_description = Some(format!(
                    "{} {}",
                    parts.status.as_u16(),
                    parts.status.canonical_reason().unwrap_or_default()
                ));
                response.is_base64_encoded = is_base64_encoded;
                response.headers = headers.clone();
                response.multi_value_headers = headers;
                response.body = body;
                OriginResponse::Alb(response)
            }
            // Function URLs and HTTP APIs, and any origin a later lambda_http adds; their
            // cookies go in a field of their own.
            _ => {
                let mut headers = headers;
                let cookies = headers
                    .get_all(SET_COOKIE)
                    .iter()
                    .map(|v| v.to_str().unwrap_or_default().to_string())
                    .collect();
                headers.remove(SET_COOKIE);
                let mut response = ApiGatewayV2httpResponse::default();
                response.status_code = status_code;
                response.is_base64_encoded = is_base64_encoded;
                response.headers = headers;
                response.multi_value_headers = HeaderMap::new();
                response.cookies = cookies;
                response.body = body;
                OriginResponse::ApiGatewayV2(response)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::{header, HeaderValue, StatusCode};
    use serde_json::json;

    #[test]
    fn bytes_that_are_not_text_travel_in_base64() {
        let mut answer = Response::new(Body::Binary(vec![0xff, 0x00]));
        *answer.status_mut() = StatusCode::OK;
        answer
            .headers_mut()
            .append(header::SET_COOKIE, HeaderValue::from_static("a=1"));
        let v2 = serde_json::to_value(OriginResponse::new(&RequestOrigin::ApiGatewayV2, answer))
            .unwrap();
        assert_eq!(v2["isBase64Encoded"], true);
        assert_eq!(v2["body"], "/wA=");
        assert_eq!(v2["cookies"], json!(["a=1"]));
        assert_eq!(v2["headers"], json!({}));
    }
}
