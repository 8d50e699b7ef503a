// SPDX-License-Identifier: MIT
#[path = "../build/torch_link.rs"]
mod torch_link;

fn main() {
    gst_plugin_version_helper::info();
    torch_link::libtorch_link_args();
}
