//! Rebuilds the crate when a file of the dashboard changes (`include_dir!` alone is not
//! tracked by cargo on stable Rust).

fn main() {
    println!("cargo:rerun-if-changed=../../web/dashboard");
    println!("cargo:rerun-if-changed=../../web/vendor");
}
