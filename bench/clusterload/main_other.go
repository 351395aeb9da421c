//go:build !linux

// Command clusterload is dtmfgw's cluster load benchmark; it runs on
// Linux only (SIPp's raw-socket RTP, Kamailio from Debian, /proc).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "clusterload: Linux only")
	os.Exit(1)
}
