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

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::operation::get_instance_profile::GetInstanceProfileOutput;
use aws_sdk_iam::operation::get_role::GetRoleOutput;
use aws_sdk_iam::types::{InstanceProfile as AwsProfile, PolicyDetail, RoleDetail};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::client::to_provider_error;
use super::declare::{Field, Identity, TagApi, delete_call, erase, iam_tags, observed, updater};
use super::resource::{
    Attrs, Create, Ctx, Observed, Query, ResourceType, changed, observe_by_ids, str_attr, vstr,
    wanted,
};
use super::tags::{ADDRESS_TAG, NAME_TAG, STACK_TAG, Tags};
use crate::provider::{AttributeSchema as A, ProviderError};
use crate::value::{Type, Value};

pub fn types() -> Vec<Box<dyn ResourceType>> {
    vec![Box::new(Role), Box::new(RolePolicy), Box::new(InstanceProfile)]
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

/// A policy document as IAM lists it, in canonical form.
fn policy_document(d: Option<&str>) -> Value {
    vstr(d.map(|d| canonical_json(&percent_decode(d))).as_deref())
}

fn canonical_attr(a: &mut Attrs, k: &str) {
    if let Some(s) = a.get(k).and_then(|v| v.as_str().map(canonical_json)) {
        let sensitive = a.get(k).is_some_and(Value::is_sensitive);
        a.insert(k.to_string(), Value::string(s).mark_if(sensitive));
    }
}

fn iam_tag_map(tags: &[aws_sdk_iam::types::Tag]) -> Tags {
    tags.iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()
}

/// An IAM path: set at creation only.
fn iam_path() -> A {
    A::optional(Type::String).force_new().default(Value::string("/"))
}

/// The planned object's name: its `name`, else the default: Name tag plus 8 hex digits of the
/// client token (unique per generation, so a replacement does not collide with its
/// predecessor).
fn iam_name(planned: &Value, tags: &Tags, client_token: &str) -> String {
    str_attr(planned, "name").unwrap_or_else(|| default_iam_name(tags, client_token))
}

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

/// Adoption by name (IAM names are unique per account): `name` when IAM holds an object under
/// it (read by `get`, its tags taken from the answer by `tags_of`) whose tags say it is this
/// stack's object at this address; None when IAM holds none; an error when it is another's.
async fn adopt_by_name<T, E, F, Fut>(
    cx: &Ctx,
    api: &str,
    kind: &str,
    name: &str,
    tags: &Tags,
    get: F,
    tags_of: fn(&T) -> Tags,
) -> Result<Option<String>, ProviderError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let found = match cx.clients.call(api, get).await {
        Ok(r) => tags_of(&r),
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(to_provider_error(api, e)),
    };
    if owned_by(cx, &found, tags) {
        Ok(Some(name.to_string()))
    } else {
        Err(ProviderError::fatal(format!(
            "IAM {kind} {name} exists and is not this stack's {} (tags {found:?})",
            tags.get(ADDRESS_TAG).cloned().unwrap_or_default()
        )))
    }
}

/// Collects every page of an IAM list (marker-paginated: `IsTruncated` says more follow).
macro_rules! iam_pages {
    ($cx:expr, $api:literal, $build:expr, $items:ident) => {{
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let resp = $cx.clients.run($api, || $build.set_marker(marker.clone()).send()).await?;
            out.extend(resp.$items().iter().cloned());
            match (resp.is_truncated(), resp.marker()) {
                (true, Some(m)) => marker = Some(m.to_string()),
                _ => break,
            }
        }
        out
    }};
}

/// Every role with inline policies and tags: one paginated call, shared in a refresh by roles
/// and role policies.
async fn role_details(cx: &Ctx) -> Result<Arc<Vec<RoleDetail>>, ProviderError> {
    cx.shared("iam:GetAccountAuthorizationDetails", || async {
        let iam = &cx.clients.iam;
        Ok(iam_pages!(
            cx,
            "iam:GetAccountAuthorizationDetails",
            iam.get_account_authorization_details().filter(aws_sdk_iam::types::EntityType::Role),
            role_detail_list
        ))
    })
    .await
}

// ---------------------------------------------------------------------------------------------

pub struct Role;

impl Role {
    fn shape() -> Vec<Field<RoleDetail>> {
        type F = Field<RoleDetail>;
        vec![
            F::attr("name", A::optional_computed(Type::String).force_new())
                .read_str(RoleDetail::role_name),
            F::attr("path", iam_path()).read_str(RoleDetail::path),
            F::attr("assume_role_policy", A::required(Type::String))
                .by(updater!("iam:UpdateAssumeRolePolicy", Role::update_trust))
                .read(|r| policy_document(r.assume_role_policy_document())),
            // Not in GetAccountAuthorizationDetails' answer.
            F::attr("description", A::optional(Type::String).force_new()),
            F::computed("arn", RoleDetail::arn),
            F::computed("unique_id", RoleDetail::role_id),
        ]
    }
}

#[async_trait::async_trait]
impl ResourceType for Role {
    fn name(&self) -> &'static str {
        "aws_iam_role"
    }
    fn description(&self) -> &'static str {
        "An IAM role (e.g. a node's instance role)."
    }
    fn fields(&self) -> Vec<Field> {
        erase(&Role::shape())
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
        let shape = Role::shape();
        let obs = |r: &RoleDetail| {
            let name = r.role_name()?;
            let tags = iam_tag_map(r.tags());
            if !wanted(cx, q, name, &tags) {
                return None;
            }
            observed(cx, &shape, r, Some(name), Some(tags))
        };
        Ok(role_details(cx).await?.iter().filter_map(obs).collect())
    }
    async fn observe(
        &self,
        cx: &Ctx,
        priors: &[Value],
    ) -> Result<Vec<Option<Observed>>, ProviderError> {
        observe_by_ids(self, cx, priors).await
    }
    async fn find_existing(
        &self,
        cx: &Ctx,
        c: Create<'_>,
    ) -> Result<Option<String>, ProviderError> {
        let (planned, tags, client_token) = (c.planned, c.tags, c.token);
        let name = iam_name(planned, tags, client_token);
        let iam = &cx.clients.iam;
        let get = || iam.get_role().role_name(&name).send();
        let tags_of =
            |r: &GetRoleOutput| r.role().map(|r| iam_tag_map(r.tags())).unwrap_or_default();
        adopt_by_name(cx, "iam:GetRole", "role", &name, tags, get, tags_of).await
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String, ProviderError> {
        let (planned, tags, client_token) = (c.planned, c.tags, c.token);
        let name = iam_name(planned, tags, client_token);
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
        delete_call(cx, "iam:DeleteRole", None, || iam.delete_role().role_name(id).send()).await
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
                    iam.update_assume_role_policy().role_name(id).policy_document(&doc).send()
                })
                .await?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------

/// An inline policy; id `role:name`. Untagged (IAM inline policies have no tags).
pub struct RolePolicy;

/// An inline policy as GetAccountAuthorizationDetails lists it, under its role.
struct Inline {
    role: String,
    policy: PolicyDetail,
}

impl RolePolicy {
    fn shape() -> Vec<Field<Inline>> {
        type F = Field<Inline>;
        vec![
            F::attr("role", A::required(Type::String).force_new()).read(|i| Value::string(&i.role)),
            F::attr("name", A::required(Type::String).force_new())
                .read(|i| Value::string(i.policy.policy_name().unwrap_or(""))),
            F::attr("policy", A::required(Type::String))
                .by(updater!("iam:PutRolePolicy", RolePolicy::put_policy))
                .read(|i| policy_document(i.policy.policy_document())),
        ]
    }
}

#[async_trait::async_trait]
impl ResourceType for RolePolicy {
    fn name(&self) -> &'static str {
        "aws_iam_role_policy"
    }
    fn description(&self) -> &'static str {
        "An inline policy of a role."
    }
    fn fields(&self) -> Vec<Field> {
        erase(&RolePolicy::shape())
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
        let shape = RolePolicy::shape();
        let mut out = Vec::new();
        for r in role_details(cx).await?.iter() {
            let Some(role) = r.role_name() else { continue };
            for p in r.role_policy_list() {
                let Some(name) = p.policy_name() else {
                    continue;
                };
                let id = format!("{role}:{name}");
                if ids.contains(&id) {
                    let inline = Inline { role: role.to_string(), policy: p.clone() };
                    out.extend(observed(cx, &shape, &inline, Some(&id), None));
                }
            }
        }
        Ok(out)
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String, ProviderError> {
        let planned = c.planned;
        let (Some(role), Some(name)) = (str_attr(planned, "role"), str_attr(planned, "name"))
        else {
            return Err(ProviderError::fatal("role and name are required"));
        };
        self.update(cx, &format!("{role}:{name}"), &Value::Null, planned).await?;
        Ok(format!("{role}:{name}"))
    }
    async fn delete(&self, cx: &Ctx, id: &str, _prior: &Value) -> Result<(), ProviderError> {
        let (role, name) = id.split_once(':').unwrap_or((id, ""));
        let iam = &cx.clients.iam;
        delete_call(cx, "iam:DeleteRolePolicy", None, || {
            iam.delete_role_policy().role_name(role).policy_name(name).send()
        })
        .await
    }
}

impl RolePolicy {
    async fn put_policy(
        cx: &Ctx,
        id: &str,
        prior: &Value,
        planned: &Value,
    ) -> Result<(), ProviderError> {
        // Adopting a policy AWS already holds as planned (a resumed create) changes nothing.
        if !changed(prior, planned, "policy") {
            return Ok(());
        }
        let (role, name) = id.split_once(':').unwrap_or((id, ""));
        let doc = str_attr(planned, "policy").unwrap_or_default();
        let iam = &cx.clients.iam;
        cx.clients
            .run("iam:PutRolePolicy", || {
                iam.put_role_policy().role_name(role).policy_name(name).policy_document(&doc).send()
            })
            .await?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------

pub struct InstanceProfile;

impl InstanceProfile {
    fn shape() -> Vec<Field<AwsProfile>> {
        type F = Field<AwsProfile>;
        vec![
            F::attr("name", A::optional_computed(Type::String).force_new())
                .read_str(|p| Some(p.instance_profile_name())),
            F::attr("path", iam_path()).read(|p| Value::string(p.path())),
            F::attr("role", A::optional(Type::String))
                .by(updater!("iam:AddRoleToInstanceProfile", InstanceProfile::set_role))
                .read_str(|p| p.roles().first().map(|r| r.role_name())),
            F::attr("arn", A::computed(Type::String)).read(|p| Value::string(p.arn())),
        ]
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
        erase(&InstanceProfile::shape())
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
        let iam = &cx.clients.iam;
        let listed = iam_pages!(
            cx,
            "iam:ListInstanceProfiles",
            iam.list_instance_profiles(),
            instance_profiles
        );
        let shape = InstanceProfile::shape();
        let obs = |p: &AwsProfile| {
            let name = p.instance_profile_name();
            let asked = ids.iter().any(|i| i == name);
            // ListInstanceProfiles does not return tags; keep what state says.
            asked.then(|| observed(cx, &shape, p, Some(name), None))?
        };
        Ok(listed.iter().filter_map(obs).collect())
    }
    async fn observe(
        &self,
        cx: &Ctx,
        priors: &[Value],
    ) -> Result<Vec<Option<Observed>>, ProviderError> {
        let mut found = observe_by_ids(self, cx, priors).await?;
        // Tags are not refreshed (see describe): report what state holds.
        for (p, o) in priors.iter().zip(&mut found) {
            if let Some(o) = o {
                o.tags = Some(super::tags::tags_of(p.get_attr("tags_all")));
            }
        }
        Ok(found)
    }
    async fn find_existing(
        &self,
        cx: &Ctx,
        c: Create<'_>,
    ) -> Result<Option<String>, ProviderError> {
        let (planned, tags, client_token) = (c.planned, c.tags, c.token);
        let name = iam_name(planned, tags, client_token);
        let iam = &cx.clients.iam;
        let get = || iam.get_instance_profile().instance_profile_name(&name).send();
        let tags_of = |r: &GetInstanceProfileOutput| {
            r.instance_profile().map(|p| iam_tag_map(p.tags())).unwrap_or_default()
        };
        let api = "iam:GetInstanceProfile";
        adopt_by_name(cx, api, "instance profile", &name, tags, get, tags_of).await
    }
    async fn create(&self, cx: &Ctx, c: Create<'_>) -> Result<String, ProviderError> {
        let (planned, tags, client_token) = (c.planned, c.tags, c.token);
        let name = iam_name(planned, tags, client_token);
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
            iam.delete_instance_profile().instance_profile_name(id).send()
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
