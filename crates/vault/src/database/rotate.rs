//! `rotate-root/<name>`: a new random root password, set at once, so nobody knows it any more.
//!
//! The new password is stored (as `pending_password`) before `ALTER ROLE` runs. If the answer
//! is lost (a crash, a timeout), whichever of the two passwords the server accepts is kept: the
//! next connection tries the stored one, then the pending one.

use super::pool;
use super::template::{self, Values};
use super::util;
use super::DatabaseBackend;
use crate::error::VaultError;
use crate::request::Response;

const DEFAULT_ROOT_ROTATION: &str = "ALTER ROLE \"{{name}}\" WITH PASSWORD '{{password}}'";

impl DatabaseBackend {
    pub(super) async fn rotate_root(&self, name: &str) -> Result<Response, VaultError> {
        let _g = self.admin.lock().await;
        // Also settles a pending password left by an interrupted rotation.
        let (mut conn, mut client) = self.root_client(name).await?;
        let new = util::new_password();
        conn.pending_password = Some(new.clone());
        self.save("config", name, &conn)?;
        let user = conn.root_user();
        let stmts = if conn.root_rotation_statements.is_empty() {
            vec![DEFAULT_ROOT_ROTATION.to_owned()]
        } else {
            conn.root_rotation_statements.clone()
        };
        let values = Values {
            name: &user,
            password: &new,
            expiration: "",
        };
        let result: Result<(), VaultError> = async {
            let up = |e: tokio_postgres::Error| {
                VaultError::Upstream(format!(
                    "rotate-root on connection `{name}` failed: {}",
                    pool::describe(&e, &[&new, &conn.password])
                ))
            };
            let tx = client.transaction().await.map_err(up)?;
            for s in &stmts {
                tx.batch_execute(&template::render(s, &values)?)
                    .await
                    .map_err(up)?;
            }
            tx.commit().await.map_err(up)
        }
        .await;
        drop(client);
        self.pools.reset(name);
        match result {
            Ok(()) => {
                conn.password = new;
                conn.pending_password = None;
                self.save("config", name, &conn)?;
                self.audit("vault.database.rotate_root", true, name, None);
                Ok(Response::no_content())
            }
            Err(e) => {
                // Which password does the server take now? Keep that one.
                let old_works = self.try_password(name, &conn, &conn.password).await;
                if old_works {
                    conn.pending_password = None;
                    self.save("config", name, &conn)?;
                } else if self.try_password(name, &conn, &new).await {
                    conn.password = new;
                    conn.pending_password = None;
                    self.save("config", name, &conn)?;
                    self.audit("vault.database.rotate_root", true, name, None);
                    return Ok(Response::no_content());
                }
                self.audit(
                    "vault.database.rotate_root",
                    false,
                    name,
                    Some(("error", e.to_string())),
                );
                Err(e)
            }
        }
    }

    async fn try_password(
        &self,
        name: &str,
        conn: &super::config::Connection,
        password: &str,
    ) -> bool {
        let Ok(cfg) = conn.pg_config(password, None) else {
            return false;
        };
        let Ok(tls) = conn.tls() else {
            return false;
        };
        match pool::connect(name, &cfg, tls.as_ref(), password).await {
            Ok(c) => c.simple_query("SELECT 1").await.is_ok(),
            Err(_) => false,
        }
    }
}
