//go:build !linux

// Command sipload is dtmfgw's SIP load benchmark; it runs on Linux only
// (SIPp's raw-socket RTP, getrusage's RSS in kilobytes).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "sipload: Linux only")
	os.Exit(1)
}
