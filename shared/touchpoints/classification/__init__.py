"""Profile classification: which of Identity, Contactability and Traceability a profile holds,
its state (A-G, U), freshness, and the programs that would move it toward A.

Nothing is re-exported here: a channel function needs only `rules`, and importing the package must not
bring the classifier's service into its cold start. Import from the module that defines a name."""
