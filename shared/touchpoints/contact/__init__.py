"""Contact decisions: may this person be contacted now, on this channel, for this purpose; and the
outbound contacts channels record, counted against the contact policy (policies/contact.yaml)."""
