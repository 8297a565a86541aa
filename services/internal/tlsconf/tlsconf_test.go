package tlsconf

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/alpcrun/alpcrun/services/tlstest"
)

// serve starts a health server with s on 127.0.0.1 and returns its address.
func serve(t *testing.T, s Server) string {
	t.Helper()
	opt, err := s.ServerOption()
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opt)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis) // returns when the cleanup stops the server
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// check dials addr with c and makes one health check.
func check(t *testing.T, addr string, c Client) error {
	t.Helper()
	opt, err := c.DialOption()
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(addr, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func generate(t *testing.T) tlstest.Files {
	t.Helper()
	f, err := tlstest.Generate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestTLS(t *testing.T) {
	pki, other := generate(t), generate(t)
	addr := serve(t, Server{Enabled: true, CertFile: pki.ServerCert, KeyFile: pki.ServerKey})

	if err := check(t, addr, Client{Enabled: true, CACert: pki.CACert}); err != nil {
		t.Errorf("TLS client with the right CA: %v", err)
	}
	_, port, _ := net.SplitHostPort(addr)
	if err := check(t, net.JoinHostPort("localhost", port), Client{Enabled: true, CACert: pki.CACert}); err != nil {
		t.Errorf("TLS client dialling localhost: %v", err)
	}
	if err := check(t, addr, Client{}); err == nil {
		t.Error("plaintext client accepted by a TLS server")
	}
	if err := check(t, addr, Client{Enabled: true, CACert: other.CACert}); err == nil {
		t.Error("client trusting another CA accepted the server")
	}
	if err := check(t, addr, Client{Enabled: true, CACert: pki.CACert, ServerName: "elsewhere.example"}); err == nil {
		t.Error("client accepted a certificate for the wrong name")
	}
}

func TestMutualTLS(t *testing.T) {
	pki, other := generate(t), generate(t)
	addr := serve(t, Server{Enabled: true, CertFile: pki.ServerCert, KeyFile: pki.ServerKey, ClientCAFile: pki.CACert})

	withCert := Client{Enabled: true, CACert: pki.CACert, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}
	if err := check(t, addr, withCert); err != nil {
		t.Errorf("client with a certificate: %v", err)
	}
	if err := check(t, addr, Client{Enabled: true, CACert: pki.CACert}); err == nil {
		t.Error("client without a certificate accepted by an mTLS server")
	}
	foreign := Client{Enabled: true, CACert: pki.CACert, CertFile: other.ClientCert, KeyFile: other.ClientKey}
	if err := check(t, addr, foreign); err == nil {
		t.Error("client certificate of another CA accepted")
	}
}

func TestPlaintext(t *testing.T) {
	addr := serve(t, Server{})
	if err := check(t, addr, Client{}); err != nil {
		t.Errorf("plaintext: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	pki := generate(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "absent.pem")

	cfg, err := Server{CertFile: pki.ServerCert, KeyFile: pki.ServerKey}.Config()
	if err != nil || cfg.MinVersion != tls.VersionTLS12 || cfg.ClientAuth != tls.NoClientCert {
		t.Errorf("server config = %+v, %v", cfg, err)
	}
	for name, s := range map[string]Server{
		"no cert":         {Enabled: true, KeyFile: pki.ServerKey},
		"missing key":     {Enabled: true, CertFile: pki.ServerCert, KeyFile: missing},
		"mismatched pair": {Enabled: true, CertFile: pki.ServerCert, KeyFile: pki.ClientKey},
		"client CA junk":  {Enabled: true, CertFile: pki.ServerCert, KeyFile: pki.ServerKey, ClientCAFile: notPEM},
	} {
		if _, err := s.Credentials(); err == nil {
			t.Errorf("server %s: no error", name)
		}
	}
	for name, c := range map[string]Client{
		"CA missing":     {Enabled: true, CACert: missing},
		"CA junk":        {Enabled: true, CACert: notPEM},
		"cert, no key":   {Enabled: true, CertFile: pki.ClientCert},
		"bad cert files": {Enabled: true, CertFile: notPEM, KeyFile: notPEM},
	} {
		if _, err := c.Credentials(); err == nil {
			t.Errorf("client %s: no error", name)
		}
	}
}
