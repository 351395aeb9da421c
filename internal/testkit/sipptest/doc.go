// Package sipptest is the integration harness that drives real SIP peers on
// loopback against dtmfgw: SIPp (Debian package sip-tester) as caller and as
// agent, baresip as a softphone, and a Go media recorder standing in for the
// agent's media so that what reaches the agent can be searched for key
// presses (package leakcheck).
//
// The pieces:
//
//   - Scenario: the SIPp XML scenarios, embedded (scenarios/*.xml), one per
//     call flow: a caller playing RTP from a pcap, CANCEL while ringing,
//     SIP INFO DTMF, hold and unhold, a malformed offer, refusals (403,
//     486, 488), an agent that answers, rings, hangs up or is busy, and a
//     lean pair for load runs. Each file says what it does and which RFC
//     rules it follows; they run as they are with sipp -sf.
//   - Run and Start: run sipp with a scenario on loopback addresses, bounded
//     by a context and by SIPp's own -timeout, and report its exit status,
//     its successful and failed calls (from the -trace_stat CSV) and an
//     excerpt of its error log (Result).
//   - CallerRTP: the caller's RTP as a pcap for SIPp's play_pcap_audio, made
//     at test time: keys as RFC 4733 events, as in-band G.711 tones, or
//     both, between G.711 silence.
//   - Recorder: a UDP socket on 127.0.0.1 that keeps the RTP it receives,
//     bounded, and reports the key presses found in it.
//   - RunLoad: a load run, SIPp's uac_load against uas_load through a
//     gateway the caller starts once it knows the agent's address, with
//     the RTP the agent receives counted (LoadResult).
//   - Baresip: baresip started headless with a generated configuration,
//     driven through its ctrl_tcp module (netstring-framed JSON): dial,
//     send RFC 4733 digits, hang up, wait for call events.
//
// Every external program is looked up first and a missing one fails the
// test with the Debian package to install (make deps): an integration test
// that skips proves nothing. Every process gets a bounded lifetime and is
// killed on cleanup. Every service listens on 127.0.0.x only; the one
// exception is baresip's DNS client, which opens two unconnected UDP
// sockets on ephemeral wildcard ports that no setting moves (it resolves
// nothing: the harness dials IP addresses).
//
// A scenario runs by hand as Run runs it, from a directory holding
// caller.pcap when it plays one:
//
//	sipp 127.0.0.1:5060 -sf uac_call.xml -i 127.0.0.1 -p 5070 -bind_local \
//	    -mi 127.0.0.1 -mp 6000 -s agent -m 1 -d 4000
//	sipp -sf uas_answer.xml -i 127.0.0.1 -p 5080 -bind_local -mp 6010 \
//	    -key rtp_ip 127.0.0.1 -key rtp_port 7000 -m 1
//
// What the harness had to learn about its peers (SIPp 3.6.1 and baresip
// 1.0.0 as Debian 12 ships them):
//
//   - play_pcap_audio sends through a raw socket: the tests that play RTP
//     need root or CAP_NET_RAW (make test runs as root; Run says so
//     otherwise). It keeps each UDP payload as written — SSRC, sequence
//     numbers, timestamps, payload types, marker bits — and rewrites only
//     addresses and ports: from -mi:-mp to the c=/m= of the last SDP
//     received, paced by the capture times. It reads the file when the
//     scenario loads (Ethernet or Linux cooked captures only).
//   - SIPp binds -mp and -mp+2 (audio and video) in every role and exits
//     254 if either is taken, and a UDP control socket on 0.0.0.0:8888
//     unless -ci/-cp say otherwise; Run picks free ports for all three.
//     All the calls of one SIPp share its -mp, and all the calls of an
//     agent share one rtp_port.
//   - A response's status code cannot come from a [keyword] (SIPp checks it
//     at load): UASReject rewrites the scenario instead.
//   - Scenario variables: an ereg that does not match leaves the variable's
//     old value (reset it with <assign value="0"/> before each offer);
//     every variable must be used at least twice, and an ereg needs one
//     (a <log> uses a variable that only checks); numbers print as
//     "2.000000" (the o= version comes from the CSeq instead); character
//     references such as &#13; are not decoded, so SDP lines that depend
//     on the offer come from alternative <send>s. [branch-N] names the
//     branch of the element N back, labels not counted.
//   - baresip listens for SIP over TLS on the SIP port + 1 and has no
//     setting to stop it; when ctrl_tcp cannot bind its port it carries on
//     without it, so the harness checks that the listening socket is
//     baresip's own. ausine runs only at 48 kHz; aufile plays its file once
//     and then the source stops, and telephone-events only leave with the
//     audio, so the silent microphone file lasts as long as baresip may.
//     net_interface takes an address ("lo" is not found).
//   - baresip's "sndcode" queues the keys and returns at once; each key
//     lasts at least nine 20 ms packets plus three end packets (libre's
//     telev), about 240 ms. baresip logs every key it sends: Log masks them.
package sipptest
