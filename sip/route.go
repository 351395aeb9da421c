package sip

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"

	"dtmfgw/payment"
)

// ErrNoRoute is returned by Router.Route when no rule matched, no override
// was honoured and no default target is configured. The caller answers it
// (404 Not Found or 480 Temporarily Unavailable, RFC 3261 §21.4.5, §21.4.18).
var ErrNoRoute = errors.New("no route for the call")

// RouteRule is one routing rule of the config: a match on the Request-URI
// user or on a header, and the target a matching INVITE is bridged to.
// Exactly one of User, UserPrefix, UserRegexp and Header must be set; Header
// needs HeaderRegexp.
//
// Regular expressions use Go's RE2 syntax (linear time whatever the input)
// and are unanchored, as in grep: write "^1234$" to match "1234" alone.
type RouteRule struct {
	// Name identifies the rule in logs; "routes[N]" when empty.
	Name string `yaml:"name"`
	// User matches a Request-URI user equal to it (after percent-decoding,
	// RFC 3261 §19.1.2, so "+44..." matches "%2B44...").
	User string `yaml:"user"`
	// UserPrefix matches a Request-URI user that starts with it.
	UserPrefix string `yaml:"user_prefix"`
	// UserRegexp matches a Request-URI user it matches.
	UserRegexp string `yaml:"user_regexp"`
	// Header names a header whose first instance's value HeaderRegexp must
	// match. An absent or invalid header matches nothing.
	Header string `yaml:"header"`
	// HeaderRegexp is matched against Header's value.
	HeaderRegexp string `yaml:"header_regexp"`
	// Target is the sip: or sips: URI matching calls are bridged to.
	Target string `yaml:"target"`
}

// RouteSource says which step of Router.Route chose the target.
type RouteSource int

// The steps of Router.Route, in the order they are tried.
const (
	RouteNone         RouteSource = iota // no route (ErrNoRoute)
	RouteFromRule                        // a configured rule matched (Route.Rule names it)
	RouteFromOverride                    // the override header of a trusted peer
	RouteFromDefault                     // the default target
)

// String names the source for logs: "none", "rule", "override", "default".
func (s RouteSource) String() string {
	switch s {
	case RouteFromRule:
		return "rule"
	case RouteFromOverride:
		return "override"
	case RouteFromDefault:
		return "default"
	}
	return "none"
}

// Route is the outcome of Router.Route, for bridging and for the log line.
type Route struct {
	// Target is the URI to bridge to; zero when Source is RouteNone.
	Target sipmsg.Uri
	// Source is the step that chose Target.
	Source RouteSource
	// Rule names the matching rule (its Name, else "routes[N]"), or
	// "override" or "default"; empty when no route was found.
	Rule string
	// OverrideIgnored says why an override header present in the request
	// was not honoured ("untrusted peer", "not a SIP URI: ..."), or is empty.
	// It never contains the header's value.
	OverrideIgnored string
}

// rule is a RouteRule ready to match.
type rule struct {
	name   string
	user   string
	prefix string
	re     *regexp.Regexp // user_regexp or header_regexp
	header string
	kind   matchKind
	target sipmsg.Uri
}

type matchKind int

const (
	matchUser matchKind = iota
	matchPrefix
	matchUserRegexp
	matchHeader
)

// Router chooses the target of an inbound INVITE: the
// first configured rule that matches, else the override header when the
// peer is trusted for it and its value is a valid target, else the default
// target, else ErrNoRoute. A Router is immutable and safe for concurrent use.
type Router struct {
	rules          []rule
	overrideHeader string
	overrideACL    *ACL
	defaultTarget  *sipmsg.Uri
}

// NewRouter builds the Router of a config: its routes, override_header,
// override_acl (or acl when that is empty) and default_target. Errors name
// the config key, as Config.Validate does.
func NewRouter(c Config) (*Router, error) {
	r := &Router{}
	var errs []error
	for i, rr := range c.Routes {
		ru, err := compileRule(fmt.Sprintf("sip.routes[%d]", i), rr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ru.name == "" {
			ru.name = "routes[" + strconv.Itoa(i) + "]"
		}
		r.rules = append(r.rules, ru)
	}
	if c.OverrideHeader != "" {
		if err := ValidateHeaderName(c.OverrideHeader); err != nil {
			errs = append(errs, fmt.Errorf("sip.override_header: %w", err))
		} else if isLegHeader(c.OverrideHeader) {
			errs = append(errs, fmt.Errorf("sip.override_header: %w", ErrLegHeader))
		}
		r.overrideHeader = c.OverrideHeader
		key, entries := "sip.override_acl", c.OverrideACL
		if len(entries) == 0 {
			key, entries = "sip.acl", c.ACL
		}
		acl, err := parseACL(key, entries)
		if err != nil {
			errs = append(errs, err)
		}
		r.overrideACL = acl
	}
	if c.DefaultTarget != "" {
		u, err := ParseTarget(c.DefaultTarget)
		if err != nil {
			errs = append(errs, fmt.Errorf("sip.default_target: %w", err))
		}
		r.defaultTarget = &u
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// compileRule checks one rule and compiles its regexp; key is its config key.
func compileRule(key string, rr RouteRule) (rule, error) {
	ru := rule{name: rr.Name}
	var errs []error
	set := 0
	for _, s := range []string{rr.User, rr.UserPrefix, rr.UserRegexp, rr.Header} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		errs = append(errs, fmt.Errorf("%s: set exactly one of user, user_prefix, user_regexp, header", key))
	}
	if rr.HeaderRegexp != "" && rr.Header == "" {
		errs = append(errs, fmt.Errorf("%s.header_regexp: needs header", key))
	}
	if payment.HoldsCardNumber(rr.Name) {
		// The name is logged with every call the rule routes.
		errs = append(errs, fmt.Errorf("%s.name: holds what looks like a card number", key))
	} else if reason := checkValue(rr.Name, MaxHeaderNameLen); reason != "" {
		errs = append(errs, fmt.Errorf("%s.name: %s", key, reason))
	}
	switch {
	case rr.User != "":
		ru.kind, ru.user = matchUser, rr.User
	case rr.UserPrefix != "":
		ru.kind, ru.prefix = matchPrefix, rr.UserPrefix
	case rr.UserRegexp != "":
		ru.kind = matchUserRegexp
		re, err := regexp.Compile(rr.UserRegexp)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.user_regexp: %w", key, err))
		}
		ru.re = re
	case rr.Header != "":
		ru.kind, ru.header = matchHeader, rr.Header
		if err := ValidateHeaderName(rr.Header); err != nil {
			errs = append(errs, fmt.Errorf("%s.header: %w", key, err))
		}
		if rr.HeaderRegexp == "" {
			errs = append(errs, fmt.Errorf("%s.header_regexp: required with header", key))
		} else {
			re, err := regexp.Compile(rr.HeaderRegexp)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.header_regexp: %w", key, err))
			}
			ru.re = re
		}
	}
	if rr.Target == "" {
		errs = append(errs, fmt.Errorf("%s.target: required", key))
	} else {
		u, err := ParseTarget(rr.Target)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s.target: %w", key, err))
		}
		ru.target = u
	}
	return ru, errors.Join(errs...)
}

// matches reports whether the rule matches req, whose Request-URI user
// (decoded) is user.
func (ru *rule) matches(req *sipmsg.Request, user string) bool {
	switch ru.kind {
	case matchUser:
		return user != "" && user == ru.user
	case matchPrefix:
		return user != "" && strings.HasPrefix(user, ru.prefix)
	case matchUserRegexp:
		return user != "" && ru.re.MatchString(user)
	case matchHeader:
		h := req.GetHeader(ru.header)
		if h == nil {
			return false
		}
		v := h.Value()
		// An invalid value is never matched: routing on it would make a
		// decision from bytes we refuse to copy or log.
		if ValidateHeaderValue(ru.header, v) != nil {
			return false
		}
		return ru.re.MatchString(v)
	}
	return false
}

// Route chooses the target of the inbound INVITE req, which arrived from
// src (see SourceAddr). Rules are tried in config order and the first match
// wins; then the override header, honoured only when src is in the override
// ACL and the header's first instance is a valid target (ParseTarget); then
// the default target. When nothing applies it returns a Route with Source
// RouteNone and ErrNoRoute. Route.OverrideIgnored explains an override that
// was present but not honoured, for the log line.
func (r *Router) Route(req *sipmsg.Request, src netip.Addr) (Route, error) {
	user := URIUser(&req.Recipient)
	if !userOK(user) {
		user = ""
	}
	for i := range r.rules {
		if r.rules[i].matches(req, user) {
			return Route{Target: *r.rules[i].target.Clone(), Source: RouteFromRule, Rule: r.rules[i].name}, nil
		}
	}
	var ignored string
	if r.overrideHeader != "" {
		if hs := req.GetHeaders(r.overrideHeader); len(hs) > 0 {
			switch {
			case !r.overrideACL.Allows(src):
				ignored = "untrusted peer"
			case len(hs) > 1:
				// Two targets: honouring either would be a guess.
				ignored = "header repeated"
			default:
				u, err := ParseTarget(hs[0].Value())
				if err == nil {
					return Route{Target: u, Source: RouteFromOverride, Rule: "override"}, nil
				}
				ignored = err.Error()
			}
		}
	}
	if r.defaultTarget != nil {
		return Route{Target: *r.defaultTarget.Clone(), Source: RouteFromDefault, Rule: "default", OverrideIgnored: ignored}, nil
	}
	return Route{OverrideIgnored: ignored}, ErrNoRoute
}

// userOK reports whether a decoded Request-URI user may be matched: not
// empty, and a valid header value (no control characters, bounded), so no
// rule ever sees bytes we would refuse to log.
func userOK(user string) bool {
	return user != "" && checkValue(user, MaxHeaderValueLen) == ""
}
