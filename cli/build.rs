// SPDX-License-Identifier: MIT
#[path = "../build/torch_link.rs"]
mod torch_link;

fn main() {
    torch_link::libtorch_link_args();
}
