//! S3 bucket configuration: aws_s3_bucket_policy and aws_s3_bucket_lifecycle_configuration
//! (the etcd snapshot prefix's encryption requirement and retention, issue #16).
//!
//! Both are one sub-resource of a bucket, id = the bucket name, written with an upsert
//! (PutBucketPolicy, PutBucketLifecycleConfiguration): creating again is the adoption. Refresh
//! is one Get per object in state (one per bucket: buckets are few). The lifecycle type is authoritative: its
//! rules replace every rule the bucket had. Supported lifecycle shape (Terraform's, narrowed):
//! `rule { id, status, filter { prefix }, expiration { days } }`.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_bucket_lifecycle_configuration::GetBucketLifecycleConfigurationOutput as GotLifecycle;
use aws_sdk_s3::operation::get_bucket_policy::GetBucketPolicyOutput as GotPolicy;
use aws_sdk_s3::types::LifecycleRule;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::client::to_provider_error;
use super::declare::{Field, Identity, TagApi, declared, delete_call, observed, updater};
use super::iam::canonical_json;
use super::resource::{Attrs, Create, Ctx, Observed, ResourceType, Result, str_attr};
use crate::provider::{AttributeSchema as A, BlockNesting, ProviderError, Schema};
use crate::value::{Type, Value};

pub fn types() -> Vec<Box<dyn ResourceType>> {
    vec![Box::new(BucketPolicy), Box::new(BucketLifecycle)]
}

fn canonical_attr(a: &mut Attrs, k: &str) {
    if let Some(s) = a.get(k).and_then(|v| v.as_str().map(str::to_string)) {
        a.insert(k.to_string(), Value::string(canonical_json(&s)));
    }
}

/// Not-found codes of a bucket's missing sub-resource (the bucket may still exist).
fn missing(code: &str) -> bool {
    matches!(code, "NoSuchBucketPolicy" | "NoSuchLifecycleConfiguration" | "NoSuchBucket")
}

/// A bucket's configuration as its Get answered (the answer does not name the bucket).
struct Got<T> {
    bucket: String,
    answer: T,
}

/// The bucket a configuration belongs to: its id too.
fn bucket_field<T>() -> Field<Got<T>> {
    Field::attr("bucket", A::required(Type::String).force_new()).read(|g| Value::string(&g.bucket))
}

/// Each prior object's configuration: one `get` (calling `api`) of its bucket's, read through
/// `fields`; None where the bucket has none (or is gone).
async fn observe_each<T, E, F, Fut>(
    cx: &Ctx,
    priors: &[Value],
    api: &str,
    fields: &[Field<Got<T>>],
    get: F,
) -> Result<Vec<Option<Observed>>>
where
    F: Fn(&str) -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut out = Vec::new();
    for p in priors {
        let Some(bucket) = str_attr(p, "bucket") else {
            out.push(None);
            continue;
        };
        match cx.clients.call(api, || get(&bucket)).await {
            Ok(answer) => {
                let got = Got { bucket: bucket.clone(), answer };
                out.push(observed(cx, fields, &got, Some(&bucket), None));
            }
            Err(e) if missing(&e.code) => out.push(None),
            Err(e) => return Err(to_provider_error(api, e)),
        }
    }
    Ok(out)
}

/// Creates a configuration: the same Put an update makes (it replaces whatever the bucket
/// has), under the bucket's name.
async fn put_configuration<T: ResourceType + ?Sized>(
    t: &T,
    cx: &Ctx,
    planned: &Value,
) -> Result<String> {
    let bucket =
        str_attr(planned, "bucket").ok_or_else(|| ProviderError::fatal("bucket is required"))?;
    t.update(cx, &bucket, &Value::Null, planned).await?;
    Ok(bucket)
}

pub struct BucketPolicy;

impl BucketPolicy {
    fn shape() -> Vec<Field<Got<GotPolicy>>> {
        type F = Field<Got<GotPolicy>>;
        vec![
            bucket_field(),
            F::attr("policy", A::required(Type::String))
                .by(updater!("s3:PutBucketPolicy", BucketPolicy::put_policy))
                .read(|g| Value::string(canonical_json(g.answer.policy().unwrap_or("")))),
        ]
    }

    async fn put_policy(cx: &Ctx, id: &str, _prior: &Value, planned: &Value) -> Result<()> {
        let doc = str_attr(planned, "policy").unwrap_or_default();
        let req = cx.clients.s3.put_bucket_policy().bucket(id).policy(doc);
        cx.clients.run("s3:PutBucketPolicy", || req.clone().send()).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResourceType for BucketPolicy {
    declared!(
        "aws_s3_bucket_policy",
        "A bucket's resource policy.",
        BucketPolicy::shape(),
        TagApi::None,
        // Put* replaces whatever configuration the bucket has.
        Identity::Overwrite,
    );
    fn normalize(&self, a: &mut Attrs) {
        canonical_attr(a, "policy");
    }
    async fn observe(&self, cx: &Ctx, priors: &[Value]) -> Result<Vec<Option<Observed>>> {
        let get = |b: &str| cx.clients.s3.get_bucket_policy().bucket(b).send();
        observe_each(cx, priors, "s3:GetBucketPolicy", &Self::shape(), get).await
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        put_configuration(self, cx, c.planned).await
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<()> {
        let req = cx.clients.s3.delete_bucket_policy().bucket(id);
        delete_call(cx, "s3:DeleteBucketPolicy", None, || req.clone().send()).await
    }
}

// ---------------------------------------------------------------------------------------------

pub struct BucketLifecycle;

/// One rule as the configuration and the refresh both shape it.
fn rule_value(id: &str, enabled: bool, prefix: &str, days: i32) -> Value {
    Value::from_json(&serde_json::json!({
        "id": id,
        "status": if enabled { "Enabled" } else { "Disabled" },
        "filter": [{ "prefix": prefix }],
        "expiration": [{ "days": days }],
    }))
}

/// The rules of a planned value: (id, enabled, prefix, days).
fn planned_rules(planned: &Value) -> Result<Vec<(String, bool, String, i32)>> {
    let json = planned.get_attr("rule").map(|r| r.to_json()).unwrap_or_default();
    let mut out = Vec::new();
    for r in json.as_array().cloned().unwrap_or_default() {
        let id = r["id"].as_str().unwrap_or("").to_string();
        let enabled = r["status"].as_str().unwrap_or("Enabled") == "Enabled";
        let prefix = r["filter"][0]["prefix"].as_str().unwrap_or("").to_string();
        let days = r["expiration"][0]["days"]
            .as_f64()
            .or_else(|| r["expiration"][0]["days"].as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| {
                ProviderError::fatal(format!("rule {id:?}: expiration.days is required"))
            })?;
        out.push((id, enabled, prefix, days as i32));
    }
    Ok(out)
}

/// A rule as the refresh reads it (the prefix of its filter, or the deprecated rule-level one).
fn rule_of(r: &LifecycleRule) -> Value {
    let prefix = r
        .filter()
        .and_then(|f| f.prefix())
        .or_else(|| {
            #[allow(deprecated)]
            r.prefix()
        })
        .unwrap_or("");
    rule_value(
        r.id().unwrap_or(""),
        r.status().as_str() == "Enabled",
        prefix,
        r.expiration().and_then(|e| e.days()).unwrap_or(0),
    )
}

impl BucketLifecycle {
    fn shape() -> Vec<Field<Got<GotLifecycle>>> {
        type F = Field<Got<GotLifecycle>>;
        vec![
            bucket_field(),
            F::block(
                "rule",
                BlockNesting::List,
                Schema::new()
                    .attr("id", A::required(Type::String))
                    .attr("status", A::required(Type::String))
                    .block(
                        "filter",
                        BlockNesting::List,
                        Schema::new().attr("prefix", A::required(Type::String)),
                    )
                    .block(
                        "expiration",
                        BlockNesting::List,
                        Schema::new().attr("days", A::required(Type::Number)),
                    ),
            )
            .by(updater!("s3:PutBucketLifecycleConfiguration", BucketLifecycle::put_rules))
            .read(|g| Value::List(g.answer.rules().iter().map(rule_of).collect())),
        ]
    }

    async fn put_rules(cx: &Ctx, id: &str, _prior: &Value, planned: &Value) -> Result<()> {
        use aws_sdk_s3::types::{
            BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration,
            LifecycleRuleFilter,
        };
        let fatal = |e: aws_sdk_s3::error::BuildError| ProviderError::fatal(e.to_string());
        let rule = |(rid, enabled, prefix, days): (String, bool, String, i32)| {
            let status =
                if enabled { ExpirationStatus::Enabled } else { ExpirationStatus::Disabled };
            LifecycleRule::builder()
                .id(rid)
                .status(status)
                .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
                .expiration(LifecycleExpiration::builder().days(days).build())
                .build()
        };
        let rules = planned_rules(planned)?.into_iter().map(rule).collect::<Result<_, _>>();
        let conf = BucketLifecycleConfiguration::builder().set_rules(Some(rules.map_err(fatal)?));
        let req = cx.clients.s3.put_bucket_lifecycle_configuration().bucket(id);
        let req = req.lifecycle_configuration(conf.build().map_err(fatal)?);
        cx.clients.run("s3:PutBucketLifecycleConfiguration", || req.clone().send()).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ResourceType for BucketLifecycle {
    declared!(
        "aws_s3_bucket_lifecycle_configuration",
        "A bucket's lifecycle rules (authoritative): expiration by key prefix.",
        BucketLifecycle::shape(),
        TagApi::None,
        // Put* replaces whatever configuration the bucket has.
        Identity::Overwrite,
    );
    fn normalize(&self, a: &mut Attrs) {
        // The canonical shape: rules as the refresh builds them (numbers as numbers).
        if let Some(r) = a.get("rule")
            && let Ok(rules) =
                planned_rules(&Value::from_json(&serde_json::json!({ "rule": r.to_json() })))
        {
            let rules = rules.iter().map(|(id, en, p, d)| rule_value(id, *en, p, *d)).collect();
            a.insert("rule".into(), Value::List(rules));
        }
    }
    async fn observe(&self, cx: &Ctx, priors: &[Value]) -> Result<Vec<Option<Observed>>> {
        let get = |b: &str| cx.clients.s3.get_bucket_lifecycle_configuration().bucket(b).send();
        let api = "s3:GetBucketLifecycleConfiguration";
        observe_each(cx, priors, api, &Self::shape(), get).await
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String> {
        put_configuration(self, cx, c.planned).await
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<()> {
        let req = cx.clients.s3.delete_bucket_lifecycle().bucket(id);
        delete_call(cx, "s3:DeleteBucketLifecycle", None, || req.clone().send()).await
    }
}
