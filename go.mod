module dtmfgw

go 1.26

require (
	github.com/emiago/sipgo v1.7.3
	github.com/gopacket/gopacket v1.7.7
	github.com/pion/rtcp v1.2.17
	github.com/pion/rtp v1.10.5
	github.com/pion/sdp/v3 v3.0.19
	github.com/stripe/stripe-go/v85 v85.0.0
	go.yaml.in/yaml/v3 v3.0.4
	golang.org/x/sys v0.45.0
)

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/pool v0.2.1 // indirect
	github.com/gobwas/ws v1.3.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/icholy/digest v1.2.0 // indirect
	github.com/kr/text v0.2.0 // indirect
	github.com/pion/randutil v0.1.0 // indirect
	golang.org/x/net v0.55.0 // indirect
	golang.org/x/sync v0.16.0 // indirect
)
