//! SigV4 for Amazon Managed Service for Prometheus (service `aps`), by `aws-sigv4`: the
//! headers to add to a remote-write request so that AMP takes it as the function's role.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign as sign_request, SignableBody, SignableRequest, SigningSettings,
};
use aws_sigv4::sign::v4;
use http::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use super::settings::AwsCredentials;

pub const SERVICE: &str = "aps";

/// The headers that sign a POST of `body` to `url` carrying `headers`: `Authorization`,
/// `X-Amz-Date`, and `X-Amz-Security-Token` with a session token (a role's credentials).
pub fn sign(
    url: &Url,
    headers: &HeaderMap,
    body: &[u8],
    region: &str,
    credentials: &AwsCredentials,
    now: SystemTime,
) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let identity = Credentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.expose().to_string(),
        credentials
            .session_token
            .as_ref()
            .map(|t| t.expose().to_string()),
        None,
        "lambda-environment",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let text_headers: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
        .collect();
    let request = SignableRequest::new(
        "POST",
        url.as_str(),
        text_headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _signature) = sign_request(request, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let (signed, _query) = instructions.into_parts();
    signed
        .into_iter()
        .map(|header| {
            let name = HeaderName::from_static(header.name());
            let mut value = HeaderValue::from_str(header.value()).map_err(|e| e.to_string())?;
            value.set_sensitive(header.sensitive());
            Ok((name, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_blackbox_contract::Secret;

    fn credentials(session: Option<&str>) -> AwsCredentials {
        AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()),
            session_token: session.map(|s| Secret::new(s.into())),
        }
    }

    #[test]
    fn the_signature_names_aps_the_region_and_the_signed_headers() {
        let url = Url::parse(
            "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write",
        )
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("content-encoding", HeaderValue::from_static("snappy"));
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_796_000_000);
        let signed = sign(
            &url,
            &headers,
            b"body",
            "eu-west-1",
            &credentials(Some("tok")),
            now,
        )
        .unwrap();
        let get = |name: &str| {
            signed
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.to_str().unwrap().to_string())
        };
        let authorization = get("authorization").expect("signed");
        assert!(
            authorization.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261130/eu-west-1/aps/aws4_request, SignedHeaders="
            ),
            "{authorization}"
        );
        assert!(
            authorization.contains("content-encoding"),
            "{authorization}"
        );
        assert!(
            authorization.contains("x-amz-security-token"),
            "{authorization}"
        );
        assert_eq!(get("x-amz-security-token").as_deref(), Some("tok"));
        assert_eq!(get("x-amz-date").as_deref(), Some("20261130T005320Z"));
        let again = sign(
            &url,
            &headers,
            b"body",
            "eu-west-1",
            &credentials(Some("tok")),
            now,
        )
        .unwrap();
        assert_eq!(signed, again, "the same request signs the same");
        let other_body = sign(
            &url,
            &headers,
            b"other",
            "eu-west-1",
            &credentials(Some("tok")),
            now,
        )
        .unwrap();
        assert_ne!(signed, other_body, "the body is signed");
        let without = sign(
            &url,
            &headers,
            b"body",
            "eu-west-1",
            &credentials(None),
            now,
        )
        .unwrap();
        assert!(without.iter().all(|(n, _)| n != "x-amz-security-token"));
    }
}
