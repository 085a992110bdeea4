//! Placeholder: filled by its owner (see /work/vault-contract.md).
