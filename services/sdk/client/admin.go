package client

import pb "github.com/alpcrun/alpcrun/proto/alpcrun/v1"

// Admin returns a client of the queue manager's Admin service on this
// connection (status, sessions, workers; see alpcrun.proto), as the
// `alpcrun` CLI uses it.
func (c *Client) Admin() pb.AdminClient { return pb.NewAdminClient(c.conn) }
