//! Prints the diagnostics of policy files or directories, as `seawall policy check` would.
//!
//! `cargo run -p seawall-policy --example check -- policies/ extra.cedar`

fn main() {
    let paths: Vec<std::path::PathBuf> = std::env::args_os().skip(1).map(Into::into).collect();
    let found = seawall_policy::check(&paths);
    for diagnostic in &found {
        println!("{diagnostic}");
    }
    let errors = found.iter().filter(|d| d.is_error()).count();
    println!("{errors} error(s), {} warning(s)", found.len() - errors);
    std::process::exit(i32::from(errors > 0));
}
