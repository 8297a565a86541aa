package grpctune

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// A client that pings more often than the server's enforcement policy
// allows is disconnected with ENHANCE_YOUR_CALM.
func TestKeepaliveWithinPolicy(t *testing.T) {
	if keepaliveTime < keepaliveMinTime {
		t.Fatalf("clients ping every %v, servers allow every %v at most", keepaliveTime, keepaliveMinTime)
	}
}

// serve starts a gRPC server with k on loopback and returns its address.
func serve(t *testing.T, k ServerKeepalive) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(k.ServerOptions()...)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	return lis.Addr().String()
}

// A connection without streams is closed after MaxConnectionIdle: the
// client's channel leaves READY on the server's GOAWAY. A call answered
// (here: Unimplemented) proves the connection was up, however soon after
// it the server closed it.
func TestServerClosesIdleConnection(t *testing.T) {
	k := DefaultServerKeepalive()
	k.MaxConnectionIdle = 50 * time.Millisecond
	cc, err := grpc.NewClient(serve(t, k), append(DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = cc.Invoke(ctx, "/test.Nothing/Here", &emptypb.Empty{}, &emptypb.Empty{})
	if status.Code(err) != codes.Unimplemented {
		t.Fatalf("call on a fresh connection: %v, want Unimplemented", err)
	}
	if !cc.WaitForStateChange(ctx, connectivity.Ready) {
		t.Fatal("idle connection still open after the deadline")
	}
}

// A peer that stops answering (here: one that never acknowledges a ping)
// is disconnected after Time + Timeout.
func TestServerClosesDeadPeer(t *testing.T) {
	addr := serve(t, ServerKeepalive{Time: time.Second, Timeout: 100 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The HTTP/2 client preface and an empty SETTINGS frame, then silence.
	if _, err := io.WriteString(conn, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, conn) // the server's frames, until it closes
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("dead peer still connected after the deadline")
	}
}
