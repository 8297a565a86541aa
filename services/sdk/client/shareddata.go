package client

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"
	"github.com/alpcrun/alpcrun/services/sdk"
)

// ErrLevelMismatch is returned when shared data is not at the update level
// asked for, or an update's level is not above the stored one
// (FAILED_PRECONDITION from a cache).
var ErrLevelMismatch = errors.New("client: shared data level mismatch")

// SharedData is a connection to a Cache service, for the data every task of
// a session reads (docs/design.md, Shared data): the central cache, or a
// node cache, which forwards writes to it. It is safe for concurrent use.
//
// A session's shared data has an update level. Tasks name the level they
// need (SessionOptions.SharedDataLevel, Session.SetSharedDataLevel), and
// workers read it through their node cache, which keeps each level it has
// fetched until its TTL passes. So new content needs a new level: Update
// gives it one.
type SharedData struct {
	conn *grpc.ClientConn
	api  pb.CacheClient

	mu struct {
		sync.Mutex
		// owned is the last data this client wrote per session, so it can
		// be written again to a cache that lost it (restarted).
		owned map[string]owned
	}
	restored atomic.Int64
}

type owned struct {
	level   uint32
	payload []byte
	ttl     time.Duration
}

// DialSharedData connects to the cache at addr (empty: the address in
// $METALCORE_CENTRAL_CACHE_ADDR, else DefaultCentralCacheAddr) and waits
// until the connection is ready or ctx ends. The options are Dial's.
// Payloads up to 64 MiB, the caches' default maxPayload, fit gRPC's message
// limits; for larger ones add grpc.MaxCallSendMsgSize and
// grpc.MaxCallRecvMsgSize with WithDialOptions and grpc.WithDefaultCallOptions.
func DialSharedData(ctx context.Context, addr string, opts ...Option) (*SharedData, error) {
	if addr == "" {
		addr = sdk.CentralCacheAddr(addr)
	}
	conn, err := dialReady(ctx, addr, opts)
	if err != nil {
		return nil, err
	}
	return &SharedData{conn: conn, api: pb.NewCacheClient(conn)}, nil
}

// Close closes the connection.
func (c *SharedData) Close() error { return c.conn.Close() }

func ttlOf(ttl time.Duration) *durationpb.Duration {
	if ttl == 0 {
		return nil // the cache's maxTTL
	}
	return durationpb.New(ttl)
}

// Set creates the session's shared data at level, to live for ttl (0: the
// cache's maxTTL; longer is capped at it). The payload must not be
// modified until Set returns. ErrAlreadyExists if the session has some.
func (c *SharedData) Set(ctx context.Context, sessionID string, level uint32, payload []byte, ttl time.Duration) error {
	_, err := c.api.SetSharedData(ctx, &pb.SharedData{SessionId: sessionID, UpdateLevel: &level, Payload: payload, Ttl: ttlOf(ttl)})
	if err == nil {
		c.own(sessionID, owned{level, payload, ttl})
	}
	return mapCacheErr(err)
}

func (c *SharedData) own(sessionID string, o owned) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.owned == nil {
		c.mu.owned = make(map[string]owned)
	}
	c.mu.owned[sessionID] = o
}

// restore writes the session's owned data again after the cache answered
// NOT_FOUND for it; false when this client owns none.
func (c *SharedData) restore(ctx context.Context, sessionID string) (bool, error) {
	c.mu.Lock()
	o, ok := c.mu.owned[sessionID]
	c.mu.Unlock()
	if !ok {
		return false, nil
	}
	_, err := c.api.SetSharedData(ctx, &pb.SharedData{SessionId: sessionID, UpdateLevel: &o.level, Payload: o.payload, Ttl: ttlOf(o.ttl)})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return false, mapCacheErr(err)
	}
	c.restored.Add(1)
	return true, nil
}

// Restored is the number of times data this client owns was written again
// to a cache that had lost it.
func (c *SharedData) Restored() int64 { return c.restored.Load() }

// Keep checks every interval that the cache still holds the data this
// client wrote (Set, Update) and writes it again where it does not, so
// that workers find it after the central cache restarted; it returns when
// ctx ends. The check sends no payload: an update to the level already
// stored is refused with FAILED_PRECONDITION when the data is there and
// NOT_FOUND when it is gone.
func (c *SharedData) Keep(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		c.mu.Lock()
		levels := make(map[string]uint32, len(c.mu.owned))
		for id, o := range c.mu.owned {
			levels[id] = o.level
		}
		c.mu.Unlock()
		for id, level := range levels {
			_, err := c.api.UpdateSharedData(ctx, &pb.SharedData{SessionId: id, UpdateLevel: &level})
			if status.Code(err) == codes.NotFound {
				_, _ = c.restore(ctx, id) // a failure is retried at the next tick
			}
		}
	}
}

// Update replaces the session's shared data with payload at the next level
// (the stored one + 1), which it returns, and restarts its TTL.
// ErrNotFound if the session has none.
// If the cache lost data this client owns (NOT_FOUND), the owned data is
// written again first.
func (c *SharedData) Update(ctx context.Context, sessionID string, payload []byte, ttl time.Duration) (uint32, error) {
	req := &pb.SharedData{SessionId: sessionID, Payload: payload, Ttl: ttlOf(ttl)}
	st, err := c.api.UpdateSharedData(ctx, req)
	if status.Code(err) == codes.NotFound {
		if ok, rerr := c.restore(ctx, sessionID); ok {
			st, err = c.api.UpdateSharedData(ctx, req)
		} else if rerr != nil {
			return 0, rerr
		}
	}
	if err != nil {
		return 0, mapCacheErr(err)
	}
	c.own(sessionID, owned{st.GetUpdateLevel(), payload, ttl})
	return st.GetUpdateLevel(), nil
}

// UpdateTo is Update to a chosen level, which must be above the stored one
// (ErrLevelMismatch otherwise).
func (c *SharedData) UpdateTo(ctx context.Context, sessionID string, level uint32, payload []byte, ttl time.Duration) error {
	req := &pb.SharedData{SessionId: sessionID, UpdateLevel: &level, Payload: payload, Ttl: ttlOf(ttl)}
	_, err := c.api.UpdateSharedData(ctx, req)
	if status.Code(err) == codes.NotFound {
		if ok, rerr := c.restore(ctx, sessionID); ok {
			_, err = c.api.UpdateSharedData(ctx, req)
		} else if rerr != nil {
			return rerr
		}
	}
	if err == nil {
		c.own(sessionID, owned{level, payload, ttl})
	}
	return mapCacheErr(err)
}

// Get returns the session's shared data at level: ErrNotFound if it has
// none (or it expired), ErrLevelMismatch if it is at another level.
func (c *SharedData) Get(ctx context.Context, sessionID string, level uint32) ([]byte, error) {
	d, err := c.api.GetSharedData(ctx, &pb.SharedData{SessionId: sessionID, UpdateLevel: &level})
	if err != nil {
		return nil, mapCacheErr(err)
	}
	return d.GetPayload(), nil
}

// Newest returns the session's shared data at its current level, and the
// level.
func (c *SharedData) Newest(ctx context.Context, sessionID string) ([]byte, uint32, error) {
	d, err := c.api.GetSharedData(ctx, &pb.SharedData{SessionId: sessionID})
	if err != nil {
		return nil, 0, mapCacheErr(err)
	}
	return d.GetPayload(), d.GetUpdateLevel(), nil
}

// Delete removes the session's shared data; ErrNotFound if it has none.
func (c *SharedData) Delete(ctx context.Context, sessionID string) error {
	c.mu.Lock()
	delete(c.mu.owned, sessionID)
	c.mu.Unlock()
	_, err := c.api.DeleteSharedData(ctx, &pb.SharedData{SessionId: sessionID})
	return mapCacheErr(err)
}

// mapCacheErr is mapErr with the caches' FAILED_PRECONDITION, which only
// they use for a level mismatch.
func mapCacheErr(err error) error {
	if st, ok := status.FromError(err); ok && st.Code() == codes.FailedPrecondition {
		return &statusError{sentinel: ErrLevelMismatch, st: st}
	}
	return mapErr(err)
}
