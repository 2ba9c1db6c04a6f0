"""Who may do what: password hashing, access tokens, roles and their scope."""
