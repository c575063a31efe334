// Empty: cargo needs a target in the manifest. Nothing here is built; see
// Cargo.toml.
