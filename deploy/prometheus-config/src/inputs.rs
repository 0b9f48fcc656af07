//! What the generator reads: the region → Function URL map (in each form a deploy writes
//! it) and the targets file.

use url::Url;

pub use lambda_blackbox_contract::targets_file::{parse_targets, Target};

/// A region and its Function URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    pub url: Url,
}

pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The stacks `cdk deploy --all --outputs-file` writes for the fleet app are named
/// `LambdaBlackbox-<region>`.
const CDK_STACK_PREFIX: &str = "LambdaBlackbox-";

fn function_url(key: &str, value: &serde_json::Value) -> Result<Region, String> {
    // A CDK outputs entry names its region in its `Region` output, or in its stack name.
    let region = value
        .get("Region")
        .and_then(|r| r.as_str())
        .or_else(|| key.strip_prefix(CDK_STACK_PREFIX))
        .unwrap_or(key);
    let text = match value {
        serde_json::Value::String(s) => s.as_str(),
        serde_json::Value::Object(o) => ["url", "functionUrl", "FunctionUrl", "function_url"]
            .iter()
            .find_map(|k| o.get(*k).and_then(|v| v.as_str()))
            .ok_or_else(|| format!("region {region:?}: no \"url\" in {value}"))?,
        other => return Err(format!("region {region:?}: {other} is not a URL")),
    };
    if !is_name(region) {
        return Err(format!(
            "region {region:?}: only letters, digits, '-', '_' and '.' are allowed"
        ));
    }
    let url = Url::parse(text.trim()).map_err(|e| format!("region {region}: {text:?}: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(format!("region {region}: {text:?} is not an http(s) URL"));
    }
    if url.host_str().is_none() {
        return Err(format!("region {region}: {text:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "region {region}: {text:?} has a query or fragment; give the Function URL itself"
        ));
    }
    Ok(Region {
        name: region.to_string(),
        url,
    })
}

/// The region → Function URL map: `{"us-east-1": "https://….lambda-url.us-east-1.on.aws/"}`
/// (as `make fleet-urls` writes it; a value may also be an object with a `url` key), a list
/// of `{"region", "url"}`, or the CDK fleet app's outputs file
/// (`{"LambdaBlackbox-us-east-1": {"FunctionUrl": "…", "Region": "us-east-1", …}}`).
pub fn parse_urls(json: &str) -> Result<Vec<Region>, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let regions = match &v {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| function_url(k, v))
            .collect::<Result<Vec<_>, _>>()?,
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| {
                let region = item
                    .get("region")
                    .and_then(|r| r.as_str())
                    .ok_or_else(|| format!("{item}: no \"region\""))?;
                function_url(region, item)
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err("expected an object of region → Function URL".into()),
    };
    if regions.is_empty() {
        return Err("no regions".into());
    }
    let mut names: Vec<&str> = regions.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("region {} is listed twice", w[0]));
    }
    Ok(regions)
}
