//! The sign-in pages' HTML: server-rendered, no scripts, no external assets.

use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;\
padding:0 1rem;color:#1c2430}h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}\
input{width:100%;padding:.5rem;box-sizing:border-box;font-size:1rem}\
button{margin-top:1rem;padding:.5rem 1.2rem;font-size:1rem}\
.err{color:#a4161a;border:1px solid #a4161a;padding:.5rem}code{word-break:break-all}\
.qr svg{width:14rem;height:14rem}input[type=radio]{width:auto}ul.codes{font-family:monospace}";

/// The `Content-Security-Policy` of every page: nothing but this page's own style and forms.
pub(crate) static CSP: LazyLock<String> = LazyLock::new(|| {
    use base64::Engine;
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src data:; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
});

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page around `body` (already escaped markup).
pub(crate) fn page(title: &str, error: Option<&str>, body: &str) -> String {
    let error = error
        .map(|e| format!("<p class=\"err\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{t} - Seawall</title>\
         <style>{STYLE}</style></head><body><h1>{t}</h1>{error}{body}</body></html>",
        t = escape(title)
    )
}

/// The hidden fields every form carries.
pub(crate) fn hidden(csrf: &str, rd: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"rd\" \
         value=\"{}\">",
        escape(csrf),
        escape(rd)
    )
}

pub(crate) fn sign_in_form(csrf: &str, rd: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/.seawall/sign-in\">{}\
         <label for=\"u\">User name</label><input id=\"u\" name=\"username\" \
         autocomplete=\"username\" required autofocus>\
         <label for=\"p\">Password</label><input id=\"p\" name=\"password\" type=\"password\" \
         autocomplete=\"current-password\" required>\
         <button type=\"submit\">Sign in</button></form>",
        hidden(csrf, rd)
    )
}

/// The second-factor form, posting to `action` (`factor` or `verify`).
pub(crate) fn code_form(action: &str, csrf: &str, rd: &str, recovery: bool) -> String {
    let recovery = if recovery {
        "<p>Lost your device? Enter a recovery code instead and choose it below.</p>\
         <label><input type=\"radio\" name=\"kind\" value=\"totp\" checked> \
         Authenticator code</label><label><input type=\"radio\" name=\"kind\" \
         value=\"recovery_code\"> Recovery code</label>"
    } else {
        "<input type=\"hidden\" name=\"kind\" value=\"totp\">"
    };
    format!(
        "<form method=\"post\" action=\"/.seawall/{action}\">{}\
         <label for=\"c\">Code from your authenticator app</label>\
         <input id=\"c\" name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" \
         required autofocus>{recovery}<button type=\"submit\">Verify</button></form>",
        hidden(csrf, rd)
    )
}

pub(crate) fn enroll(csrf: &str, rd: &str, qr_svg: &str, uri: &str, secret: &str) -> String {
    // The SVG comes from our own identity provider, and the CSP forbids scripts in any case.
    format!(
        "<p>Scan this code with an authenticator app, then enter the code it shows.</p>\
         <div class=\"qr\">{qr_svg}</div>\
         <p>Or enter this key by hand: <code>{}</code></p>\
         <p><a href=\"{}\">Open in an authenticator app</a></p>\
         <form method=\"post\" action=\"/.seawall/enroll/confirm\">{}\
         <input type=\"hidden\" name=\"kind\" value=\"totp\">\
         <label for=\"c\">Code</label><input id=\"c\" name=\"code\" inputmode=\"numeric\" \
         autocomplete=\"one-time-code\" required autofocus>\
         <button type=\"submit\">Confirm</button></form>",
        escape(secret),
        escape(uri),
        hidden(csrf, rd)
    )
}

pub(crate) fn recovery_codes(codes: &[String], rd: &str) -> String {
    let items: String = codes
        .iter()
        .map(|c| format!("<li>{}</li>", escape(c)))
        .collect();
    format!(
        "<p>Your second factor is set up. Keep these recovery codes somewhere safe: each works \
         once if you lose your device, and they are shown only now.</p>\
         <ul class=\"codes\">{items}</ul><p><a href=\"{}\">Continue</a></p>",
        escape(rd)
    )
}

pub(crate) fn sign_out_form(csrf: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/.seawall/sign-out\">{}\
         <button type=\"submit\">Sign out</button></form>",
        hidden(csrf, "/")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_escaped() {
        let p = page("x", Some("<script>"), &hidden("a\"b", "/<x>"));
        assert!(!p.contains("<script>"));
        assert!(p.contains("a&quot;b"));
        assert!(p.contains("/&lt;x&gt;"));
    }

    #[test]
    fn csp_pins_the_inline_style_by_hash() {
        assert!(CSP.contains("style-src 'sha256-"));
        assert!(CSP.contains("default-src 'none'"));
    }
}
