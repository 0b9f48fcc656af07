//! Init: the settings read and checked, the warnings an operator should see once, push mode
//! started. Whatever fails here fails Init with its Lambda error type.

use std::path::Path;

use lambda_blackbox_probe::modules::has_ipv6_route;
use lambda_blackbox_push::{PushMode, PushSettings};

use crate::error::HandlerError;
use crate::proxy::Proxy;
use crate::settings::HandlerSettings;

/// The function ready to serve: the proxy, and push mode when it is set.
pub fn start(layer_root: &Path) -> Result<(Proxy, Option<PushMode>), HandlerError> {
    let settings = HandlerSettings::from_env(layer_root)?;
    let push = PushSettings::from_env()?;
    let routes = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
    for warning in warnings(&settings, push.as_ref(), has_ipv6_route(&routes)) {
        tracing::warn!("{warning}");
    }
    let push = push
        .map(PushMode::new)
        .transpose()
        .map_err(HandlerError::PushModeUnavailable)?;
    Ok((Proxy::new(settings), push))
}

/// What works but is likely not what the operator meant.
fn warnings(
    settings: &HandlerSettings,
    push: Option<&PushSettings>,
    has_ipv6_route: bool,
) -> Vec<String> {
    let mut warnings = Vec::new();
    if settings.auth_token.is_none() {
        warnings.push("BLACKBOX_AUTH_TOKEN is not set: anyone who can reach this function's URL can run probes through it".to_string());
    }
    // A Lambda function outside a VPC has no IPv6 route: a module that resolves IPv6
    // first fails on every dual-stack target, which looks like the target being down.
    if !has_ipv6_route {
        warnings.extend(
            settings
                .probe
                .modules
                .preferring_ipv6()
                .iter()
                .map(|m| m.to_string()),
        );
    }
    if push.is_some_and(|push| push.url.scheme() == "http" && push.sends_a_secret()) {
        warnings.push(
            "BLACKBOX_REMOTE_WRITE_URL is http://: the remote-write credentials travel unencrypted"
                .to_string(),
        );
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_blackbox_contract::Environment;

    #[test]
    fn each_warning_says_what_is_at_risk() {
        let config = "modules:\n  dual_stack:\n    prober: http\n";
        let settings = HandlerSettings::from_environment(
            &Environment::from_pairs(&[("BLACKBOX_CONFIG", "/b.yml")], &[("/b.yml", config)]),
            Path::new("/opt"),
        )
        .unwrap();
        let push = PushSettings::from_environment(&Environment::from_pairs(
            &[
                (
                    "BLACKBOX_REMOTE_WRITE_URL",
                    "http://mimir.example/api/v1/push",
                ),
                ("BLACKBOX_REMOTE_WRITE_AUTH", "bearer"),
                ("BLACKBOX_REMOTE_WRITE_TOKEN", "t0k"),
                ("AWS_REGION", "eu-west-1"),
            ],
            &[],
        ))
        .unwrap()
        .unwrap();
        let all = warnings(&settings, Some(&push), false);
        assert!(
            all[0].starts_with("BLACKBOX_AUTH_TOKEN is not set"),
            "{all:?}"
        );
        assert!(
            all.last().unwrap().contains("travel unencrypted"),
            "{all:?}"
        );
        assert!(all.len() > 2, "{all:?}");
        let quiet = crate::settings::test_settings(&[("BLACKBOX_AUTH_TOKEN", "t0k")]).unwrap();
        assert_eq!(warnings(&quiet, None, true), Vec::<String>::new());
    }
}
