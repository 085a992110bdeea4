//! A requirements file from an untrusted repository must not make `seawall sbom` read files
//! outside the tree it scans (reported by a new-user trial: `-r /etc/passwd` made the reader
//! echo the first word of each line of that file in its warnings).

use seawall_supply::sbom::{generate, SbomOptions};
use std::fs;

#[test]
fn requirement_includes_outside_the_scanned_folder_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret.txt"), "topsecretpkg==1.0.0\n").unwrap();
    let tree = tempfile::tempdir().unwrap();
    fs::create_dir(tree.path().join("sub")).unwrap();
    fs::write(tree.path().join("sub/base.txt"), "idna==3.7\n").unwrap();
    fs::write(
        tree.path().join("requirements.txt"),
        format!(
            "-r sub/base.txt\n-r {}\n-c {}\nrequests==2.31.0\n",
            outside.path().join("secret.txt").display(),
            outside.path().join("secret.txt").display()
        ),
    )
    .unwrap();

    let report = generate(tree.path(), &SbomOptions::default()).unwrap();
    let names: Vec<&str> = report.components.iter().map(|c| c.name.as_str()).collect();
    assert!(
        names.contains(&"requests") && names.contains(&"idna"),
        "{names:?}"
    );
    assert!(!names.contains(&"topsecretpkg"), "{names:?}");
    let text = format!("{:?}", report.warnings);
    assert!(text.contains("outside the folder"), "{text}");
    assert!(!text.contains("topsecretpkg"), "{text}");
}
