//! Makes sure the Studio's build folder exists, so the server compiles (serving a page that
//! says the Studio is not built) before anyone has run the Studio's build.

fn main() {
    let dist = std::path::Path::new("../../studio/dist");
    if !dist.exists() {
        // A failure here surfaces as rust-embed's "folder does not exist" error, which names
        // the folder.
        let _ = std::fs::create_dir_all(dist);
    }
    println!("cargo:rerun-if-changed=../../studio/dist");
}
