//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "loadrelay: Linux only (sendmmsg, recvmmsg, /proc)")
	os.Exit(2)
}
