//! Schemas that providers publish: the shape of each resource type.
//!
//! The engine uses them to validate configuration (names, types, required attributes), to decide
//! whether a change is an update in place or a replacement (`force_new`), to fill computed
//! attributes with unknowns at plan time, and to mask sensitive attributes everywhere.

use std::collections::BTreeMap;

use crate::value::{Type, Value};

/// Every schema of one provider.
#[derive(Clone, Debug, Default)]
pub struct ProviderSchema {
    /// The `provider "name" { … }` block.
    pub provider: Schema,
    pub resources: BTreeMap<String, ResourceSchema>,
    pub data_sources: BTreeMap<String, ResourceSchema>,
}

/// The schema of one resource type or data source.
#[derive(Clone, Debug, Default)]
pub struct ResourceSchema {
    pub description: &'static str,
    pub block: Schema,
}

/// Attributes and nested blocks of a block.
#[derive(Clone, Debug, Default)]
pub struct Schema {
    pub attributes: BTreeMap<String, AttributeSchema>,
    pub blocks: BTreeMap<String, BlockSchema>,
}

#[derive(Clone, Debug)]
pub struct AttributeSchema {
    pub ty: Type,
    pub required: bool,
    pub optional: bool,
    /// Set by the provider (possibly also by the user when `optional`).
    pub computed: bool,
    /// A change to this attribute replaces the object.
    pub force_new: bool,
    pub sensitive: bool,
    /// The value used when the user sets none (and the attribute is not computed).
    pub default: Option<Value>,
    pub description: &'static str,
    /// The values a string may take (empty: any). A known value outside them is a
    /// configuration error at plan time, where AWS would refuse it only at apply.
    pub one_of: &'static [&'static str],
}

impl AttributeSchema {
    fn base(ty: Type) -> AttributeSchema {
        AttributeSchema {
            ty,
            required: false,
            optional: false,
            computed: false,
            force_new: false,
            sensitive: false,
            default: None,
            description: "",
            one_of: &[],
        }
    }

    pub fn required(ty: Type) -> AttributeSchema {
        AttributeSchema { required: true, ..Self::base(ty) }
    }

    pub fn optional(ty: Type) -> AttributeSchema {
        AttributeSchema { optional: true, ..Self::base(ty) }
    }

    pub fn computed(ty: Type) -> AttributeSchema {
        AttributeSchema { computed: true, ..Self::base(ty) }
    }

    /// Optional, and computed by the provider when the user leaves it out.
    pub fn optional_computed(ty: Type) -> AttributeSchema {
        AttributeSchema { optional: true, computed: true, ..Self::base(ty) }
    }

    pub fn force_new(mut self) -> AttributeSchema {
        self.force_new = true;
        self
    }

    pub fn sensitive(mut self) -> AttributeSchema {
        self.sensitive = true;
        self
    }

    pub fn default(mut self, v: Value) -> AttributeSchema {
        self.default = Some(v);
        self
    }

    pub fn describe(mut self, d: &'static str) -> AttributeSchema {
        self.description = d;
        self
    }

    /// Only these values are accepted (see [`AttributeSchema::one_of`]).
    pub fn one_of(mut self, values: &'static [&'static str]) -> AttributeSchema {
        self.one_of = values;
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockNesting {
    /// At most one block; its value is an object (or null).
    Single,
    /// Any number of blocks; its value is a list of objects.
    List,
}

#[derive(Clone, Debug)]
pub struct BlockSchema {
    pub nesting: BlockNesting,
    pub block: Schema,
    /// A change inside the block replaces the object.
    pub force_new: bool,
}

impl Schema {
    pub fn new() -> Schema {
        Schema::default()
    }

    pub fn attr(mut self, name: &str, a: AttributeSchema) -> Schema {
        self.attributes.insert(name.to_string(), a);
        self
    }

    pub fn block(mut self, name: &str, nesting: BlockNesting, block: Schema) -> Schema {
        self.blocks.insert(name.to_string(), BlockSchema { nesting, block, force_new: false });
        self
    }

    pub fn block_force_new(mut self, name: &str, nesting: BlockNesting, block: Schema) -> Schema {
        self.blocks.insert(name.to_string(), BlockSchema { nesting, block, force_new: true });
        self
    }

    /// Marks every attribute this schema calls sensitive, at any depth. The engine applies it to
    /// whatever a provider returns, so a provider that forgets a mark cannot leak a secret.
    pub fn mark_sensitive(&self, value: Value) -> Value {
        let (inner, marked) = value.unmark();
        let Value::Map(mut map) = inner else {
            return inner.mark_if(marked);
        };
        for (name, a) in &self.attributes {
            if a.sensitive
                && let Some(v) = map.remove(name)
            {
                map.insert(name.clone(), v.mark_sensitive());
            }
        }
        for (name, b) in &self.blocks {
            if let Some(v) = map.remove(name) {
                let v = match v {
                    Value::List(items) => {
                        Value::List(items.into_iter().map(|i| b.block.mark_sensitive(i)).collect())
                    }
                    other => b.block.mark_sensitive(other),
                };
                map.insert(name.clone(), v);
            }
        }
        Value::Map(map).mark_if(marked)
    }

    /// Names of every attribute and block, for "did you mean" hints.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.attributes.keys().chain(self.blocks.keys()).map(String::as_str)
    }
}

impl ResourceSchema {
    pub fn new(description: &'static str, block: Schema) -> ResourceSchema {
        ResourceSchema { description, block }
    }
}
