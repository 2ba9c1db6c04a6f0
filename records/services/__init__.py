"""The records service's rules, apart from HTTP: accounts, roster, leave, screening, cases."""
