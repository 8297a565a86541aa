// Package auth checks API keys on gRPC calls, and adds them on the client
// side.
//
// A server accepts the key in METALCORE_API_KEY and the keys of an optional
// key file (one per line; blank lines and lines starting with # are
// ignored). A key file line may give its key an identity after it:
//
//	KEY tenant=risk roles=client
//	KEY roles=worker
//	KEY roles=admin
//
// A key alone (and METALCORE_API_KEY) is a client and a worker with no
// tenant: one team shares the cluster.
//
// A line whose first field is cert:NAME gives the identity to calls over
// mutual TLS (the server's clientCAFile set) whose verified client
// certificate has common name NAME; such a call needs no key:
//
//	cert:risk-batch tenant=risk roles=client
//
// A call that also sends a key is judged by its key. The interceptors put the caller's Identity in
// the call's context (FromContext); services check roles and tenants. Every call must carry one of them in metadata "api_key": a call
// without it fails with UNAUTHENTICATED, one with another key with
// PERMISSION_DENIED. With no key configured the server is open, and New says
// so, so that the main logs a warning.
//
// The gRPC health service and server reflection are exempt: Kubernetes
// probes and grpcurl cannot be given a key, and neither service exposes
// data (health reports SERVING or not; reflection describes the public
// API, which is in the repository anyway).
package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

const (
	// MetadataKey is the gRPC metadata key that carries the API key.
	MetadataKey = "api_key"
)

// exempt lists the services reachable without a key (see the package doc).
var exempt = []string{
	"/grpc.health.v1.Health/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
}

// Authenticator checks the API key of incoming calls. It is safe for
// concurrent use.
type Authenticator struct {
	// SHA-256 digests, so that every comparison is over 32 bytes and the
	// time taken does not reveal a key's length.
	keys [][sha256.Size]byte
	ids  []Identity // of keys[i]
	// certs maps a verified client certificate's common name to its
	// identity (key file lines cert:NAME).
	certs map[string]Identity
}

// New returns an Authenticator accepting key (typically the value of
// sdk.EnvAPIKey; empty for none) and the keys listed in keyFile (empty for no
// file). open is true when no key is configured: every call is then
// accepted. A key file that exists but lists no key is an error, so that a
// truncated file never opens the server.
func New(key, keyFile string) (a *Authenticator, open bool, err error) {
	a = &Authenticator{}
	if key = strings.TrimSpace(key); key != "" {
		a.keys = append(a.keys, sha256.Sum256([]byte(key)))
		a.ids = append(a.ids, Identity{Roles: RoleTeam})
	}
	if keyFile != "" {
		data, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, false, fmt.Errorf("auth: %w", err)
		}
		n := len(a.keys)
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			key, id, err := parseLine(line)
			if err != nil {
				return nil, false, fmt.Errorf("auth: key file %s: %w", keyFile, err)
			}
			if name, ok := strings.CutPrefix(key, certPrefix); ok {
				if name == "" {
					return nil, false, fmt.Errorf("auth: key file %s: empty certificate name in %q", keyFile, line)
				}
				if a.certs == nil {
					a.certs = make(map[string]Identity)
				}
				a.certs[name] = id
				continue
			}
			a.keys = append(a.keys, sha256.Sum256([]byte(key)))
			a.ids = append(a.ids, id)
		}
		if err := sc.Err(); err != nil {
			return nil, false, fmt.Errorf("auth: key file %s: %w", keyFile, err)
		}
		if len(a.keys) == n && len(a.certs) == 0 {
			return nil, false, fmt.Errorf("auth: key file %s lists no key", keyFile)
		}
	}
	return a, len(a.keys) == 0 && len(a.certs) == 0, nil
}

// certPrefix starts a key file line that names a client certificate.
const certPrefix = "cert:"

// certIdentity is the identity of the call's verified client certificate,
// if the key file names it.
func (a *Authenticator) certIdentity(ctx context.Context) (Identity, bool) {
	if len(a.certs) == 0 {
		return Identity{}, false
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return Identity{}, false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return Identity{}, false
	}
	return a.certOf(&info.State)
}

// certOf is the identity of the connection's verified client certificate,
// if the key file names it; an unverified one counts as none.
func (a *Authenticator) certOf(cs *tls.ConnectionState) (Identity, bool) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Identity{}, false
	}
	id, ok := a.certs[cs.VerifiedChains[0][0].Subject.CommonName]
	return id, ok
}

// ServerOptions returns the options that install the interceptors; they
// chain with the server's other interceptors.
func (a *Authenticator) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(a.UnaryInterceptor()),
		grpc.ChainStreamInterceptor(a.StreamInterceptor()),
	}
}

// UnaryInterceptor checks the key of unary calls.
func (a *Authenticator) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := a.check(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamInterceptor checks the key of streaming calls before the handler
// runs.
func (a *Authenticator) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := a.check(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, identified{ss, ctx})
	}
}

// identified is a stream whose context carries the caller's identity.
type identified struct {
	grpc.ServerStream
	ctx context.Context
}

func (s identified) Context() context.Context { return s.ctx }

// check authenticates a call and returns its context with the caller's
// identity.
func (a *Authenticator) check(ctx context.Context, method string) (context.Context, error) {
	if len(a.keys) == 0 && len(a.certs) == 0 {
		return ctx, nil
	}
	for _, prefix := range exempt {
		if strings.HasPrefix(method, prefix) {
			return ctx, nil
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(MetadataKey)
	if len(vals) == 0 || vals[0] == "" {
		if id, ok := a.certIdentity(ctx); ok {
			return withIdentity(ctx, id), nil
		}
		return ctx, status.Error(codes.Unauthenticated, "auth: missing api_key metadata (and no client certificate the key file names)")
	}
	id, ok := a.identify(vals[0])
	if !ok {
		return ctx, status.Error(codes.PermissionDenied, "auth: invalid api_key")
	}
	return withIdentity(ctx, id), nil
}

// valid reports whether key is one of the configured keys.
func (a *Authenticator) valid(key string) bool {
	_, ok := a.identify(key)
	return ok
}

// identify returns the identity of key, if it is a configured one.
func (a *Authenticator) identify(key string) (Identity, bool) {
	got := sha256.Sum256([]byte(key))
	var id Identity
	match := 0
	for i := range a.keys { // no early exit: the time does not tell which key matched
		if m := subtle.ConstantTimeCompare(got[:], a.keys[i][:]); m == 1 {
			id, match = a.ids[i], 1
		}
	}
	return id, match == 1
}

// Require returns PERMISSION_DENIED unless the caller of ctx has role r.
func Require(ctx context.Context, r Role) error {
	if id := FromContext(ctx); !id.Can(r) {
		return status.Errorf(codes.PermissionDenied, "auth: this call needs role %s; the key has %s", r, id.Roles)
	}
	return nil
}

// Key is the client side: per-RPC credentials that send the key in
// metadata "api_key". It does not require transport security, so it also
// works in plaintext development setups; use TLS where keys cross a
// network.
type Key string

var _ credentials.PerRPCCredentials = Key("")

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (k Key) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{MetadataKey: string(k)}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (k Key) RequireTransportSecurity() bool { return false }

// DialOption returns the dial option that sends key on every call, or an
// option that does nothing when key is empty.
func DialOption(key string) grpc.DialOption {
	if key = strings.TrimSpace(key); key == "" {
		return grpc.EmptyDialOption{}
	}
	return grpc.WithPerRPCCredentials(Key(key))
}
