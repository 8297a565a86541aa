// Package tlsconf builds gRPC transport credentials from the TLS keys of
// the configuration: tls, certFile, keyFile and clientCAFile on servers;
// tls, caCert and an optional client certificate on clients.
//
// TLS 1.2 is the minimum; Go negotiates 1.3 whenever both ends support it.
// Certificates are read once, when the credentials are built: a rotated
// certificate takes effect when the process restarts.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Server describes a server's TLS setup.
type Server struct {
	Enabled  bool   // serve TLS; plaintext when false
	CertFile string // PEM certificate (chain) of the server
	KeyFile  string // PEM private key of the server
	// ClientCAFile, when set, turns on mutual TLS: clients must present a
	// certificate signed by one of these CAs.
	ClientCAFile string
}

// Config builds the server's tls.Config.
func (s Server) Config() (*tls.Config, error) {
	if s.CertFile == "" || s.KeyFile == "" {
		return nil, errors.New("tlsconf: a TLS server needs certFile and keyFile")
	}
	cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if s.ClientCAFile != "" {
		if cfg.ClientCAs, err = loadPool(s.ClientCAFile); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// Credentials returns TLS credentials, or insecure ones when TLS is off.
func (s Server) Credentials() (credentials.TransportCredentials, error) {
	if !s.Enabled {
		return insecure.NewCredentials(), nil
	}
	cfg, err := s.Config()
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(cfg), nil
}

// ServerOption wraps Credentials for grpc.NewServer.
func (s Server) ServerOption() (grpc.ServerOption, error) {
	creds, err := s.Credentials()
	if err != nil {
		return nil, err
	}
	return grpc.Creds(creds), nil
}

// Client describes how a client dials a server.
type Client struct {
	Enabled bool   // dial with TLS; plaintext when false
	CACert  string // PEM CA bundle that verifies the server; empty uses the system roots
	// CertFile and KeyFile, both or neither, are the client's certificate
	// for servers that require mutual TLS.
	CertFile, KeyFile string
	// ServerName overrides the name checked in the server's certificate;
	// by default it is the host of the dialled address.
	ServerName string
}

// Config builds the client's tls.Config.
func (c Client) Config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CACert != "" {
		pool, err := loadPool(c.CACert)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("tlsconf: a client certificate needs both certFile and keyFile")
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tlsconf: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// Credentials returns TLS credentials, or insecure ones when TLS is off.
func (c Client) Credentials() (credentials.TransportCredentials, error) {
	if !c.Enabled {
		return insecure.NewCredentials(), nil
	}
	cfg, err := c.Config()
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(cfg), nil
}

// DialOption wraps Credentials for grpc.NewClient.
func (c Client) DialOption() (grpc.DialOption, error) {
	creds, err := c.Credentials()
	if err != nil {
		return nil, err
	}
	return grpc.WithTransportCredentials(creds), nil
}

func loadPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("tlsconf: %s holds no PEM certificate", path)
	}
	return pool, nil
}
