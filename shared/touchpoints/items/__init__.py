"""The stored items, one module each: every attribute's name, who writes it, and how nested values are encoded.

Every reader and writer names attributes from here (adapters in DynamoDB's typed JSON, the
classifier on deserialized stream images), so a writer adding an attribute cannot break a
reader that guessed at it. `tests/integration/test_compliance_on_real_profiles.py` checks
that a profile, as every writer leaves it, holds only attributes declared here.

- `profile`: SUBJECT#<id> / PROFILE, one per person (ingestion, classifier, compliance, eraser)
- `event`: SUBJECT#<id> / EVENT#<keyed digest>, one per touchpoint, what it was sealed under the subject's key
- `consent`: SUBJECT#<id> / CONSENT#<keyed digest>, the history of consent answers, sealed likewise
- `token`: TOKEN#<token> / TOKEN, which subject an identifier belongs to, or a suppression marker (identity index;
  suppression markers also in the profile table, the backed-up suppression list)
- `link`: SUBJECT#<id> / LINK#<token>, one per identifier a subject holds (identity index, listed by query)
- `identity_log`: IDENTITY#<day> / <kind>#<at>#<id>, a merge or an identity conflict, for review
- `contact`: SUBJECT#<id> / CONTACTS, a person's contact counter; CONTACT_CAPS / <day>#<channel>#<campaign>, cap hits
- `request`: REQUEST#<id> / REQUEST in the compliance table, one per data-subject request
- `audit`: REQUEST#<id> / <at>#<random> in the audit table, one per action on a request (append-only)
- `vault`: SUBJECT#<id> in the key vault, the subject's data key wrapped under a branch key (deleted to erase the
  subject)
- `branch_key`: the branch key table's versions, active pointer and rotation record (keys that wrap data keys)
"""
