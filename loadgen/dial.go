package loadgen

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/alpcrun/alpcrun/services/sdk/client"
)

// tlsConfig builds the client TLS configuration of t, nil without TLS.
func (t *Target) tlsConfig() (*tls.Config, error) {
	if !t.TLS {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CACert != "" {
		pem, err := os.ReadFile(t.CACert)
		if err != nil {
			return nil, fmt.Errorf("loadgen: ca cert: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("loadgen: no certificate in %s", t.CACert)
		}
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loadgen: client cert: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// sdkOptions are the client SDK's dial options for t.
func (t *Target) sdkOptions() ([]client.Option, error) {
	tc, err := t.tlsConfig()
	if err != nil {
		return nil, err
	}
	opts := []client.Option{client.WithAPIKey(t.APIKey)}
	if tc != nil {
		opts = append(opts, client.WithTLS(tc))
	}
	return opts, nil
}

// rawConn dials addr with t's credentials and API key, for the calls the SDK
// does not offer by session id (closing the sessions RunUnary created).
func (t *Target) rawConn(addr string) (*grpc.ClientConn, error) {
	tc, err := t.tlsConfig()
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if tc != nil {
		creds = credentials.NewTLS(tc)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if t.APIKey != "" {
		key := t.APIKey
		opts = append(opts, grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, o ...grpc.CallOption) error {
			return invoker(metadata.AppendToOutgoingContext(ctx, "api_key", key), method, req, reply, cc, o...)
		}))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("loadgen: dial %s: %w", addr, err)
	}
	return conn, nil
}
