//! A small certified hierarchy: a department, one district under it, two schools under
//! the district, and one key nobody certified.
//!
//! ```text
//!   so (department)
//!    └ d1 (district)
//!       ├ s1 (school)
//!       └ s2 (school)
//!   x9: a key without a certificate
//! ```

use std::sync::OnceLock;

use eduioc_protocol::{CertBody, Certificate, Directory, NodeKey};

/// The units, by index; the last one is not certified.
pub const UNITS: [&str; 5] = ["so", "d1", "s1", "s2", "x9"];
/// Index of the uncertified key in [`UNITS`].
pub const STRANGER: usize = 4;

/// The keys and the directory every target shares.
pub struct World {
    /// One key per entry of [`UNITS`].
    pub keys: Vec<NodeKey>,
    /// The hierarchy as every node knows it.
    pub dir: Directory,
}

/// The secret of unit `i`'s key (fixed: the world is the same for every run).
pub fn secret(i: usize) -> [u8; 32] {
    [i as u8 + 1; 32]
}

/// The shared world, built once.
pub fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(build)
}

fn build() -> World {
    let keys: Vec<NodeKey> = (0..UNITS.len())
        .map(|i| NodeKey::from_secret(secret(i)))
        .collect();
    let root = &keys[0];
    let mut dir = Directory::new(root.id());
    let plan: [(usize, Option<usize>, &str); 4] = [
        (0, None, "department"),
        (1, Some(0), "district"),
        (2, Some(1), "school"),
        (3, Some(1), "school"),
    ];
    for (i, parent, level) in plan {
        let body = CertBody {
            unit: UNITS[i].into(),
            name: format!("Unit {}", UNITS[i]),
            level: level.into(),
            parent: parent.map(|p| UNITS[p].to_string()),
            key: keys[i].id(),
            version: 1,
            effective_ms: 0,
            delegate: i == 1,
            issuer: root.id(),
        };
        // The world is fixed and valid: a refusal here is a bug in the harness.
        if let Err(e) = dir.insert(Certificate::issue(body, root)) {
            panic!("the fuzz world's certificate for {} is refused: {e}", UNITS[i]);
        }
    }
    World { keys, dir }
}
