module dtmfgw

go 1.26

require (
	github.com/gopacket/gopacket v1.7.7 // indirect
	github.com/pion/randutil v0.1.0 // indirect
	github.com/pion/rtp v1.10.6 // indirect
	github.com/pion/sdp/v3 v3.0.20 // indirect
)
