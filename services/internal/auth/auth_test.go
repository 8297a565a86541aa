package auth

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/alpcrun/alpcrun/services/internal/tlsconf"
	"github.com/alpcrun/alpcrun/services/tlstest"
)

// echoDesc is a tiny service with one unary and one streaming method, so
// that the tests exercise both interceptors on a protected service.
var echoDesc = grpc.ServiceDesc{
	ServiceName: "authtest.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Ping",
		Handler: func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			in := new(emptypb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(context.Context, any) (any, error) { return new(emptypb.Empty), nil }
			if icpt == nil {
				return h(ctx, in)
			}
			return icpt(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/authtest.Echo/Ping"}, h)
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Pump",
		ServerStreams: true,
		Handler: func(_ any, ss grpc.ServerStream) error {
			return ss.SendMsg(new(emptypb.Empty))
		},
	}},
}

// serve starts a server with the authenticator on bufconn and returns a
// client connection carrying opts.
func serve(t *testing.T, a *Authenticator, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 16)
	srv := grpc.NewServer(a.ServerOptions()...)
	srv.RegisterService(&echoDesc, struct{}{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	reflection.Register(srv)
	go srv.Serve(lis) // returns when the cleanup stops the server
	t.Cleanup(srv.Stop)

	opts = append(opts,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	cc, err := grpc.NewClient("passthrough:///bufnet", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ping(ctx context.Context, cc *grpc.ClientConn) error {
	return cc.Invoke(ctx, "/authtest.Echo/Ping", new(emptypb.Empty), new(emptypb.Empty))
}

func pump(ctx context.Context, cc *grpc.ClientConn) error {
	st, err := cc.NewStream(ctx, &echoDesc.Streams[0], "/authtest.Echo/Pump")
	if err != nil {
		return err
	}
	if err := st.SendMsg(new(emptypb.Empty)); err != nil {
		return err
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	return st.RecvMsg(new(emptypb.Empty))
}

func TestAPIKey(t *testing.T) {
	a, open, err := New("s3cret", "")
	if err != nil || open {
		t.Fatalf("New = %v, open=%v", err, open)
	}
	for _, c := range []struct {
		name string
		opt  grpc.DialOption
		want codes.Code
	}{
		{"no key", DialOption(""), codes.Unauthenticated},
		{"empty key", grpc.WithPerRPCCredentials(Key("")), codes.Unauthenticated},
		{"wrong key", DialOption("guess"), codes.PermissionDenied},
		{"prefix of the key", DialOption("s3cre"), codes.PermissionDenied},
		{"right key", DialOption("s3cret"), codes.OK},
	} {
		t.Run(c.name, func(t *testing.T) {
			cc := serve(t, a, c.opt)
			ctx := ctxT(t)
			if got := status.Code(ping(ctx, cc)); got != c.want {
				t.Errorf("unary: %v, want %v", got, c.want)
			}
			if got := status.Code(pump(ctx, cc)); got != c.want {
				t.Errorf("stream: %v, want %v", got, c.want)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	a, open, err := New("  ", "")
	if err != nil || !open {
		t.Fatalf("New with no key = %v, open=%v, want open", err, open)
	}
	cc := serve(t, a)
	ctx := ctxT(t)
	if err := ping(ctx, cc); err != nil {
		t.Errorf("unary: %v", err)
	}
	if err := pump(ctx, cc); err != nil {
		t.Errorf("stream: %v", err)
	}
}

func TestHealthAndReflectionExempt(t *testing.T) {
	a, _, err := New("s3cret", "")
	if err != nil {
		t.Fatal(err)
	}
	cc := serve(t, a)
	ctx := ctxT(t)
	if _, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health check without key: %v", err)
	}
	st, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req := &reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}
	if err := st.Send(req); err != nil {
		t.Fatal(err)
	}
	resp, err := st.Recv()
	if err != nil {
		t.Fatalf("reflection without key: %v", err)
	}
	if n := len(resp.GetListServicesResponse().GetService()); n == 0 {
		t.Errorf("reflection listed no service: %v", resp)
	}
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte("# team keys\n\n  alpha  \nbeta\n# gamma\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, open, err := New("env-key", path)
	if err != nil || open {
		t.Fatalf("New = %v, open=%v", err, open)
	}
	for key, want := range map[string]codes.Code{
		"alpha": codes.OK, "beta": codes.OK, "env-key": codes.OK,
		"gamma": codes.PermissionDenied, "# team keys": codes.PermissionDenied,
	} {
		cc := serve(t, a, DialOption(key))
		if got := status.Code(ping(ctxT(t), cc)); got != want {
			t.Errorf("key %q: %v, want %v", key, got, want)
		}
	}

	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("# nothing yet\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := New("", empty); err == nil {
		t.Error("New accepted a key file with no key")
	}
	if _, _, err := New("", filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("New accepted a missing key file")
	}
}

// A key file line gives its key a tenant and roles; a plain key is a
// client and a worker; a line with an unknown field or role is an error
// naming it.
func TestKeyIdentities(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte("plain\nrisk-key tenant=risk roles=client\nw roles=worker\nops roles=admin,client\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, _, err := New("", path)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]Identity{
		"plain":    {Roles: RoleTeam},
		"risk-key": {Tenant: "risk", Roles: RoleClient},
		"w":        {Roles: RoleWorker},
		"ops":      {Roles: RoleAdmin | RoleClient},
	} {
		if got, ok := a.identify(key); !ok || got != want {
			t.Errorf("key %q: %+v %v, want %+v", key, got, ok, want)
		}
	}
	for _, bad := range []string{"k roles=root", "k owner=x", "k tenant="} {
		if err := os.WriteFile(path, []byte(bad+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := New("", path); err == nil {
			t.Errorf("New accepted %q", bad)
		}
	}
}

func TestReaches(t *testing.T) {
	for _, c := range []struct {
		id      Identity
		session string
		want    bool
	}{
		{Identity{Roles: RoleTeam}, "anything", true},
		{Identity{Tenant: "a", Roles: RoleClient}, "a:1", true},
		{Identity{Tenant: "a", Roles: RoleClient}, "ab:1", false},
		{Identity{Tenant: "a", Roles: RoleClient}, "1", false},
		{Identity{Tenant: "a", Roles: RoleWorker}, "b:1", false},
		{Identity{Tenant: "ops", Roles: RoleAdmin}, "b:1", true},
	} {
		if got := c.id.Reaches(c.session); got != c.want {
			t.Errorf("%+v reaches %q: %v, want %v", c.id, c.session, got, c.want)
		}
	}
}

// Over mutual TLS a verified client certificate the key file names is a
// credential of its own: the call gets that line's identity without a key,
// while a certificate the file does not name still needs a key.
func TestClientCertificateIdentity(t *testing.T) {
	pki, err := tlstest.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		line string
		want codes.Code
		id   Identity
	}{
		{"cert:client tenant=risk roles=client", codes.OK, Identity{Tenant: "risk", Roles: RoleClient}},
		{"cert:someone-else tenant=risk roles=client", codes.Unauthenticated, Identity{}},
	} {
		path := filepath.Join(t.TempDir(), "keys")
		if err := os.WriteFile(path, []byte(c.line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		a, open, err := New("", path)
		if err != nil || open {
			t.Fatalf("New: open %v, %v", open, err)
		}
		creds, err := tlsconf.Server{Enabled: true, CertFile: pki.ServerCert, KeyFile: pki.ServerKey, ClientCAFile: pki.CACert}.Credentials()
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan Identity, 1)
		record := grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			got <- FromContext(ctx)
			return h(ctx, req)
		})
		srv := grpc.NewServer(append(a.ServerOptions(), grpc.Creds(creds), record)...)
		srv.RegisterService(&echoDesc, struct{}{})
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(lis)
		t.Cleanup(srv.Stop)
		dial, err := tlsconf.Client{Enabled: true, CACert: pki.CACert, CertFile: pki.ClientCert, KeyFile: pki.ClientKey, ServerName: "localhost"}.Credentials()
		if err != nil {
			t.Fatal(err)
		}
		cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(dial))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		err = ping(ctxT(t), cc)
		if status.Code(err) != c.want {
			t.Fatalf("%s: ping %v, want %v", c.line, err, c.want)
		}
		if c.want == codes.OK {
			if id := <-got; id != c.id {
				t.Errorf("%s: identity %+v, want %+v", c.line, id, c.id)
			}
		}
	}
}
