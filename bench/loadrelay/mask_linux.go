package main

import (
	"errors"

	"dtmfgw/media"
)

// errNoPipeline: the masking pipeline is not in the tree yet.
var errNoPipeline = errors.New("the masking pipeline (media.NewPipeline) is not available yet")

// maskAvailable says whether relay+mask can run.
const maskAvailable = false

// pressSink stands in for session: it takes every call's presses.
type pressSink struct{}

func newPressSink() *pressSink { return &pressSink{} }

func (s *pressSink) close() {}

// newMask returns the masking pipeline writing to the agent leg.
func newMask(agent *media.Leg, presses *pressSink) (media.PacketHandler, media.TickHandler, error) {
	return nil, nil, errNoPipeline
}
