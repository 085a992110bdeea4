//! The Cedar schema that every Seawall policy is validated against.
//!
//! The text is [`SCHEMA`] (also shipped as `src/seawall.cedarschema`); `README.md` in this crate
//! documents each entity, action and context attribute for policy authors.

use std::sync::LazyLock;

use cedar_policy::{EntityTypeName, Schema};

/// The schema, in Cedar's schema syntax.
pub const SCHEMA: &str = include_str!("seawall.cedarschema");

/// The entity type of a signed-in user: `User::"alice"`.
pub const USER: &str = "User";
/// The entity type of a group of users: `Group::"admins"`.
pub const GROUP: &str = "Group";
/// The entity type of a gateway route: `Route::"demo"`.
pub const ROUTE: &str = "Route";

/// The HTTP methods that are actions (`Action::"GET"` ...), in the schema's order.
pub const METHODS: [&str; 9] = [
    "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "TRACE",
];

/// The parsed schema.
pub(crate) fn schema() -> &'static Schema {
    static PARSED: LazyLock<Schema> =
        LazyLock::new(|| match Schema::from_cedarschema_str(SCHEMA) {
            Ok((schema, _warnings)) => schema,
            // The schema is a constant of this crate, and a unit test parses it.
            Err(e) => unreachable!("the built-in schema does not parse: {e}"),
        });
    &PARSED
}

/// The entity type name `name`, one of this schema's constants.
pub(crate) fn type_name(name: &str) -> EntityTypeName {
    match name.parse() {
        Ok(t) => t,
        Err(e) => unreachable!("`{name}` is not an entity type name: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_parses_without_warnings() {
        let (_, warnings) = Schema::from_cedarschema_str(SCHEMA).unwrap();
        assert_eq!(warnings.count(), 0);
    }

    #[test]
    fn every_method_is_an_action_of_the_schema() {
        let actions: Vec<String> = schema()
            .actions()
            .map(|a| a.id().unescaped().into())
            .collect();
        for method in METHODS {
            assert!(actions.iter().any(|a| a == method), "{method} missing");
        }
    }
}
