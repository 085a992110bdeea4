//! The README's nginx `auth_request` snippet, run by Debian's nginx in front of the demo
//! upstream with this gateway as the decision point. Skipped (with a message) when nginx is
//! not installed.

use super::common::*;
use http::StatusCode;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `nginx` block of the crate README, pointed at this test's gateway and upstream.
fn readme_snippet(gateway: std::net::SocketAddr, upstream: std::net::SocketAddr) -> String {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("```nginx\n")
        .expect("README has an nginx block")
        + 9;
    let len = readme[start..].find("```").unwrap();
    readme[start..start + len]
        .replace("https://127.0.0.1:8000", &format!("http://{gateway}"))
        .replace("http://127.0.0.1:9000", &format!("http://{upstream}"))
}

struct Nginx {
    dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.dir.path().join("nginx.pid")).unwrap_or_default();
        if let Ok(pid) = pid.trim().parse::<i32>() {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
    }
}

#[tokio::test]
async fn nginx_auth_request_lets_allowed_requests_through_and_stops_denied_ones() {
    let Ok(nginx) = which_nginx() else {
        eprintln!("skipped: nginx is not installed");
        return;
    };
    let h = start().await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let conf = format!(
        "worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log warn; daemon on;\n\
         events {{ worker_connections 64; }}\n\
         http {{ access_log off; client_body_temp_path {d}/b; proxy_temp_path {d}/p;\n\
         fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n\
         server {{ listen 127.0.0.1:{port};\n{}\n}} }}\n",
        readme_snippet(h.addr, h.upstream)
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let status = std::process::Command::new(nginx)
        .args(["-c", &format!("{d}/nginx.conf"), "-p", &d.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let _guard = Nginx { dir };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let base = format!("http://127.0.0.1:{port}");

    let eng = format!("Bearer {}", h.token("alice", &["eng"], 0));
    let ok = send(
        &format!("{base}/report"),
        &[("authorization", &eng), ("x-forwarded-user", "root")],
        "GET",
        "",
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let echo = ok.json();
    assert_eq!(echo["headers"]["x-forwarded-user"], "alice");
    assert_eq!(echo["headers"]["x-forwarded-groups"], "eng");
    assert_eq!(
        echo["headers"]["x-seawall-assertion"]
            .as_str()
            .unwrap()
            .split('.')
            .count(),
        3
    );

    let denied = send(
        &format!("{base}/report"),
        &[("authorization", &eng)],
        "POST",
        "x",
    )
    .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let anonymous = send(
        &format!("{base}/deep?x=1"),
        &[("accept", "text/html")],
        "GET",
        "",
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::FOUND);
    assert_eq!(
        anonymous.header("location"),
        format!("http://127.0.0.1:{port}/.seawall/sign-in?rd=/deep?x=1")
    );

    let log = h.access_log().await;
    assert_eq!(
        log.len(),
        1,
        "only the allowed request may reach the upstream: {log:?}"
    );
    assert_eq!(log[0]["method"], "GET");
}

fn which_nginx() -> Result<&'static str, ()> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .ok_or(())
}
