//! Dynamic roles (`roles/<name>`): statement templates and TTLs, checked on write — first the
//! templates themselves, then, when the connection is reachable, the SQL for real inside a
//! transaction that is rolled back.

use super::template::{self, Values};
use super::util::{self, ttl_field, SYSTEM_MAX_TTL};
use super::{revoke_asked, DatabaseBackend};
use crate::error::VaultError;
use crate::request::{Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A stored dynamic role.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Role {
    pub db_name: String,
    /// Seconds; 0 is the system default.
    pub default_ttl: i64,
    /// Seconds; 0 is the system maximum.
    pub max_ttl: i64,
    pub creation_statements: Vec<String>,
    #[serde(default)]
    pub revocation_statements: Vec<String>,
    #[serde(default)]
    pub rollback_statements: Vec<String>,
    #[serde(default)]
    pub renew_statements: Vec<String>,
}

impl Role {
    /// The longest life of a credential of this role.
    pub fn max(&self) -> i64 {
        if self.max_ttl > 0 {
            self.max_ttl
        } else {
            SYSTEM_MAX_TTL
        }
    }

    /// The TTL of a new credential, or of one asked for with `ttl` (refused above the max).
    pub fn ttl_for(&self, asked: Option<i64>) -> Result<i64, VaultError> {
        let max = self.max();
        match asked {
            Some(t) if t > max => Err(VaultError::invalid(format!(
                "ttl {t}s is above the role's max_ttl of {max}s"
            ))),
            Some(t) if t > 0 => Ok(t),
            _ if self.default_ttl > 0 => Ok(self.default_ttl.min(max)),
            _ => Ok(max),
        }
    }

    fn from_request(old: Option<&Role>, req: &Request) -> Result<Role, VaultError> {
        let d = &req.data;
        let list = |name: &str, old: Option<&Vec<String>>| -> Result<Vec<String>, VaultError> {
            Ok(util::string_list(d, name, false)?
                .or_else(|| old.cloned())
                .unwrap_or_default())
        };
        let db_name = match (req.str_field("db_name")?, old) {
            (Some(n), _) if !n.is_empty() => n.to_owned(),
            (_, Some(o)) => o.db_name.clone(),
            _ => return Err(VaultError::invalid("field `db_name` is required")),
        };
        let role = Role {
            db_name,
            default_ttl: ttl_field(d, "default_ttl")?
                .or(old.map(|o| o.default_ttl))
                .unwrap_or(0),
            max_ttl: ttl_field(d, "max_ttl")?
                .or(old.map(|o| o.max_ttl))
                .unwrap_or(0),
            creation_statements: list("creation_statements", old.map(|o| &o.creation_statements))?,
            revocation_statements: list(
                "revocation_statements",
                old.map(|o| &o.revocation_statements),
            )?,
            rollback_statements: list("rollback_statements", old.map(|o| &o.rollback_statements))?,
            renew_statements: list("renew_statements", old.map(|o| &o.renew_statements))?,
        };
        if let Some(t) = req.str_field("credential_type")? {
            if t != "password" {
                return Err(VaultError::invalid(format!(
                    "credential_type `{t}` is not supported: only `password`"
                )));
            }
        }
        if role.creation_statements.is_empty() {
            return Err(VaultError::invalid(
                "field `creation_statements` is required",
            ));
        }
        template::check("creation_statements", &role.creation_statements)?;
        template::check("revocation_statements", &role.revocation_statements)?;
        template::check("rollback_statements", &role.rollback_statements)?;
        template::check("renew_statements", &role.renew_statements)?;
        if !template::uses_name(&role.creation_statements) {
            return Err(VaultError::invalid(
                "creation_statements must use {{name}} (the generated role name)",
            ));
        }
        if role.max_ttl > SYSTEM_MAX_TTL {
            return Err(VaultError::invalid(format!(
                "max_ttl {}s is above the system maximum of {SYSTEM_MAX_TTL}s",
                role.max_ttl
            )));
        }
        if role.default_ttl > role.max() {
            return Err(VaultError::invalid(format!(
                "default_ttl {}s is above max_ttl {}s",
                role.default_ttl,
                role.max()
            )));
        }
        Ok(role)
    }

    fn view(&self) -> serde_json::Value {
        json!({
            "db_name": self.db_name,
            "default_ttl": self.default_ttl,
            "max_ttl": self.max_ttl,
            "creation_statements": self.creation_statements,
            "revocation_statements": self.revocation_statements,
            "rollback_statements": self.rollback_statements,
            "renew_statements": self.renew_statements,
            "credential_type": "password",
            "credential_config": {},
        })
    }
}

impl DatabaseBackend {
    pub(super) fn read_role(&self, name: &str) -> Result<Response, VaultError> {
        let role = self
            .role(name)?
            .ok_or_else(|| VaultError::NotFound(format!("unknown role `{name}`")))?;
        Ok(Response::data(role.view()))
    }

    pub(super) async fn write_role(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Response, VaultError> {
        let old = self.role(name)?;
        let role = Role::from_request(old.as_ref(), req)?;
        let conn = self.connection(&role.db_name).map_err(|_| {
            VaultError::invalid(format!("db_name: unknown connection `{}`", role.db_name))
        })?;
        let mut resp = Response::no_content();
        match self.check_sql(&role, &conn.username_prefix).await {
            Ok(()) => {}
            Err(e @ VaultError::Invalid(_)) => return Err(e),
            Err(e) => resp.warnings.push(format!(
                "the statements were not tried on the database (it is unreachable: {e})"
            )),
        }
        self.save("role", name, &role)?;
        self.audit("vault.database.role.write", true, name, None);
        if !resp.warnings.is_empty() {
            resp.status = 200;
        }
        Ok(resp)
    }

    /// Runs the creation, renew and revocation statements with a throw-away name inside a
    /// transaction that is always rolled back. SQL errors are `Invalid`; an unreachable
    /// database is `Upstream` (the caller stores the role with a warning).
    async fn check_sql(&self, role: &Role, prefix: &str) -> Result<(), VaultError> {
        let (_, mut client) = self.root_client(&role.db_name).await?;
        let name = format!("{prefix}check_{}", util::random_lower(12));
        let password = util::new_password();
        let expiration = util::pg_timestamp(self.clock.now() + 3600);
        let values = Values {
            name: &name,
            password: &password,
            expiration: &expiration,
        };
        let tx = client.transaction().await.map_err(|e| {
            VaultError::Upstream(format!(
                "database connection `{}`: {}",
                role.db_name,
                super::pool::describe(&e, &[])
            ))
        })?;
        let groups = [
            ("creation_statements", &role.creation_statements),
            ("renew_statements", &role.renew_statements),
            ("revocation_statements", &role.revocation_statements),
        ];
        for (field, stmts) in groups {
            for (i, s) in stmts.iter().enumerate() {
                let sql = template::render(s, &values)?;
                if let Err(e) = tx.batch_execute(&sql).await {
                    let msg = super::pool::describe(&e, &[&password]);
                    if e.as_db_error().is_some() {
                        return Err(VaultError::invalid(format!(
                            "{field}[{i}] failed on connection `{}` (nothing was stored): {msg}",
                            role.db_name
                        )));
                    }
                    return Err(VaultError::Upstream(msg));
                }
            }
        }
        // Dropping the transaction without commit rolls it back.
        tx.rollback().await.ok();
        Ok(())
    }

    pub(super) async fn delete_role(
        &self,
        req: &Request,
        name: &str,
    ) -> Result<Response, VaultError> {
        if self.role(name)?.is_none() {
            return Ok(Response::no_content());
        }
        let prefix = self.prefix_of_role(name);
        let live = self.leases.live_count(&prefix);
        if live > 0 {
            if !revoke_asked(req) {
                return Err(VaultError::invalid(format!(
                    "role `{name}` still has {live} live leases; revoke them first or pass revoke_leases=true"
                )));
            }
            self.leases
                .revoke_prefix(&prefix)
                .await
                .map_err(|e| VaultError::Upstream(format!("role `{name}` kept: {e}")))?;
        }
        self.barrier.delete(&self.key("role", name))?;
        self.audit("vault.database.role.delete", true, name, None);
        Ok(Response::no_content())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Operation;

    fn req(data: serde_json::Value) -> Request {
        Request::new(Operation::Update, "database/", "roles/r").with_data(data)
    }

    #[test]
    fn ttls_are_checked() {
        let base = json!({"db_name": "pg", "creation_statements": "CREATE ROLE \"{{name}}\""});
        let mut d = base.clone();
        d["default_ttl"] = json!("2h");
        d["max_ttl"] = json!("1h");
        let e = Role::from_request(None, &req(d)).unwrap_err();
        assert!(
            e.to_string()
                .contains("default_ttl 7200s is above max_ttl 3600s"),
            "{e}"
        );
        let mut d = base.clone();
        d["default_ttl"] = json!(60);
        d["max_ttl"] = json!("10m");
        let r = Role::from_request(None, &req(d)).unwrap();
        assert_eq!(r.ttl_for(None).unwrap(), 60);
        assert_eq!(r.ttl_for(Some(600)).unwrap(), 600);
        assert!(r
            .ttl_for(Some(601))
            .unwrap_err()
            .to_string()
            .contains("above the role's max_ttl"));
        let r = Role::from_request(None, &req(base)).unwrap();
        assert_eq!(r.ttl_for(None).unwrap(), SYSTEM_MAX_TTL);
    }

    #[test]
    fn creation_must_name_the_role() {
        let e = Role::from_request(
            None,
            &req(json!({"db_name": "pg", "creation_statements": ["CREATE ROLE x PASSWORD '{{password}}'"]})),
        )
        .unwrap_err();
        assert!(e.to_string().contains("must use {{name}}"), "{e}");
        let e = Role::from_request(None, &req(json!({"db_name": "pg"}))).unwrap_err();
        assert!(e.to_string().contains("creation_statements"), "{e}");
        let e = Role::from_request(
            None,
            &req(json!({"db_name": "pg", "creation_statements": "CREATE ROLE \"{{name}}\"", "renew_statements": "{{expiry}}"})),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("renew_statements[0]: unknown placeholder"),
            "{e}"
        );
    }
}
