package config

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// Problems collects the problems a Validate method finds, so that it
// reports all of them at once. The zero value is ready to use:
//
//	func (o *Options) Validate() error {
//		var p config.Problems
//		o.Common.Validate(&p)
//		if o.BufferSize <= 0 {
//			p.Add("bufferSize", "must be positive, got %d", o.BufferSize)
//		}
//		return p.Err()
//	}
type Problems struct {
	errs []error
}

// Add records a problem with key; the message is formatted as by fmt.Sprintf.
func (p *Problems) Add(key, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...)))
}

// CheckAddr records a problem with key unless addr is a host:port (the
// host may be empty, the port must be a number).
func (p *Problems) CheckAddr(key, addr string) {
	if err := checkAddr(addr); err != nil {
		p.Add(key, "%v", err)
	}
}

// Err joins the recorded problems, nil when there are none.
func (p *Problems) Err() error {
	return errors.Join(p.errs...)
}

func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid address %q (want host:port)", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("invalid port in address %q", addr)
	}
	return nil
}
