# Seawall's built-in "default" policy: what every token needs to look after itself.
# It may be edited (PUT sys/policies/acl/default) but not deleted.

# A token may see, renew and give up its own token.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

path "auth/token/renew-self" {
  capabilities = ["update"]
}

path "auth/token/revoke-self" {
  capabilities = ["update"]
}

# ... and ask which capabilities it has on a path.
path "sys/capabilities-self" {
  capabilities = ["update"]
}

# ... and read the rules that apply to it (the UI asks for this).
path "sys/internal/ui/resultant-acl" {
  capabilities = ["read"]
}

# Lease upkeep: look up and renew a lease by its id.
path "sys/leases/lookup" {
  capabilities = ["update"]
}

path "sys/leases/renew" {
  capabilities = ["update"]
}

path "sys/renew" {
  capabilities = ["update"]
}

# Clients (the vault CLI among them) ask which engine serves a mount, e.g. the KV version.
path "sys/internal/ui/mounts" {
  capabilities = ["read"]
}

path "sys/internal/ui/mounts/*" {
  capabilities = ["read"]
}
