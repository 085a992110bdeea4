//! Vault's ACL policies: which token may do what on which path.
//!
//! A policy is an HCL (or JSON) document of `path "<pattern>" { capabilities = [...] }`
//! blocks, written exactly as for HashiCorp Vault so existing documents carry over. A token
//! carries policy names; [`PolicyStore::acl`] compiles the named policies into one [`Acl`],
//! which answers whether an operation on a path is allowed.
//!
//! Matching follows Vault: a pattern is an exact path, may end in `*` (a prefix glob), and may
//! have `+` segments (any one segment). When several patterns match, only the most specific
//! one applies (see [`pattern`] for the order); the same pattern in several policies has the
//! union of their capabilities, and `deny` in any of them denies everything on it.
//!
//! - [`parse`]: the document parser ([`parse_policy`]).
//! - [`pattern`]: path patterns, matching and priority.
//! - [`params`]: `allowed_parameters` / `denied_parameters` / `required_parameters`.
//! - [`store`]: stored policies, the built-in `root` and `default`, and the `sys/policy` API.

pub mod params;
pub mod parse;
pub mod pattern;
pub mod store;

#[cfg(test)]
mod tests;

pub use parse::parse_policy;
pub use store::PolicyStore;

use crate::request::Operation;
use params::{merge_param_maps, ParamMap};
use pattern::Pattern;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// One capability, as a bit in a set.
pub mod cap {
    pub const DENY: u16 = 1;
    pub const CREATE: u16 = 1 << 1;
    pub const READ: u16 = 1 << 2;
    pub const UPDATE: u16 = 1 << 3;
    pub const PATCH: u16 = 1 << 4;
    pub const DELETE: u16 = 1 << 5;
    pub const LIST: u16 = 1 << 6;
    pub const SUDO: u16 = 1 << 7;

    /// Every capability by name, in the order Vault reports them (alphabetical).
    pub const NAMES: [(&str, u16); 8] = [
        ("create", CREATE),
        ("delete", DELETE),
        ("deny", DENY),
        ("list", LIST),
        ("patch", PATCH),
        ("read", READ),
        ("sudo", SUDO),
        ("update", UPDATE),
    ];

    /// The bit for a capability name.
    pub fn from_name(name: &str) -> Option<u16> {
        NAMES.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
    }

    /// The names of the capabilities in `bits`, alphabetical.
    pub fn names(bits: u16) -> Vec<String> {
        NAMES
            .iter()
            .filter(|(_, b)| bits & b != 0)
            .map(|(n, _)| (*n).to_owned())
            .collect()
    }

    /// The capability an operation needs.
    pub fn for_op(op: crate::request::Operation) -> u16 {
        use crate::request::Operation;
        match op {
            Operation::Read => READ,
            Operation::List => LIST,
            Operation::Create => CREATE,
            Operation::Update => UPDATE,
            Operation::Patch => PATCH,
            Operation::Delete => DELETE,
        }
    }
}

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Lower-case name.
    pub name: String,
    /// The document as written, returned by reads.
    pub raw: String,
    /// The `path` blocks in document order.
    pub rules: Vec<PathRule>,
}

/// What one `path` block grants.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRule {
    /// The pattern, without a leading `/`.
    pub path: String,
    pub perms: Perms,
}

/// Capabilities and parameter constraints of a path, merged across policies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Perms {
    /// A set of [`cap`] bits; `deny` is never combined with another bit.
    pub caps: u16,
    /// Lower-case parameter names a request must carry.
    pub required_parameters: Vec<String>,
    /// `None`: any parameter is allowed.
    pub allowed_parameters: Option<ParamMap>,
    /// `None`: no parameter is denied.
    pub denied_parameters: Option<ParamMap>,
    /// Seconds; validated and kept, not enforced (Seawall does not wrap responses).
    pub min_wrapping_ttl: Option<i64>,
    pub max_wrapping_ttl: Option<i64>,
}

impl Perms {
    /// Combines the permissions of the same pattern from two policies, as Vault does:
    /// `deny` wins, capabilities add up, parameter lists are joined, the lower wrapping TTLs
    /// are kept.
    fn merge(&mut self, other: &Perms) {
        if self.caps & cap::DENY != 0 || other.caps & cap::DENY != 0 {
            self.caps = cap::DENY;
        } else {
            self.caps |= other.caps;
        }
        for p in &other.required_parameters {
            if !self.required_parameters.contains(p) {
                self.required_parameters.push(p.clone());
            }
        }
        merge_param_maps(&mut self.allowed_parameters, &other.allowed_parameters);
        merge_param_maps(&mut self.denied_parameters, &other.denied_parameters);
        self.min_wrapping_ttl = min_some(self.min_wrapping_ttl, other.min_wrapping_ttl);
        self.max_wrapping_ttl = min_some(self.max_wrapping_ttl, other.max_wrapping_ttl);
    }

    fn grants(&self, bits: u16) -> bool {
        self.caps & cap::DENY == 0 && self.caps & bits == bits
    }
}

fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// The compiled rules of a set of policies.
#[derive(Debug, Default)]
pub struct Acl {
    root: bool,
    exact: HashMap<String, Perms>,
    /// Glob and `+` patterns, highest priority first: the first match is the one that applies.
    wildcard: Vec<(Pattern, Perms)>,
}

impl Acl {
    /// The ACL of the `root` policy: everything is allowed, with `sudo`.
    pub fn root() -> Self {
        Self {
            root: true,
            ..Self::default()
        }
    }

    /// Compiles policies into one ACL. The same pattern in several policies is merged.
    pub fn compile<'a>(policies: impl IntoIterator<Item = &'a Policy>) -> Self {
        let mut merged: HashMap<&str, Perms> = HashMap::new();
        for policy in policies {
            for rule in &policy.rules {
                match merged.get_mut(rule.path.as_str()) {
                    Some(p) => p.merge(&rule.perms),
                    None => {
                        merged.insert(&rule.path, rule.perms.clone());
                    }
                }
            }
        }
        let mut acl = Acl::default();
        for (path, perms) in merged {
            let pattern = Pattern::new(path);
            if pattern.is_exact() {
                acl.exact.insert(path.to_owned(), perms);
            } else {
                acl.wildcard.push((pattern, perms));
            }
        }
        acl.wildcard.sort_by(|(a, _), (b, _)| b.priority_cmp(a));
        acl
    }

    /// Whether this is the root ACL.
    pub fn is_root(&self) -> bool {
        self.root
    }

    /// The rule that applies to `path`: an exact pattern, else the highest-priority wildcard.
    fn rule_for(&self, path: &str) -> Option<&Perms> {
        if let Some(p) = self.exact.get(path) {
            return Some(p);
        }
        self.wildcard
            .iter()
            .find(|(pat, _)| pat.matches(path))
            .map(|(_, p)| p)
    }

    /// The rule for an operation: a `LIST` is checked on the path with a trailing `/` (as
    /// Vault does), and falls back to the path without it.
    fn rule_for_op(&self, path: &str, op: Operation) -> Option<&Perms> {
        let path = path.trim_start_matches('/');
        if op != Operation::List {
            return self.rule_for(path);
        }
        let bare = path.trim_end_matches('/');
        let slashed = format!("{bare}/");
        self.exact
            .get(&slashed)
            .or_else(|| self.exact.get(bare))
            .or_else(|| {
                self.wildcard
                    .iter()
                    .find(|(pat, _)| pat.matches(&slashed))
                    .map(|(_, p)| p)
            })
            .or_else(|| {
                self.wildcard
                    .iter()
                    .find(|(pat, _)| pat.matches(bare))
                    .map(|(_, p)| p)
            })
    }

    /// Whether `op` on `path` is allowed (capabilities only; see [`Acl::allows_request`]).
    pub fn allows(&self, path: &str, op: Operation) -> bool {
        if self.root {
            return true;
        }
        self.rule_for_op(path, op)
            .is_some_and(|p| p.grants(cap::for_op(op)))
    }

    /// Whether the rule for `op` on `path` also grants `sudo` (root-protected paths).
    pub fn allows_sudo_op(&self, path: &str, op: Operation) -> bool {
        if self.root {
            return true;
        }
        self.rule_for_op(path, op)
            .is_some_and(|p| p.grants(cap::SUDO))
    }

    /// Whether the rule for `path` grants `sudo`.
    pub fn allows_sudo(&self, path: &str) -> bool {
        if self.root {
            return true;
        }
        self.rule_for(path.trim_start_matches('/'))
            .is_some_and(|p| p.grants(cap::SUDO))
    }

    /// Whether `op` on `path` with these request parameters is allowed: the capability, then
    /// the rule's required, allowed and denied parameters (checked for reads and writes, as
    /// Vault does).
    pub fn allows_request(&self, path: &str, op: Operation, data: &Map<String, Value>) -> bool {
        if self.root {
            return true;
        }
        let Some(perms) = self.rule_for_op(path, op) else {
            return false;
        };
        if !perms.grants(cap::for_op(op)) {
            return false;
        }
        match op {
            Operation::Read | Operation::Create | Operation::Update | Operation::Patch => {
                params::check(perms, data)
            }
            Operation::List | Operation::Delete => true,
        }
    }

    /// The capabilities on `path`, as `sys/capabilities` reports them: `["root"]` for the root
    /// ACL, `["deny"]` when nothing is granted.
    pub fn capabilities(&self, path: &str) -> Vec<String> {
        if self.root {
            return vec!["root".to_owned()];
        }
        match self.rule_for(path.trim_start_matches('/')) {
            Some(p) if p.caps != 0 && p.caps & cap::DENY == 0 => cap::names(p.caps),
            _ => vec!["deny".to_owned()],
        }
    }
}
