//! S3 bucket configuration: aws_s3_bucket_policy and aws_s3_bucket_lifecycle_configuration
//! (the etcd snapshot prefix's encryption requirement and retention, issue #16).
//!
//! Both are one sub-resource of a bucket, id = the bucket name, written with an upsert
//! (PutBucketPolicy, PutBucketLifecycleConfiguration): creating again is the adoption. Refresh
//! is one Get per object in state (one per bucket: buckets are few). The lifecycle type is
//! authoritative: its rules replace every rule the bucket had. Supported lifecycle shape
//! (Terraform's, narrowed): `rule { id, status, filter { prefix }, expiration { days } }`
//! (`Rule`).

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_bucket_lifecycle_configuration::GetBucketLifecycleConfigurationOutput as GotLifecycle;
use aws_sdk_s3::operation::get_bucket_policy::GetBucketPolicyOutput as GotPolicy;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter,
};
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
        tags: TagApi::None,
        // Put* replaces whatever configuration the bucket has.
        identity: Identity::Overwrite,
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

/// One lifecycle rule, in the shape slipway supports (Terraform's, narrowed):
/// `rule { id, status, filter { prefix }, expiration { days } }`.
struct Rule {
    id: String,
    enabled: bool,
    prefix: String,
    days: i32,
}

impl Rule {
    /// The `rule` block's schema.
    fn schema() -> Schema {
        let one = |k, ty| Schema::new().attr(k, A::required(ty));
        Schema::new()
            .attr("id", A::required(Type::String))
            .attr("status", A::required(Type::String).one_of(&["Enabled", "Disabled"]))
            .block("filter", BlockNesting::List, one("prefix", Type::String))
            .block("expiration", BlockNesting::List, one("days", Type::Number))
    }

    /// The rules of a configured `rule` list (days a number, or a string of one).
    fn configured(rules: &Value) -> Result<Vec<Rule>> {
        let json = rules.to_json();
        let mut out = Vec::new();
        for r in json.as_array().cloned().unwrap_or_default() {
            let id = r["id"].as_str().unwrap_or("").to_string();
            let days = &r["expiration"][0]["days"];
            let days = days.as_f64().or_else(|| days.as_str().and_then(|s| s.parse().ok()));
            let days = days.ok_or_else(|| {
                ProviderError::fatal(format!("rule {id:?}: expiration.days is required"))
            })?;
            let enabled = r["status"].as_str().unwrap_or("Enabled") == "Enabled";
            let prefix = r["filter"][0]["prefix"].as_str().unwrap_or("").to_string();
            out.push(Rule { id, enabled, prefix, days: days as i32 });
        }
        Ok(out)
    }

    /// A rule as S3 lists it (the prefix of its filter, or the deprecated rule-level one).
    fn listed(r: &LifecycleRule) -> Rule {
        #[allow(deprecated)]
        let prefix = r.filter().and_then(|f| f.prefix()).or_else(|| r.prefix());
        Rule {
            id: r.id().unwrap_or("").to_string(),
            enabled: r.status().as_str() == "Enabled",
            prefix: prefix.unwrap_or("").to_string(),
            days: r.expiration().and_then(|e| e.days()).unwrap_or(0),
        }
    }

    /// The canonical value, the same from configuration and from a refresh.
    fn value(&self) -> Value {
        Value::from_json(&serde_json::json!({
            "id": self.id,
            "status": if self.enabled { "Enabled" } else { "Disabled" },
            "filter": [{ "prefix": self.prefix }],
            "expiration": [{ "days": self.days }],
        }))
    }

    /// The rule as PutBucketLifecycleConfiguration takes it.
    fn request(self) -> Result<LifecycleRule> {
        let status =
            if self.enabled { ExpirationStatus::Enabled } else { ExpirationStatus::Disabled };
        LifecycleRule::builder()
            .id(self.id)
            .status(status)
            .filter(LifecycleRuleFilter::builder().prefix(self.prefix).build())
            .expiration(LifecycleExpiration::builder().days(self.days).build())
            .build()
            .map_err(|e| ProviderError::fatal(e.to_string()))
    }
}

pub struct BucketLifecycle;

impl BucketLifecycle {
    fn shape() -> Vec<Field<Got<GotLifecycle>>> {
        type F = Field<Got<GotLifecycle>>;
        vec![
            bucket_field(),
            F::block("rule", BlockNesting::List, Rule::schema())
                .by(updater!("s3:PutBucketLifecycleConfiguration", BucketLifecycle::put_rules))
                .read(|g| {
                    Value::List(g.answer.rules().iter().map(|r| Rule::listed(r).value()).collect())
                }),
        ]
    }

    async fn put_rules(cx: &Ctx, id: &str, _prior: &Value, planned: &Value) -> Result<()> {
        let rules = Rule::configured(&planned.get_attr("rule").unwrap_or(Value::Null))?;
        let rules = rules.into_iter().map(Rule::request).collect::<Result<Vec<_>>>()?;
        let conf = BucketLifecycleConfiguration::builder().set_rules(Some(rules)).build();
        let conf = conf.map_err(|e| ProviderError::fatal(e.to_string()))?;
        let req = cx.clients.s3.put_bucket_lifecycle_configuration().bucket(id);
        let req = req.lifecycle_configuration(conf);
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
        tags: TagApi::None,
        // Put* replaces whatever configuration the bucket has.
        identity: Identity::Overwrite,
    );
    fn normalize(&self, a: &mut Attrs) {
        // The canonical shape: rules as the refresh builds them (numbers as numbers).
        if let Some(rules) = a.get("rule").and_then(|r| Rule::configured(r).ok()) {
            a.insert("rule".into(), Value::List(rules.iter().map(Rule::value).collect()));
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
