//! Tags: ownership, defaults, user tags, and how they read back.
//!
//! Every object slipway creates carries, in increasing precedence:
//! 1. `Name` = the address's last part (`aws_instance.member["b"]` → `member-b`),
//! 2. the provider's `default_tags`,
//! 3. the resource's own `tags` (so a user `Name` wins),
//! 4. the ownership tags `slipway:stack` and `slipway:address`, which nobody may override:
//!    refresh, adoption and orphan recovery depend on them.
//!
//! `tags_all` is the full set on the object. On read, `tags` is `tags_all` minus what slipway
//! added by itself (ownership tags, default tags with their default value, an automatic
//! `Name`), so that "apply, then plan" shows no change and a tag edited outside shows as drift.

use std::collections::BTreeMap;

use crate::addr::{InstanceKey, ResourceInstanceAddr};
use crate::value::Value;

pub use crate::provider::{ADDRESS_TAG, STACK_TAG, TOKEN_TAG};
pub const NAME_TAG: &str = "Name";

pub type Tags = BTreeMap<String, String>;

/// The automatic `Name`: resource name plus instance key, in characters every AWS service
/// accepts in tag values (IAM rejects quotes and brackets).
pub fn default_name(address: &ResourceInstanceAddr) -> String {
    let mut name = address.resource.name.clone();
    match &address.key {
        InstanceKey::None => {}
        InstanceKey::Int(i) => name.push_str(&format!("-{i}")),
        InstanceKey::Str(s) => {
            name.push('-');
            name.extend(s.chars().map(|c| {
                if c.is_ascii_alphanumeric() || "+-=._:/@".contains(c) { c } else { '_' }
            }));
        }
    }
    name
}

/// String tags from a `tags` attribute (null, unknown and non-string values are skipped).
pub fn tags_of(value: Option<Value>) -> Tags {
    value
        .as_ref()
        .and_then(Value::as_map)
        .map(|m| {
            m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect()
        })
        .unwrap_or_default()
}

pub fn tags_value(tags: &Tags) -> Value {
    Value::Map(tags.iter().map(|(k, v)| (k.clone(), Value::string(v.clone()))).collect())
}

/// Everything the object must carry at create time.
pub fn desired_tags(
    stack_id: &str,
    address: &ResourceInstanceAddr,
    ownership: &Tags,
    default_tags: &Tags,
    user: &Tags,
) -> Tags {
    let mut all = Tags::new();
    all.insert(NAME_TAG.to_string(), default_name(address));
    all.extend(default_tags.clone());
    all.extend(user.clone());
    all.extend(ownership.clone());
    all.insert(STACK_TAG.to_string(), stack_id.to_string());
    all.insert(ADDRESS_TAG.to_string(), address.to_string());
    all
}

/// The desired full tag set after an update: what the object has now, with the user's and
/// default tags re-applied and removed user tags dropped. Ownership tags and an automatic
/// `Name` are kept from the object.
///
/// The stack tag is re-applied if it went missing (someone removed it outside slipway); the
/// address tag cannot be, since updates do not know the address — adoption by tag then misses
/// the object, but refresh still finds it by id.
pub fn updated_tags(
    current_all: &Tags,
    stack_id: &str,
    default_tags: &Tags,
    prior_user: &Tags,
    user: &Tags,
) -> Tags {
    let mut all = current_all.clone();
    for k in prior_user.keys() {
        if !user.contains_key(k) && !default_tags.contains_key(k) && k != NAME_TAG {
            all.remove(k);
        }
    }
    if prior_user.contains_key(NAME_TAG) && !user.contains_key(NAME_TAG) {
        // The user stopped naming it: fall back to the automatic name.
        if let Some(addr) =
            current_all.get(ADDRESS_TAG).and_then(|a| ResourceInstanceAddr::parse(a).ok())
        {
            all.insert(NAME_TAG.to_string(), default_name(&addr));
        }
    }
    all.extend(default_tags.clone());
    all.extend(user.clone());
    if let Some(addr) = current_all.get(ADDRESS_TAG) {
        all.insert(ADDRESS_TAG.to_string(), addr.clone());
    }
    all.insert(STACK_TAG.to_string(), stack_id.to_string());
    all
}

/// `tags` as read back: the full set minus what slipway added on its own.
pub fn user_tags(all: &Tags, default_tags: &Tags) -> Tags {
    let auto_name = all
        .get(ADDRESS_TAG)
        .and_then(|a| ResourceInstanceAddr::parse(a).ok())
        .map(|a| default_name(&a));
    all.iter()
        .filter(|(k, v)| {
            k.as_str() != STACK_TAG
                && k.as_str() != ADDRESS_TAG
                && k.as_str() != TOKEN_TAG
                && default_tags.get(*k) != Some(*v)
                && !(k.as_str() == NAME_TAG && auto_name.as_deref() == Some(v.as_str()))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// (to set, to delete) to go from `current` to `desired`.
pub fn tag_diff(current: &Tags, desired: &Tags) -> (Tags, Vec<String>) {
    let set = desired
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let delete = current.keys().filter(|k| !desired.contains_key(*k)).cloned().collect();
    (set, delete)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> ResourceInstanceAddr {
        ResourceInstanceAddr::parse(s).unwrap()
    }

    fn t(pairs: &[(&str, &str)]) -> Tags {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn names_are_tag_safe() {
        assert_eq!(default_name(&addr("aws_vpc.main")), "main");
        assert_eq!(default_name(&addr("aws_instance.web[2]")), "web-2");
        assert_eq!(default_name(&addr("module.etcd.aws_instance.member[\"b c\"]")), "member-b_c");
    }

    #[test]
    fn ownership_wins_and_reads_back_as_user_tags() {
        let a = addr("aws_vpc.main");
        let defaults = t(&[("team", "infra"), ("env", "dev")]);
        let user = t(&[("env", "prod"), (STACK_TAG, "evil")]);
        let all = desired_tags("s1", &a, &Tags::new(), &defaults, &user);
        assert_eq!(all[STACK_TAG], "s1");
        assert_eq!(all[ADDRESS_TAG], "aws_vpc.main");
        assert_eq!(all["Name"], "main");
        assert_eq!(all["env"], "prod");
        assert_eq!(all["team"], "infra");
        assert_eq!(user_tags(&all, &defaults), t(&[("env", "prod")]));
    }

    #[test]
    fn update_drops_removed_user_tags_only() {
        let a = addr("aws_vpc.main");
        let prior = t(&[("a", "1"), ("Name", "custom")]);
        let all = desired_tags("s1", &a, &Tags::new(), &Tags::new(), &prior);
        let next = updated_tags(&all, "s1", &Tags::new(), &prior, &t(&[("b", "2")]));
        assert_eq!(next.get("a"), None);
        assert_eq!(next["b"], "2");
        assert_eq!(next["Name"], "main");
        assert_eq!(next[STACK_TAG], "s1");
        let (set, del) = tag_diff(&all, &next);
        assert_eq!(set, t(&[("Name", "main"), ("b", "2")]));
        assert_eq!(del, vec!["a".to_string()]);
    }
}
