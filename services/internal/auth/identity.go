package auth

import (
	"context"
	"fmt"
	"strings"
)

// Role is what a credential may do, as a set.
type Role uint8

// The roles. A key of a one-team deployment (METALCORE_API_KEY, or a key
// file line with the key alone) is a client and a worker (RoleTeam); only
// a key given roles=admin is an admin.
const (
	// RoleClient creates sessions, sends tasks, reads results, dead letters
	// and shared data, and sees its own sessions in the Admin API.
	RoleClient Role = 1 << iota
	// RoleWorker registers workers and serves tasks.
	RoleWorker
	// RoleAdmin sees and closes every session in the Admin API.
	RoleAdmin
	// RoleTeam is the roles of a key without an identity.
	RoleTeam = RoleClient | RoleWorker
)

var roleNames = map[string]Role{"client": RoleClient, "worker": RoleWorker, "admin": RoleAdmin}

func (r Role) String() string {
	var names []string
	for _, n := range []string{"client", "worker", "admin"} {
		if r&roleNames[n] != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, ",")
}

// Identity is who a call comes from, by its credential.
type Identity struct {
	// Tenant owns the sessions the credential creates; "" for a key with
	// no tenant (a one-team deployment: the claimed client_id counts).
	Tenant string
	Roles  Role
}

// Can reports whether the identity has role r.
func (id Identity) Can(r Role) bool { return id.Roles&r != 0 }

// SessionPrefix is how the ids of the tenant's sessions start ("" for no
// tenant): the queue manager names them so, and the central cache keeps a
// tenant's shared data to them.
func (id Identity) SessionPrefix() string {
	if id.Tenant == "" {
		return ""
	}
	return id.Tenant + ":"
}

// Reaches reports whether the identity may touch session id's data: any
// with no tenant or the admin role, else only its tenant's sessions.
func (id Identity) Reaches(session string) bool {
	return id.Tenant == "" || id.Can(RoleAdmin) || strings.HasPrefix(session, id.SessionPrefix())
}

type identityKey struct{}

// FromContext returns the identity of the call: that of its key, or
// RoleTeam and no tenant on a server without keys (and in tests that serve
// without the interceptors).
func FromContext(ctx context.Context) Identity {
	if id, ok := ctx.Value(identityKey{}).(Identity); ok {
		return id
	}
	return Identity{Roles: RoleTeam}
}

func withIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// parseLine reads a key file line: the key, then optional fields
// tenant=NAME and roles=client,worker,admin (default RoleTeam).
func parseLine(line string) (key string, id Identity, err error) {
	f := strings.Fields(line)
	key, id = f[0], Identity{Roles: RoleTeam}
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "tenant":
			if v == "" {
				return "", id, fmt.Errorf("empty tenant")
			}
			id.Tenant = v
		case "roles":
			id.Roles = 0
			for _, r := range strings.Split(v, ",") {
				role, ok := roleNames[r]
				if !ok {
					return "", id, fmt.Errorf("unknown role %q (want client, worker or admin)", r)
				}
				id.Roles |= role
			}
		default:
			return "", id, fmt.Errorf("unknown field %q (want tenant=NAME or roles=LIST)", kv)
		}
	}
	return key, id, nil
}
