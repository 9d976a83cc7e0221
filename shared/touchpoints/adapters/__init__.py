"""The only code that talks to AWS. Each adapter turns SDK errors into domain errors."""
