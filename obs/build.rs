// SPDX-License-Identifier: GPL-2.0-or-later
#[path = "../build/torch_link.rs"]
mod torch_link;

fn main() {
    torch_link::libtorch_link_args();
}
