//! Addresses of modules, resources and resource instances.
//!
//! The string form is HCL traversal syntax, as Terraform users know it:
//! `module.etcd["a"].aws_instance.member[0]`, `data.aws_ami.al2023`. Addresses are immutable
//! values, ordered so that sorted lists read naturally, and they round-trip through
//! [`ResourceInstanceAddr::parse`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The key of one instance of something expanded by `count` or `for_each`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum InstanceKey {
    /// Neither `count` nor `for_each`.
    #[default]
    None,
    Int(u64),
    Str(String),
}

impl fmt::Display for InstanceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstanceKey::None => Ok(()),
            InstanceKey::Int(i) => write!(f, "[{i}]"),
            InstanceKey::Str(s) => write!(f, "[{}]", serde_json::to_string(s).unwrap_or_default()),
        }
    }
}

/// A path of module instances from the root: empty for the root module.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ModuleInstance(pub Vec<(String, InstanceKey)>);

impl ModuleInstance {
    pub fn root() -> ModuleInstance {
        ModuleInstance(Vec::new())
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn child(&self, name: &str, key: InstanceKey) -> ModuleInstance {
        let mut v = self.0.clone();
        v.push((name.to_string(), key));
        ModuleInstance(v)
    }

    /// The parent module instance (the root's parent is the root).
    pub fn parent(&self) -> ModuleInstance {
        let mut v = self.0.clone();
        v.pop();
        ModuleInstance(v)
    }

    /// The static module path (call names without keys).
    pub fn static_path(&self) -> Vec<String> {
        self.0.iter().map(|(n, _)| n.clone()).collect()
    }
}

impl fmt::Display for ModuleInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, key)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "module.{name}{key}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceMode {
    Managed,
    Data,
}

/// A resource block in a module instance (all its instances).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceAddr {
    pub module: ModuleInstance,
    pub mode: ResourceMode,
    pub rtype: String,
    pub name: String,
}

impl ResourceAddr {
    pub fn instance(&self, key: InstanceKey) -> ResourceInstanceAddr {
        ResourceInstanceAddr { resource: self.clone(), key }
    }

    /// `type.name` or `data.type.name`, without the module path.
    pub fn local_name(&self) -> String {
        match self.mode {
            ResourceMode::Managed => format!("{}.{}", self.rtype, self.name),
            ResourceMode::Data => format!("data.{}.{}", self.rtype, self.name),
        }
    }
}

impl fmt::Display for ResourceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.module.is_root() {
            write!(f, "{}.", self.module)?;
        }
        f.write_str(&self.local_name())
    }
}

/// One instance of a resource: the unit that state tracks and apply acts on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceInstanceAddr {
    pub resource: ResourceAddr,
    pub key: InstanceKey,
}

impl fmt::Display for ResourceInstanceAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.resource, self.key)
    }
}

/// An address that failed to parse.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid resource address `{input}`: {reason}")]
pub struct AddrParseError {
    pub input: String,
    pub reason: String,
}

impl ResourceInstanceAddr {
    /// Parses `module.a["x"].aws_instance.b[0]`; a resource address without a key parses with
    /// [`InstanceKey::None`].
    pub fn parse(input: &str) -> Result<ResourceInstanceAddr, AddrParseError> {
        let err =
            |reason: &str| AddrParseError { input: input.to_string(), reason: reason.to_string() };
        let mut p = AddrParser { s: input, pos: 0 };
        let mut module = Vec::new();
        loop {
            let save = p.pos;
            let word = p.ident().ok_or_else(|| err("expected a name"))?;
            if word == "module" {
                p.expect('.').map_err(|_| err("expected `.` after `module`"))?;
                let name = p.ident().ok_or_else(|| err("expected a module name"))?;
                let key = p.key().map_err(|r| err(&r))?;
                module.push((name.to_string(), key));
                p.expect('.').map_err(|_| err("expected a resource after the module path"))?;
            } else {
                p.pos = save;
                break;
            }
        }
        let mut mode = ResourceMode::Managed;
        let mut rtype = p.ident().ok_or_else(|| err("expected a resource type"))?;
        if rtype == "data" {
            mode = ResourceMode::Data;
            p.expect('.').map_err(|_| err("expected `.` after `data`"))?;
            rtype = p.ident().ok_or_else(|| err("expected a data source type"))?;
        }
        p.expect('.').map_err(|_| err("expected `.` between type and name"))?;
        let name = p.ident().ok_or_else(|| err("expected a resource name"))?;
        let key = p.key().map_err(|r| err(&r))?;
        if p.pos != p.s.len() {
            return Err(err("unexpected text after the address"));
        }
        Ok(ResourceInstanceAddr {
            resource: ResourceAddr {
                module: ModuleInstance(module),
                mode,
                rtype: rtype.to_string(),
                name: name.to_string(),
            },
            key,
        })
    }
}

impl FromStr for ResourceInstanceAddr {
    type Err = AddrParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ResourceInstanceAddr::parse(s)
    }
}

impl Serialize for ResourceInstanceAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ResourceInstanceAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ResourceInstanceAddr::parse(&s).map_err(serde::de::Error::custom)
    }
}

struct AddrParser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> AddrParser<'a> {
    fn ident(&mut self) -> Option<&'a str> {
        let rest = &self.s[self.pos..];
        let len = rest
            .char_indices()
            .find(|(i, c)| !(c.is_alphanumeric() || *c == '_' || (*c == '-' && *i > 0)))
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        if len == 0 || rest.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        self.pos += len;
        Some(&rest[..len])
    }

    fn expect(&mut self, c: char) -> Result<(), ()> {
        if self.s[self.pos..].starts_with(c) {
            self.pos += c.len_utf8();
            Ok(())
        } else {
            Err(())
        }
    }

    fn key(&mut self) -> Result<InstanceKey, String> {
        if self.expect('[').is_err() {
            return Ok(InstanceKey::None);
        }
        let rest = &self.s[self.pos..];
        if rest.starts_with('"') {
            // A JSON string literal, so that escapes round-trip with Display.
            let mut de = serde_json::Deserializer::from_str(rest).into_iter::<String>();
            let key = match de.next() {
                Some(Ok(k)) => k,
                _ => return Err("unterminated string key".into()),
            };
            self.pos += de.byte_offset();
            self.expect(']').map_err(|_| "expected `]`".to_string())?;
            Ok(InstanceKey::Str(key))
        } else {
            let len = rest.find(']').ok_or("expected `]`")?;
            let n: u64 = rest[..len]
                .trim()
                .parse()
                .map_err(|_| "an index must be a whole number or a quoted string")?;
            self.pos += len + 1;
            Ok(InstanceKey::Int(n))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip() {
        for s in [
            "aws_instance.web",
            "aws_instance.web[3]",
            "module.etcd.aws_instance.member[\"b\"]",
            "module.a[\"x y\"].module.b[2].data.aws_ami.al2023",
            "random_id.x[\"quote\\\"inside\"]",
        ] {
            let a = ResourceInstanceAddr::parse(s).unwrap();
            assert_eq!(a.to_string(), s);
        }
    }

    #[test]
    fn bad_addresses_are_errors() {
        for s in ["", "aws_instance", "aws_instance.x[", "aws_instance.x[-1]", "module.m", "a.b c"]
        {
            assert!(ResourceInstanceAddr::parse(s).is_err(), "{s}");
        }
    }
}
