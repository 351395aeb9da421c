package processor

import (
	"context"
	"fmt"
	"time"

	"github.com/stripe/stripe-go/v85"
)

// Saving a card with Stripe instead of charging it (Request.Tokenize): a
// Customer and a confirmed off-session SetupIntent that attaches the
// card's PaymentMethod to it (https://docs.stripe.com/payments/save-and-reuse).

// save attaches the card's PaymentMethod pmID to a new Customer with a
// confirmed SetupIntent: a card saved, nothing charged. A deadline or a
// lost answer for the Customer is Failed (nothing is saved without the
// SetupIntent); for the SetupIntent, Unknown.
func (s *Stripe) save(ctx context.Context, req *Request, pmID string, start time.Time) (Result, error) {
	cp := &stripe.CustomerCreateParams{}
	cp.AddMetadata(MetadataIdempotencyKey, req.IdempotencyKey)
	if req.Reference != "" {
		cp.Description = stripe.String(req.Reference)
		cp.AddMetadata(MetadataReference, req.Reference)
	}
	if req.CardholderName != "" {
		cp.Name = stripe.String(req.CardholderName)
	}
	cp.SetIdempotencyKey(req.IdempotencyKey + ":cus")
	cus, err := s.client.V1Customers.Create(ctx, cp)
	if err != nil {
		res, err := s.errorResult(ctx, stageCustomer, err)
		if res.Status == Unknown {
			res.Status, res.Message = Failed, "the processor did not answer; nothing was saved"
		}
		s.logCharge(req.IdempotencyKey, stageCustomer, res, err, start)
		return res, err
	}
	sp := &stripe.SetupIntentCreateParams{
		Customer:           stripe.String(cus.ID),
		PaymentMethod:      stripe.String(pmID),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
		Confirm:            stripe.Bool(true),
		Usage:              stripe.String(string(stripe.SetupIntentUsageOffSession)),
	}
	sp.AddMetadata(MetadataIdempotencyKey, req.IdempotencyKey)
	if req.Reference != "" {
		sp.Description = stripe.String(req.Reference)
		sp.AddMetadata(MetadataReference, req.Reference)
	}
	if s.moto {
		sp.PaymentMethodOptions = &stripe.SetupIntentCreatePaymentMethodOptionsParams{
			Card: &stripe.SetupIntentCreatePaymentMethodOptionsCardParams{MOTO: stripe.Bool(true)},
		}
	}
	sp.SetIdempotencyKey(req.IdempotencyKey + ":si")
	si, err := s.client.V1SetupIntents.Create(ctx, sp)
	return s.finish(ctx, req.IdempotencyKey, stageSetupIntent, start, err, func() Result { return setupResult(si) })
}

// setupResult reads a SetupIntent's status
// (https://docs.stripe.com/payments/setupintents/lifecycle): succeeded is
// a card saved, its PaymentMethod the token.
func setupResult(si *stripe.SetupIntent) Result {
	res := Result{Reference: safeID(si.ID)}
	switch si.Status {
	case stripe.SetupIntentStatusSucceeded:
		res.Status, res.Message = Approved, "card saved"
		if si.PaymentMethod != nil {
			res.Token = safeID(si.PaymentMethod.ID)
		}
		if res.Token == "" {
			res.Status, res.Message = Unknown, "the card was saved but the processor named no token; it will be reconciled"
		}
	case stripe.SetupIntentStatusRequiresPaymentMethod:
		declined(&res, si.LastSetupError)
	case stripe.SetupIntentStatusRequiresAction:
		authenticationRequired(&res)
	case stripe.SetupIntentStatusCanceled, stripe.SetupIntentStatusRequiresConfirmation:
		res.Status, res.Message = Failed, "the card was not saved"
	default: // processing, or a status this client does not know
		res.Status, res.Message = Unknown, "the card is still being saved; it will be reconciled"
	}
	return res
}

// searchSaved finds the card saved under the key: the Customer whose
// metadata holds it, then that Customer's SetupIntent.
func (s *Stripe) searchSaved(ctx context.Context, key string) (Result, error) {
	params := &stripe.CustomerSearchParams{SearchParams: stripe.SearchParams{
		Query:  fmt.Sprintf("metadata['%s']:'%s'", MetadataIdempotencyKey, key),
		Limit:  stripe.Int64(10),
		Single: true,
	}}
	for cus, err := range s.client.V1Customers.Search(ctx, params).All(ctx) {
		if err != nil {
			return Result{Status: Unknown}, err
		}
		if cus == nil || cus.Metadata[MetadataIdempotencyKey] != key {
			continue
		}
		lp := &stripe.SetupIntentListParams{Customer: stripe.String(cus.ID)}
		lp.Limit = stripe.Int64(10)
		lp.Single = true
		for si, err := range s.client.V1SetupIntents.List(ctx, lp).All(ctx) {
			if err != nil {
				return Result{Status: Unknown}, err
			}
			if si == nil || si.Metadata[MetadataIdempotencyKey] != key {
				continue
			}
			res := setupResult(si)
			if res.Reference != "" {
				s.remember(key, res.Reference)
			}
			return res, nil
		}
	}
	return Result{Status: Unknown, Message: "the processor has no charge or saved card under this key (yet)"},
		fmt.Errorf("%w (processor %s; Stripe's search may lag by a minute)", ErrNotFound, s.name)
}
