package gateway

import "syscall"

// disableCoreDumps sets the process's core file size limit to zero: a core
// dump taken while a payment is open would write the digits in its capture
// buffers to a file. The systemd unit says the same (LimitCORE=0); this
// holds wherever dtmfgw is started.
func disableCoreDumps() error {
	return syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{Cur: 0, Max: 0})
}
