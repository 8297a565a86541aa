// Package cli holds what the repository's commands share about talking to
// people: one error line that names the command once, and help.
package cli

import (
	"fmt"
	"io"
	"strings"
)

// Line is err as the command name reports it: "name: err", or err alone
// when it already starts with "name: " because a package of the same name
// (loadgen, worker, client) made it.
func Line(name string, err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, name+": ") {
		return msg
	}
	return name + ": " + msg
}

// Fail writes Line(name, err) and a newline to w.
func Fail(w io.Writer, name string, err error) {
	fmt.Fprintln(w, Line(name, err))
}

// IsHelp reports whether arg, a command's first argument, asks for help
// rather than naming a subcommand.
func IsHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}
