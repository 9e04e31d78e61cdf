"""The clinic's use cases (service layer): each one a transaction, audited, on the database."""
