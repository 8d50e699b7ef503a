// SPDX-License-Identifier: MIT
#[path = "build/torch_link.rs"]
mod torch_link;

fn main() {
    torch_link::libtorch_link_args();
    // Baked into `adainstyle::data` so an installed plugin finds its models.
    println!("cargo:rerun-if-env-changed=ADAINSTYLE_INSTALL_DATADIR");
}
