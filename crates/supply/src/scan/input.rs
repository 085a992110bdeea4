//! Reading the components to scan from a CycloneDX or SPDX JSON document, by their purls.

use serde_json::Value;

use crate::model::{Component, Ecosystem, Purl};

/// The largest SBOM read (a 10,000-component CycloneDX document is about 5 MB).
pub const MAX_SBOM_BYTES: u64 = 256 * 1024 * 1024;

/// The document is not an SBOM we read.
#[derive(Debug, thiserror::Error)]
pub enum SbomInputError {
    /// Not JSON.
    #[error("`{path}` is not json: {reason}")]
    Json {
        /// The file.
        path: String,
        /// The parser's message.
        reason: String,
    },
    /// JSON, but neither CycloneDX nor SPDX.
    #[error("`{0}` is neither a cyclonedx nor an spdx json document")]
    Format(String),
}

/// Components read from an SBOM, and what was passed over.
#[derive(Debug, Clone, Default)]
pub struct SbomComponents {
    /// Components with a purl of an ecosystem we match.
    pub components: Vec<Component>,
    /// Entries passed over, each with the reason (no purl, other ecosystem, no version).
    pub skipped: Vec<String>,
}

/// Reads components from a CycloneDX (any 1.x) or SPDX 2.x JSON document.
pub fn components_from_sbom(path: &str, bytes: &[u8]) -> Result<SbomComponents, SbomInputError> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| SbomInputError::Json {
        path: path.to_owned(),
        reason: e.to_string().replace('\n', " "),
    })?;
    let mut out = SbomComponents::default();
    if doc.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        let mut stack: Vec<&Value> = Vec::new();
        if let Some(list) = doc.get("components").and_then(Value::as_array) {
            stack.extend(list.iter().rev());
        }
        // Nested components (CycloneDX allows a tree) are walked without recursion.
        while let Some(entry) = stack.pop() {
            if let Some(children) = entry.get("components").and_then(Value::as_array) {
                stack.extend(children.iter().rev());
            }
            let label = entry
                .get("bom-ref")
                .or_else(|| entry.get("name"))
                .and_then(Value::as_str);
            add(
                &mut out,
                entry.get("purl").and_then(Value::as_str),
                label.unwrap_or("?"),
            );
        }
    } else if doc.get("spdxVersion").is_some() {
        for package in doc
            .get("packages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let purl = package
                .get("externalRefs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|r| r.get("referenceType").and_then(Value::as_str) == Some("purl"))
                .and_then(|r| r.get("referenceLocator"))
                .and_then(Value::as_str);
            let label = package.get("SPDXID").and_then(Value::as_str).unwrap_or("?");
            add(&mut out, purl, label);
        }
    } else {
        return Err(SbomInputError::Format(path.to_owned()));
    }
    Ok(out)
}

fn add(out: &mut SbomComponents, purl: Option<&str>, label: &str) {
    match purl.map(component_from_purl) {
        Some(Ok(component)) => out.components.push(component),
        Some(Err(reason)) => out.skipped.push(format!("`{label}`: {reason}")),
        None => out.skipped.push(format!("`{label}`: no purl")),
    }
}

/// The component a purl names, for an ecosystem we match.
pub fn component_from_purl(text: &str) -> Result<Component, String> {
    let purl = Purl::parse(text).map_err(|e| e.to_string())?;
    let ecosystem = Ecosystem::from_purl_type(purl.ty())
        .ok_or_else(|| format!("purl type `{}` is not matched", purl.ty()))?;
    let version = purl
        .version()
        .ok_or_else(|| format!("purl `{text}` has no version"))?;
    let mut component =
        Component::new(ecosystem, &purl.package_name(), version).map_err(|e| e.to_string())?;
    component.purl = purl;
    Ok(component)
}
