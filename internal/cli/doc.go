// Package cli is what dtmfgw's subcommands share with the command line
// that runs them (cmd/dtmfgw): how a command says that its arguments were
// wrong, that help was asked for, or which exit code it wants.
//
// A command returns nil for success (exit code 0), an error wrapping
// flag.ErrHelp after printing its help (0), ErrUsage after printing its
// usage (2), an ExitStatus after printing what it had to say (that code),
// or any other error, which the command line prints (1).
package cli
