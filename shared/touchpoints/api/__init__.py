"""HTTP glue shared by the functions: resolvers, error envelopes, caller checks."""
