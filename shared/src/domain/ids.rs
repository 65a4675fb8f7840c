//! Random identifiers.

use rand::RngCore;

/// 128 random bits, hex: unique enough for job ids and call ids.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
