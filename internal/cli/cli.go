package cli

import (
	"errors"
	"flag"
	"strconv"
)

// ErrUsage marks an error already explained to the user by a usage
// message: the command line exits with code 2 and prints nothing more.
var ErrUsage = errors.New("usage")

// ParseFlags parses a command's flags. The flag package has already
// printed what was wrong, so a failure becomes ErrUsage, and -h stays
// flag.ErrHelp.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return ErrUsage
}

// ExitStatus is an error that sets the process exit code without a
// message: the command has already printed what it had to say.
type ExitStatus int

// Error returns "exit status N".
func (e ExitStatus) Error() string { return "exit status " + strconv.Itoa(int(e)) }
