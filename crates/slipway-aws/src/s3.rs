//! S3: aws_s3_bucket, aws_s3_object.
//!
//! Bucket names are global: a bucket is adopted by name when its ownership tags say it is
//! ours. Refresh cost: buckets from one ListBuckets plus one GetBucketTagging per bucket in
//! state (S3 has no batched tag read — buckets are few); objects from one ListObjectsV2 per
//! bucket.
//!
//! `content` of aws_s3_object keeps its sensitive mark in state (it is never overwritten by a
//! read); its `etag` (MD5 of the content, as S3 reports for single-part uploads without KMS) is
//! marked sensitive too when the content is, since a hash of a short secret can be guessed.
//!
//! Delete ordering AWS enforces and moto may not: a bucket must be empty (BucketNotEmpty;
//! `force_destroy` empties it first).

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::Bucket as AwsBucket;

use super::client::to_provider_error;
use super::declare::{
    Field, Identity, TagApi, delete_call, erase, observed, put_s3_bucket_tags, s3_bucket_tags,
    updater,
};
use super::iam::owned_by;
use super::resource::{
    Attrs, Create, Ctx, Observed, ResourceType, bool_attr, distinct_attr, str_attr,
};
use crate::provider::{AttributeSchema as A, ProviderError};
use crate::value::{Type, Value};

pub fn types() -> Vec<Box<dyn ResourceType>> {
    vec![Box::new(Bucket), Box::new(Object)]
}

pub struct Bucket;

impl Bucket {
    /// Read from the bucket as ListBuckets lists it.
    fn shape() -> Vec<Field<AwsBucket>> {
        type F = Field<AwsBucket>;
        vec![
            F::attr("bucket", A::required(Type::String).force_new()).read_str(AwsBucket::name),
            F::attr("force_destroy", A::optional(Type::Bool).default(Value::Bool(false)))
                .state_only(),
            F::attr("arn", A::computed(Type::String))
                .read(|b| Value::string(format!("arn:aws:s3:::{}", b.name().unwrap_or("")))),
        ]
    }
}

#[async_trait::async_trait]
impl ResourceType for Bucket {
    fn name(&self) -> &'static str {
        "aws_s3_bucket"
    }
    fn description(&self) -> &'static str {
        "An S3 bucket (e.g. per-node key bundles)."
    }
    fn fields(&self) -> Vec<Field> {
        erase(&Bucket::shape())
    }
    fn tag_api(&self) -> TagApi {
        TagApi::S3Bucket
    }
    fn identity(&self) -> Identity {
        Identity::UniqueKey
    }
    async fn observe(
        &self,
        cx: &Ctx,
        priors: &[Value],
    ) -> Result<Vec<Option<Observed>>, ProviderError> {
        if priors.iter().all(|p| str_attr(p, "id").is_none()) {
            return Ok(priors.iter().map(|_| None).collect());
        }
        let s3 = &cx.clients.s3;
        let listed = cx.clients.run("s3:ListBuckets", || s3.list_buckets().send()).await?;
        let shape = Bucket::shape();
        let bucket = |id: String| {
            let b = listed.buckets().iter().find(|b| b.name() == Some(id.as_str()))?;
            Some((id, b))
        };
        let mut out = Vec::new();
        for p in priors {
            let Some((id, b)) = str_attr(p, "id").and_then(bucket) else {
                out.push(None);
                continue;
            };
            let Some(tags) = s3_bucket_tags(cx, &id).await? else {
                out.push(None);
                continue;
            };
            out.push(observed(cx, &shape, b, Some(&id), Some(tags)));
        }
        Ok(out)
    }
    async fn find_existing(
        &self,
        cx: &Ctx,
        c: Create<'_>,
    ) -> Result<Option<String>, ProviderError> {
        let (planned, tags) = (c.planned, c.tags);
        let Some(name) = str_attr(planned, "bucket") else {
            return Ok(None);
        };
        match s3_bucket_tags(cx, &name).await? {
            None => Ok(None),
            Some(found) if owned_by(cx, &found, tags) => Ok(Some(name)),
            // Ours but untagged (killed between CreateBucket and PutBucketTagging) looks the
            // same as someone else's; CreateBucket answers BucketAlreadyOwnedByYou for the
            // former, which `create` treats as success.
            Some(_) => Ok(None),
        }
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String, ProviderError> {
        let (planned, tags) = (c.planned, c.tags);
        let name = str_attr(planned, "bucket")
            .ok_or_else(|| ProviderError::fatal("bucket is required"))?;
        let s3 = &cx.clients.s3;
        let region = cx.clients.region.clone();
        let r = cx
            .clients
            .call("s3:CreateBucket", || {
                let mut req = s3.create_bucket().bucket(&name);
                // us-east-1 is the one region that refuses an explicit location constraint.
                if region != "us-east-1" {
                    req = req.create_bucket_configuration(
                        aws_sdk_s3::types::CreateBucketConfiguration::builder()
                            .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                                region.as_str(),
                            ))
                            .build(),
                    );
                }
                req.send()
            })
            .await
            .map(|_| ());
        match r {
            Err(e) if e.code == "BucketAlreadyOwnedByYou" => {}
            other => other.map_err(|e| to_provider_error("s3:CreateBucket", e))?,
        }
        put_s3_bucket_tags(cx, &name, tags).await?;
        Ok(name)
    }
    async fn delete(&self, cx: &Ctx, id: &str, prior: &Value) -> Result<(), ProviderError> {
        let s3 = &cx.clients.s3;
        if bool_attr(prior, "force_destroy").unwrap_or(false) {
            loop {
                let listed = match cx
                    .clients
                    .call("s3:ListObjectsV2", || s3.list_objects_v2().bucket(id).send())
                    .await
                {
                    Ok(l) => l,
                    Err(e) if e.is_not_found() => return Ok(()),
                    Err(e) => return Err(to_provider_error("s3:ListObjectsV2", e)),
                };
                let keys: Vec<String> =
                    listed.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect();
                if keys.is_empty() {
                    break;
                }
                for k in keys {
                    delete_call(cx, "s3:DeleteObject", None, || {
                        s3.delete_object().bucket(id).key(&k).send()
                    })
                    .await?;
                }
            }
        }
        delete_call(cx, "s3:DeleteBucket", None, || s3.delete_bucket().bucket(id).send()).await
    }
}

// ---------------------------------------------------------------------------------------------

/// An object; id `bucket/key`. Drift is detected by ETag (content changed outside).
pub struct Object;

/// An object's ETag as ListObjectsV2 lists it, with whether the prior object's content is
/// sensitive (its hash is then marked too).
struct Listed {
    etag: String,
    sensitive: bool,
}

impl Object {
    fn shape() -> Vec<Field<Listed>> {
        type F = Field<Listed>;
        // PutObject overwrites: it is both create and update.
        let put = updater!("s3:PutObject", Object::put_object);
        vec![
            F::attr("bucket", A::required(Type::String).force_new()),
            F::attr("key", A::required(Type::String).force_new()),
            F::attr("content", A::required(Type::String)).by(put),
            F::attr("content_type", A::optional(Type::String)).by(put),
            F::attr("etag", A::computed(Type::String))
                .read(|l| Value::string(&l.etag).mark_if(l.sensitive)),
        ]
    }
}

fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

#[async_trait::async_trait]
impl ResourceType for Object {
    fn name(&self) -> &'static str {
        "aws_s3_object"
    }
    fn description(&self) -> &'static str {
        "An S3 object with inline content (sensitive when the value is)."
    }
    fn fields(&self) -> Vec<Field> {
        erase(&Object::shape())
    }
    fn tag_api(&self) -> TagApi {
        TagApi::None
    }
    fn identity(&self) -> Identity {
        // PutObject replaces whatever is there.
        Identity::Overwrite
    }
    fn normalize(&self, a: &mut Attrs) {
        if let Some(c) = a.get("content").cloned()
            && let Some(s) = c.as_str()
        {
            a.insert("etag".into(), Value::string(md5_hex(s.as_bytes())).mark_if(c.is_sensitive()));
        }
    }
    /// One ListObjectsV2 per bucket (paged), not one HeadObject per object.
    async fn observe(
        &self,
        cx: &Ctx,
        priors: &[Value],
    ) -> Result<Vec<Option<Observed>>, ProviderError> {
        let buckets = distinct_attr(priors, "bucket");
        let s3 = &cx.clients.s3;
        let mut etags: BTreeMap<(String, String), String> = BTreeMap::new();
        for b in &buckets {
            let mut token: Option<String> = None;
            loop {
                let r = cx
                    .clients
                    .call("s3:ListObjectsV2", || {
                        s3.list_objects_v2().bucket(b).set_continuation_token(token.clone()).send()
                    })
                    .await;
                let listed = match r {
                    Ok(l) => l,
                    Err(e) if e.is_not_found() => break,
                    Err(e) => return Err(to_provider_error("s3:ListObjectsV2", e)),
                };
                for o in listed.contents() {
                    if let (Some(k), Some(e)) = (o.key(), o.e_tag()) {
                        etags.insert((b.clone(), k.to_string()), e.trim_matches('"').to_string());
                    }
                }
                match listed.next_continuation_token() {
                    Some(t) if listed.is_truncated() == Some(true) => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        let shape = Object::shape();
        Ok(priors
            .iter()
            .map(|p| {
                let b = str_attr(p, "bucket")?;
                let k = str_attr(p, "key")?;
                let listed = Listed {
                    etag: etags.get(&(b.clone(), k.clone()))?.clone(),
                    sensitive: p.get_attr("content").is_some_and(|c| c.is_sensitive()),
                };
                observed(cx, &shape, &listed, Some(&format!("{b}/{k}")), None)
            })
            .collect())
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String, ProviderError> {
        let planned = c.planned;
        let (Some(b), Some(k)) = (str_attr(planned, "bucket"), str_attr(planned, "key")) else {
            return Err(ProviderError::fatal("bucket and key are required"));
        };
        let id = format!("{b}/{k}");
        self.update(cx, &id, &Value::Null, planned).await?;
        Ok(id)
    }
    /// PutObject overwrites: it is both create and update (and so its own adoption).
    async fn delete(&self, cx: &Ctx, _id: &str, prior: &Value) -> Result<(), ProviderError> {
        let (Some(b), Some(k)) = (str_attr(prior, "bucket"), str_attr(prior, "key")) else {
            return Ok(());
        };
        let s3 = &cx.clients.s3;
        delete_call(cx, "s3:DeleteObject", None, || s3.delete_object().bucket(&b).key(&k).send())
            .await
    }
}

impl Object {
    async fn put_object(
        cx: &Ctx,
        _id: &str,
        _prior: &Value,
        planned: &Value,
    ) -> Result<(), ProviderError> {
        let (Some(b), Some(k)) = (str_attr(planned, "bucket"), str_attr(planned, "key")) else {
            return Err(ProviderError::fatal("bucket and key are required"));
        };
        // Read the content through the mark: `as_str` peels it; never log it.
        let content = planned
            .get_attr("content")
            .and_then(|c| c.as_str().map(str::to_string))
            .unwrap_or_default();
        let s3 = &cx.clients.s3;
        cx.clients
            .run("s3:PutObject", || {
                s3.put_object()
                    .bucket(&b)
                    .key(&k)
                    .set_content_type(str_attr(planned, "content_type"))
                    .body(ByteStream::from(content.clone().into_bytes()))
                    .send()
            })
            .await?;
        Ok(())
    }
}
