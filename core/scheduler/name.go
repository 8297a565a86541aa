package scheduler

import (
	"fmt"
	"slices"
)

// Name is a policy name as a configuration file writes it. Reading it
// refuses a name New would not accept, so that the error points at the
// file, variable or flag that gave it.
type Name string

// UnmarshalText accepts one of Policies().
func (n *Name) UnmarshalText(b []byte) error {
	if !slices.Contains(Policies(), string(b)) {
		return fmt.Errorf("%w %q (have %v)", ErrUnknownPolicy, b, Policies())
	}
	*n = Name(b)
	return nil
}
