package metrics

import "net"

// listen opens the admin listener's TCP socket.
func listen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
