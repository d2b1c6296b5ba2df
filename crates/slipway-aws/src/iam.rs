//! IAM: aws_iam_role, aws_iam_role_policy, aws_iam_instance_profile.
//!
//! IAM names are unique per account: these types adopt by name (checking the ownership tags
//! where the object has them) rather than by tag search.
//!
//! Refresh cost: roles and their inline policies come from one paginated
//! GetAccountAuthorizationDetails(Filter=Role), shared by both types; instance profiles from one
//! paginated ListInstanceProfiles. Policy documents are compared as canonical JSON (keys sorted,
//! no whitespace; `canonical_json`, which the S3 and VPC endpoint policies use too).
//!
//! Delete ordering AWS enforces and moto may not: a role cannot be deleted while it has inline
//! policies or sits in an instance profile (DeleteConflict).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::client::to_provider_error;
use super::declare::{Field, Identity, TagApi, attr, delete_call, iam_tags, updater};
use super::resource::{Attrs, Ctx, Observed, Query, ResourceType, attrs, str_attr, vstr};
use super::tags::{ADDRESS_TAG, NAME_TAG, STACK_TAG, Tags};
use crate::provider::{AttributeSchema as A, ProviderError};
use crate::value::{Type, Value};

pub fn types() -> Vec<Box<dyn ResourceType>> {
    vec![
        Box::new(Role),
        Box::new(RolePolicy),
        Box::new(InstanceProfile),
    ]
}

/// JSON with sorted keys and no whitespace; the input unchanged when it is not JSON.
pub(crate) fn canonical_json(s: &str) -> String {
    fn sort(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let sorted: BTreeMap<String, serde_json::Value> =
                    m.into_iter().map(|(k, v)| (k, sort(v))).collect();
                serde_json::Value::Object(sorted.into_iter().collect())
            }
            serde_json::Value::Array(a) => {
                serde_json::Value::Array(a.into_iter().map(sort).collect())
            }
            other => other,
        }
    }
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(v) => sort(v).to_string(),
        Err(_) => s.to_string(),
    }
}

/// IAM returns policy documents URL-encoded.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn canonical_attr(a: &mut Attrs, k: &str) {
    if let Some(s) = a.get(k).and_then(|v| v.as_str().map(canonical_json)) {
        let sensitive = a.get(k).is_some_and(Value::is_sensitive);
        a.insert(k.to_string(), Value::string(s).mark_if(sensitive));
    }
}

fn iam_tag_map(tags: &[aws_sdk_iam::types::Tag]) -> Tags {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// An IAM path: set at creation only.
fn iam_path() -> A {
    A::optional(Type::String)
        .force_new()
        .default(Value::string("/"))
}

/// The default IAM name: Name tag plus 8 hex digits of the client token (unique per
/// generation, so a replacement does not collide with its predecessor).
fn default_iam_name(tags: &Tags, client_token: &str) -> String {
    use sha2::Digest;
    let base: String = tags
        .get(NAME_TAG)
        .map(String::as_str)
        .unwrap_or("slipway")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c))
        .take(50)
        .collect();
    let h = hex::encode(sha2::Sha256::digest(client_token.as_bytes()));
    format!("{base}-{}", &h[..8])
}

/// Whether tags found on an object say it is this stack's object at the wanted address.
pub(crate) fn owned_by(cx: &Ctx, found: &Tags, wanted: &Tags) -> bool {
    found.get(STACK_TAG) == Some(&cx.stack_id) && found.get(ADDRESS_TAG) == wanted.get(ADDRESS_TAG)
}

/// Every role with inline policies and tags: one paginated call, shared in a refresh by roles
/// and role policies.
async fn role_details(cx: &Ctx) -> Result<Arc<Vec<aws_sdk_iam::types::RoleDetail>>, ProviderError> {
    cx.shared("iam:GetAccountAuthorizationDetails", || async {
        let iam = &cx.clients.iam;
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let resp = cx
                .clients
                .run("iam:GetAccountAuthorizationDetails", || {
                    iam.get_account_authorization_details()
                        .filter(aws_sdk_iam::types::EntityType::Role)
                        .set_marker(marker.clone())
                        .send()
                })
                .await?;
            out.extend(resp.role_detail_list().iter().cloned());
            match (resp.is_truncated(), resp.marker()) {
                (true, Some(m)) => marker = Some(m.to_string()),
                _ => break,
            }
        }
        Ok(out)
    })
    .await
}

// ---------------------------------------------------------------------------------------------

pub struct Role;

#[async_trait::async_trait]
impl ResourceType for Role {
    fn name(&self) -> &'static str {
        "aws_iam_role"
    }
    fn description(&self) -> &'static str {
        "An IAM role (e.g. a node's instance role)."
    }
    fn fields(&self) -> Vec<Field> {
        vec![
            attr("name", A::optional_computed(Type::String).force_new()),
            attr("path", iam_path()),
            attr("assume_role_policy", A::required(Type::String))
                .by(updater!("iam:UpdateAssumeRolePolicy", Role::update_trust)),
            attr("description", A::optional(Type::String).force_new()),
            attr("arn", A::computed(Type::String)),
            attr("unique_id", A::computed(Type::String)),
        ]
    }
    fn tag_api(&self) -> TagApi {
        TagApi::IamRole
    }
    fn identity(&self) -> Identity {
        Identity::UniqueKey
    }
    fn normalize(&self, a: &mut Attrs) {
        canonical_attr(a, "assume_role_policy");
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        Ok(role_details(cx)
            .await?
            .iter()
            .filter_map(|r| {
                let name = r.role_name()?.to_string();
                let tags = iam_tag_map(r.tags());
                let keep = match q {
                    Query::Ids(ids) => ids.contains(&name),
                    Query::Stack => tags.get(STACK_TAG) == Some(&cx.stack_id),
                    Query::Address(a) => {
                        tags.get(STACK_TAG) == Some(&cx.stack_id)
                            && tags.get(ADDRESS_TAG).map(String::as_str) == Some(a)
                    }
                };
                keep.then(|| Observed {
                    attrs: attrs(vec![
                        ("name", Value::string(name.clone())),
                        ("path", vstr(r.path())),
                        (
                            "assume_role_policy",
                            vstr(
                                r.assume_role_policy_document()
                                    .map(|d| canonical_json(&percent_decode(d)))
                                    .as_deref(),
                            ),
                        ),
                        ("arn", vstr(r.arn())),
                        ("unique_id", vstr(r.role_id())),
                    ]),
                    tags: Some(tags),
                    id: name,
                })
            })
            .collect())
    }
    async fn observe(
        &self,
        cx: &Ctx,
        priors: &[Value],
    ) -> Result<Vec<Option<Observed>>, ProviderError> {
        let ids: Vec<String> = priors.iter().filter_map(|p| str_attr(p, "id")).collect();
        let found = if ids.is_empty() {
            Vec::new()
        } else {
            self.describe(cx, Query::Ids(&ids)).await?
        };
        Ok(priors
            .iter()
            .map(|p| {
                let id = str_attr(p, "id")?;
                found.iter().find(|o| o.id == id).cloned()
            })
            .collect())
    }
    async fn find_existing(
        &self,
        cx: &Ctx,
        planned: &Value,
        tags: &Tags,
        client_token: &str,
    ) -> Result<Option<String>, ProviderError> {
        let name =
            str_attr(planned, "name").unwrap_or_else(|| default_iam_name(tags, client_token));
        let iam = &cx.clients.iam;
        match cx
            .clients
            .call("iam:GetRole", || iam.get_role().role_name(&name).send())
            .await
        {
            Ok(r) => {
                let found = r.role().map(|r| iam_tag_map(r.tags())).unwrap_or_default();
                if owned_by(cx, &found, tags) {
                    Ok(Some(name))
                } else {
                    Err(ProviderError::fatal(format!(
                        "IAM role {name} exists and is not this stack's {} (tags {found:?})",
                        tags.get(ADDRESS_TAG).cloned().unwrap_or_default()
                    )))
                }
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(to_provider_error("iam:GetRole", e)),
        }
    }
    async fn create(
        &self,
        cx: &Ctx,
        planned: &Value,
        tags: &Tags,
        client_token: &str,
    ) -> Result<String, ProviderError> {
        let name =
            str_attr(planned, "name").unwrap_or_else(|| default_iam_name(tags, client_token));
        let iam = &cx.clients.iam;
        cx.clients
            .run("iam:CreateRole", || {
                iam.create_role()
                    .role_name(&name)
                    .set_path(str_attr(planned, "path"))
                    .set_assume_role_policy_document(str_attr(planned, "assume_role_policy"))
                    .set_description(str_attr(planned, "description"))
                    .set_tags(Some(iam_tags(tags)))
                    .send()
            })
            .await?;
        Ok(name)
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<(), ProviderError> {
        let iam = &cx.clients.iam;
        delete_call(cx, "iam:DeleteRole", None, || {
            iam.delete_role().role_name(id).send()
        })
        .await
    }
}

impl Role {
    async fn update_trust(
        cx: &Ctx,
        id: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<(), ProviderError> {
        if super::resource::changed(prior, planned, "assume_role_policy")
            && let Some(doc) = str_attr(planned, "assume_role_policy")
        {
            let iam = &cx.clients.iam;
            cx.clients
                .run("iam:UpdateAssumeRolePolicy", || {
                    iam.update_assume_role_policy()
                        .role_name(id)
                        .policy_document(&doc)
                        .send()
                })
                .await?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------

/// An inline policy; id `role:name`. Untagged (IAM inline policies have no tags).
pub struct RolePolicy;

#[async_trait::async_trait]
impl ResourceType for RolePolicy {
    fn name(&self) -> &'static str {
        "aws_iam_role_policy"
    }
    fn description(&self) -> &'static str {
        "An inline policy of a role."
    }
    fn fields(&self) -> Vec<Field> {
        vec![
            attr("role", A::required(Type::String).force_new()),
            attr("name", A::required(Type::String).force_new()),
            attr("policy", A::required(Type::String))
                .by(updater!("iam:PutRolePolicy", RolePolicy::put_policy)),
        ]
    }
    fn tag_api(&self) -> TagApi {
        TagApi::None
    }
    fn identity(&self) -> Identity {
        // The policy the role already has under this name (its id is derived from both). For
        // creates, adopting it and updating is the same PutRolePolicy as creating again; for
        // `state recover` it is how the policy is found at all.
        Identity::Derived(|v| Some(format!("{}:{}", str_attr(v, "role")?, str_attr(v, "name")?)))
    }
    fn normalize(&self, a: &mut Attrs) {
        canonical_attr(a, "policy");
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        let Query::Ids(ids) = q else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for r in role_details(cx).await?.iter() {
            let Some(role) = r.role_name() else { continue };
            for p in r.role_policy_list() {
                let Some(name) = p.policy_name() else {
                    continue;
                };
                let id = format!("{role}:{name}");
                if ids.contains(&id) {
                    out.push(Observed {
                        attrs: attrs(vec![
                            ("role", Value::string(role)),
                            ("name", Value::string(name)),
                            (
                                "policy",
                                vstr(
                                    p.policy_document()
                                        .map(|d| canonical_json(&percent_decode(d)))
                                        .as_deref(),
                                ),
                            ),
                        ]),
                        tags: None,
                        id,
                    });
                }
            }
        }
        Ok(out)
    }
    async fn create(
        &self,
        cx: &Ctx,
        planned: &Value,
        _tags: &Tags,
        _token: &str,
    ) -> Result<String, ProviderError> {
        let (Some(role), Some(name)) = (str_attr(planned, "role"), str_attr(planned, "name"))
        else {
            return Err(ProviderError::fatal("role and name are required"));
        };
        self.update(cx, &format!("{role}:{name}"), &Value::Null, planned)
            .await?;
        Ok(format!("{role}:{name}"))
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<(), ProviderError> {
        let (role, name) = id.split_once(':').unwrap_or((id, ""));
        let iam = &cx.clients.iam;
        delete_call(cx, "iam:DeleteRolePolicy", None, || {
            iam.delete_role_policy()
                .role_name(role)
                .policy_name(name)
                .send()
        })
        .await
    }
}

impl RolePolicy {
    async fn put_policy(
        cx: &Ctx,
        id: &str,
        _prior: &Value,
        planned: &Value,
    ) -> Result<(), ProviderError> {
        let (role, name) = id.split_once(':').unwrap_or((id, ""));
        let doc = str_attr(planned, "policy").unwrap_or_default();
        let iam = &cx.clients.iam;
        cx.clients
            .run("iam:PutRolePolicy", || {
                iam.put_role_policy()
                    .role_name(role)
                    .policy_name(name)
                    .policy_document(&doc)
                    .send()
            })
            .await?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------

pub struct InstanceProfile;

impl InstanceProfile {
    async fn list(cx: &Ctx) -> Result<Vec<aws_sdk_iam::types::InstanceProfile>, ProviderError> {
        let iam = &cx.clients.iam;
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let resp = cx
                .clients
                .run("iam:ListInstanceProfiles", || {
                    iam.list_instance_profiles()
                        .set_marker(marker.clone())
                        .send()
                })
                .await?;
            out.extend(resp.instance_profiles().iter().cloned());
            match (resp.is_truncated(), resp.marker()) {
                (true, Some(m)) => marker = Some(m.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl ResourceType for InstanceProfile {
    fn name(&self) -> &'static str {
        "aws_iam_instance_profile"
    }
    fn description(&self) -> &'static str {
        "An instance profile carrying one role."
    }
    fn fields(&self) -> Vec<Field> {
        vec![
            attr("name", A::optional_computed(Type::String).force_new()),
            attr("path", iam_path()),
            attr("role", A::optional(Type::String)).by(updater!(
                "iam:AddRoleToInstanceProfile",
                InstanceProfile::set_role
            )),
            attr("arn", A::computed(Type::String)),
        ]
    }
    fn tag_api(&self) -> TagApi {
        TagApi::IamInstanceProfile
    }
    fn identity(&self) -> Identity {
        Identity::UniqueKey
    }
    async fn describe(&self, cx: &Ctx, q: Query<'_>) -> Result<Vec<Observed>, ProviderError> {
        let Query::Ids(ids) = q else {
            return Ok(Vec::new());
        };
        Ok(Self::list(cx)
            .await?
            .into_iter()
            .filter(|p| ids.iter().any(|i| i == p.instance_profile_name()))
            .map(|p| Observed {
                id: p.instance_profile_name().to_string(),
                attrs: attrs(vec![
                    ("name", Value::string(p.instance_profile_name())),
                    ("path", Value::string(p.path())),
                    ("role", vstr(p.roles().first().map(|r| r.role_name()))),
                    ("arn", Value::string(p.arn())),
                ]),
                // ListInstanceProfiles does not return tags; keep what state says.
                tags: None,
            })
            .collect())
    }
    async fn observe(
        &self,
        cx: &Ctx,
        priors: &[Value],
    ) -> Result<Vec<Option<Observed>>, ProviderError> {
        let ids: Vec<String> = priors.iter().filter_map(|p| str_attr(p, "id")).collect();
        let found = if ids.is_empty() {
            Vec::new()
        } else {
            self.describe(cx, Query::Ids(&ids)).await?
        };
        Ok(priors
            .iter()
            .map(|p| {
                let id = str_attr(p, "id")?;
                let mut o = found.iter().find(|o| o.id == id).cloned()?;
                // Tags are not refreshed (see describe): report what state holds.
                o.tags = Some(super::tags::tags_of(p.get_attr("tags_all")));
                Some(o)
            })
            .collect())
    }
    async fn find_existing(
        &self,
        cx: &Ctx,
        planned: &Value,
        tags: &Tags,
        client_token: &str,
    ) -> Result<Option<String>, ProviderError> {
        let name =
            str_attr(planned, "name").unwrap_or_else(|| default_iam_name(tags, client_token));
        let iam = &cx.clients.iam;
        match cx
            .clients
            .call("iam:GetInstanceProfile", || {
                iam.get_instance_profile()
                    .instance_profile_name(&name)
                    .send()
            })
            .await
        {
            Ok(r) => {
                let found = r
                    .instance_profile()
                    .map(|p| iam_tag_map(p.tags()))
                    .unwrap_or_default();
                if owned_by(cx, &found, tags) {
                    Ok(Some(name))
                } else {
                    Err(ProviderError::fatal(format!(
                        "IAM instance profile {name} exists and is not this stack's"
                    )))
                }
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(to_provider_error("iam:GetInstanceProfile", e)),
        }
    }
    async fn create(
        &self,
        cx: &Ctx,
        planned: &Value,
        tags: &Tags,
        client_token: &str,
    ) -> Result<String, ProviderError> {
        let name =
            str_attr(planned, "name").unwrap_or_else(|| default_iam_name(tags, client_token));
        let iam = &cx.clients.iam;
        cx.clients
            .run("iam:CreateInstanceProfile", || {
                iam.create_instance_profile()
                    .instance_profile_name(&name)
                    .set_path(str_attr(planned, "path"))
                    .set_tags(Some(iam_tags(tags)))
                    .send()
            })
            .await?;
        self.update(cx, &name, &Value::Null, planned).await?;
        Ok(name)
    }
    async fn delete(&self, cx: &Ctx, id: &str, prior: &Value) -> Result<(), ProviderError> {
        // AWS refuses to delete a profile that still holds a role (DeleteConflict).
        self.update(cx, id, prior, &Value::Null).await?;
        let iam = &cx.clients.iam;
        delete_call(cx, "iam:DeleteInstanceProfile", None, || {
            iam.delete_instance_profile()
                .instance_profile_name(id)
                .send()
        })
        .await
    }
}

impl InstanceProfile {
    async fn set_role(
        cx: &Ctx,
        id: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<(), ProviderError> {
        let old = str_attr(prior, "role");
        let new = str_attr(planned, "role");
        if old == new {
            return Ok(());
        }
        let iam = &cx.clients.iam;
        if let Some(old) = old {
            delete_call(cx, "iam:RemoveRoleFromInstanceProfile", None, || {
                iam.remove_role_from_instance_profile()
                    .instance_profile_name(id)
                    .role_name(&old)
                    .send()
            })
            .await?;
        }
        if let Some(new) = new {
            cx.clients
                .run("iam:AddRoleToInstanceProfile", || {
                    iam.add_role_to_instance_profile()
                        .instance_profile_name(id)
                        .role_name(&new)
                        .send()
                })
                .await?;
        }
        Ok(())
    }
}
