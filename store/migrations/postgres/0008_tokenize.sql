-- A payment may save the card for later charges instead of charging it
-- (intent 'tokenize', amount zero): its result is the processor's
-- reusable token, an id that names the card at the processor, never card
-- data.

ALTER TABLE payments ADD COLUMN intent TEXT NOT NULL DEFAULT 'charge'
    CHECK (intent IN ('charge', 'tokenize'));
ALTER TABLE payments ADD COLUMN token TEXT NOT NULL DEFAULT '';
